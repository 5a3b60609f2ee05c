#!/usr/bin/env python3
"""Writes the bundled stitching demo stations data/demo/stitch_station{1,2,3}.dcm and
data/demo/stitch_truth.json.

No multi-station (full-spine / long-leg) acquisition is freely available offline, so the stations are
cut from the bundled real CR radiograph data/demo/cr_chest.dcm (pydicom-data RG1_UNCR, reduced 4x):
three 440x200 stations with 80-px overlaps, sub-pixel shifts, small in-plane rotations, exposure gains
and Gaussian noise, with the truth written beside them. Same conventions as radpipe's
src/stitch/simulate.rs: station pixel s lands on the truth image at origin + c + R(angle)(s - c),
c the station centre; values = bilinear(truth) * gain + N(0, noise), rounded, clipped to 15 bits.

Geometry written into each station (the source has none: its PixelSpacing is 0\\0): PixelSpacing
0.4\\0.4 mm (an assumption, stated in data/demo/SOURCES.md), ImageOrientationPatient from the
rotation, ImagePositionPatient = the truth position of the station's pixel (0,0) times the spacing.
All other attributes are the source's; each station gets a new SOP Instance UID and a Series
Description saying it is simulated.

Run: .venv/bin/python scripts/make_stitch_fixtures.py   (pydicom 3.0.2, numpy < 2)
"""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "data/demo/cr_chest.dcm"
OUT = ROOT / "data/demo"
SPACING = 0.4
NOISE = 8.0
SEED = 20261129
STATIONS = [
    # origin (x, y) in truth pixels, angle in degrees, gain
    {"origin": [5.0, 0.0], "angle_deg": 0.0, "gain": 1.0},
    {"origin": [12.3, 120.4], "angle_deg": 0.3, "gain": 1.12},
    {"origin": [8.6, 240.7], "angle_deg": -0.2, "gain": 0.9},
]
WIDTH, HEIGHT = 440, 200


def bilinear(img, x, y):
    h, w = img.shape
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    tx = x - x0
    ty = y - y0
    top = img[y0, x0] + tx * (img[y0, x1] - img[y0, x0])
    bottom = img[y1, x0] + tx * (img[y1, x1] - img[y1, x0])
    return top + ty * (bottom - top)


def main():
    src = pydicom.dcmread(SOURCE)
    truth = src.pixel_array.astype(np.float64)
    rng = np.random.default_rng(SEED)
    cx, cy = (WIDTH - 1) / 2.0, (HEIGHT - 1) / 2.0
    sx, sy = np.meshgrid(np.arange(WIDTH, dtype=np.float64), np.arange(HEIGHT, dtype=np.float64))
    manifest = {
        "source": "data/demo/cr_chest.dcm",
        "convention": "station pixel s -> truth origin + c + R(angle)(s - c), c = station centre",
        "pixel_spacing_mm": SPACING,
        "noise_sigma": NOISE,
        "seed": SEED,
        "numpy": np.__version__,
        "pydicom": pydicom.__version__,
        "stations": [],
    }
    for k, st in enumerate(STATIONS, start=1):
        a = math.radians(st["angle_deg"])
        ca, sa = math.cos(a), math.sin(a)
        dx, dy = sx - cx, sy - cy
        tx = st["origin"][0] + cx + ca * dx - sa * dy
        ty = st["origin"][1] + cy + sa * dx + ca * dy
        v = bilinear(truth, tx, ty) * st["gain"] + rng.normal(0.0, NOISE, tx.shape)
        pixels = np.clip(np.round(v), 0, 2**15 - 1).astype(np.uint16)
        # Truth position of pixel (0, 0).
        ox = st["origin"][0] + cx + ca * (-cx) - sa * (-cy)
        oy = st["origin"][1] + cy + sa * (-cx) + ca * (-cy)
        ds = src.copy()
        ds.Rows, ds.Columns = HEIGHT, WIDTH
        ds.PixelData = pixels.tobytes()
        ds.PixelSpacing = [SPACING, SPACING]
        ds.ImagePositionPatient = [round(ox * SPACING, 6), round(oy * SPACING, 6), 0.0]
        ds.ImageOrientationPatient = [round(ca, 9), round(sa, 9), 0.0, round(-sa, 9), round(ca, 9), 0.0]
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesDescription = f"radpipe simulated stitching station {k} of {len(STATIONS)}"
        ds.ImageComments = (
            f"Simulated station cut from RG1_UNCR (pydicom-data), origin {st['origin']}, "
            f"angle {st['angle_deg']} deg, gain {st['gain']}, noise {NOISE}"
        )
        if "DataSetTrailingPadding" in ds:
            del ds.DataSetTrailingPadding
        path = OUT / f"stitch_station{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        data = path.read_bytes()
        manifest["stations"].append(
            {
                "file": path.name,
                **st,
                "width": WIDTH,
                "height": HEIGHT,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        print(path, len(data))
    (OUT / "stitch_truth.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
