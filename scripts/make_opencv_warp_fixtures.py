#!/usr/bin/env python3
"""Make the OpenCV reference outputs for radpipe's warp/resize/rotate/crop parity tests.

What it writes (relative to the repository root), all under ``tests/fixtures/opencv_warp/``
--------------------------------------------------------------------------------------------
* ``cr_u16.png`` / ``cr_u8.png`` - a real radiograph: the centre 400x320 of
  ``tests/data/dicom/cr_mono1.dcm`` (15-bit CR, read with pydicom), averaged over
  2x2 blocks to 200x160 (16-bit), and the same min-max scaled to 8 bits.
* ``noise_u16.png`` / ``noise_u8.png`` - 61x47 uniform random noise (seeded),
  the worst case for interpolation (every pixel is an edge).
* ``<case>.png`` - what cv2 produces for each case (16-bit or 8-bit like its input).
* ``manifest.json`` - every case: the op, input file, parameters (matrices as the
  float64 values cv2 used, serialised with Python's round-trip repr), border
  mode and value, output size and output file; plus the cv2, numpy, pydicom and
  Python versions and whether cv2 ran with Intel IPP.

The ops, all with ``INTER_LINEAR`` unless stated:
* ``warp``   - cv2.warpAffine with a rotation+scale+sub-pixel-shift matrix, both as
  a source->destination matrix and with ``WARP_INVERSE_MAP``; each border mode.
* ``rotate`` - cv2.getRotationMatrix2D(center, angle, scale) then cv2.warpAffine;
  each border mode. The test rebuilds the matrix with radpipe's own
  ``rotation_matrix`` and checks it equals cv2's.
* ``persp``  - cv2.warpPerspective with a homography; each border mode.
* ``crop``   - a rotated-ROI crop: getRotationMatrix2D about the ROI centre with
  the centre moved to ((w-1)/2, (h-1)/2), then cv2.warpAffine to the ROI size.
* ``resize`` - cv2.resize INTER_LINEAR (enlarge, shrink, exact 2x, mixed) and
  INTER_AREA (non-integer and integer factors).

Border modes: BORDER_CONSTANT (value 1234 for 16-bit, 77 for 8-bit),
BORDER_REPLICATE, BORDER_REFLECT_101.

How to rerun
------------
From the repository root::

    python3 -m venv .venv && .venv/bin/pip install pydicom==3.0.2 "numpy<2" \
        opencv-python-headless
    .venv/bin/python scripts/make_opencv_warp_fixtures.py

The script is deterministic (fixed seed, no timestamps) and rewrites its own
outputs, removing stale PNGs in the fixture folder. Every PNG written is read
back with cv2 and compared with the array it came from.
"""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import pydicom

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "opencv_warp"
CR = ROOT / "tests" / "data" / "dicom" / "cr_mono1.dcm"

BORDERS = {
    "constant": cv2.BORDER_CONSTANT,
    "replicate": cv2.BORDER_REPLICATE,
    "reflect101": cv2.BORDER_REFLECT_101,
}
BORDER_VALUE = {"u8": 77.0, "u16": 1234.0}


def write_png(path: Path, img: np.ndarray) -> None:
    if not cv2.imwrite(str(path), img):
        raise SystemExit(f"cannot write {path}")
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if back is None or back.dtype != img.dtype or not np.array_equal(back, img):
        raise SystemExit(f"{path}: PNG round trip changed the pixels")


def inputs() -> dict[str, np.ndarray]:
    ds = pydicom.dcmread(str(CR))
    a = ds.pixel_array.astype(np.float64)
    h, w = a.shape
    y0, x0 = (h - 320) // 2, (w - 400) // 2
    crop = a[y0 : y0 + 320, x0 : x0 + 400]
    cr16 = np.rint(crop.reshape(160, 2, 200, 2).mean(axis=(1, 3))).astype(np.uint16)
    lo, hi = float(cr16.min()), float(cr16.max())
    cr8 = np.rint((cr16.astype(np.float64) - lo) * 255.0 / (hi - lo)).astype(np.uint8)
    rng = np.random.default_rng(20240613)
    noise16 = rng.integers(0, 65536, size=(47, 61), dtype=np.uint16)
    noise8 = rng.integers(0, 256, size=(47, 61), dtype=np.uint8)
    return {"cr_u16": cr16, "cr_u8": cr8, "noise_u16": noise16, "noise_u8": noise8}


def matrix_list(m: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in np.asarray(m, dtype=np.float64)]


def cases_for(name: str, img: np.ndarray) -> list[dict]:
    h, w = img.shape
    depth = name.rsplit("_", 1)[1]
    out: list[dict] = []

    def add(case: dict, result: np.ndarray) -> None:
        case["input"] = f"{name}.png"
        case["output"] = f"{case['name']}.png"
        case["size"] = [int(result.shape[1]), int(result.shape[0])]
        assert result.dtype == img.dtype
        out.append((case, result))

    # warp: rotation 17 deg, scale 1.13, sub-pixel shift, about an off-centre point.
    fwd = cv2.getRotationMatrix2D((w * 0.43, h * 0.57), 17.0, 1.13)
    fwd[:, 2] += (0.3125 + 0.7, -1.4)
    dsize = (w + 7, h - 5)
    for bname, border in BORDERS.items():
        bval = BORDER_VALUE[depth]
        r = cv2.warpAffine(img, fwd, dsize, flags=cv2.INTER_LINEAR, borderMode=border,
                           borderValue=bval)
        add({"name": f"{name}.warp.{bname}", "op": "warp", "matrix": matrix_list(fwd),
             "inverse": False, "border": bname, "border_value": bval}, r)
    inv = np.array([[0.91, -0.27, 6.25], [0.31, 1.07, -3.5]])
    r = cv2.warpAffine(img, inv, (w - 3, h + 4), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_REPLICATE)
    add({"name": f"{name}.warp_inverse.replicate", "op": "warp", "matrix": matrix_list(inv),
         "inverse": True, "border": "replicate", "border_value": 0.0}, r)

    # rotate: getRotationMatrix2D about a non-integer centre.
    center, angle, scale = (w / 2.0 - 0.5, h / 2.0 + 0.25), -33.0, 0.87
    rot = cv2.getRotationMatrix2D(center, angle, scale)
    for bname, border in BORDERS.items():
        bval = BORDER_VALUE[depth]
        r = cv2.warpAffine(img, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=border,
                           borderValue=bval)
        add({"name": f"{name}.rotate.{bname}", "op": "rotate", "center": list(center),
             "angle": angle, "scale": scale, "matrix": matrix_list(rot), "border": bname,
             "border_value": bval}, r)

    # perspective: a mild keystone, as from a tilted tube.
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    dst = np.float32([[3.5, 2.25], [w - 6.0, 0.5], [w + 2.0, h - 1.75], [-1.5, h + 1.0]])
    hom = cv2.getPerspectiveTransform(src, dst)
    for bname, border in BORDERS.items():
        bval = BORDER_VALUE[depth]
        r = cv2.warpPerspective(img, hom, (w + 2, h + 1), flags=cv2.INTER_LINEAR,
                                borderMode=border, borderValue=bval)
        add({"name": f"{name}.persp.{bname}", "op": "persp", "matrix": matrix_list(hom),
             "inverse": False, "border": bname, "border_value": bval}, r)

    # crop: a rotated ROI made upright.
    roi_c, roi_size, roi_angle = (w * 0.55, h * 0.45), (int(w * 0.5) | 1, int(h * 0.4)), 23.5
    crop_m = cv2.getRotationMatrix2D(roi_c, roi_angle, 1.0)
    crop_m[0, 2] += (roi_size[0] - 1) / 2.0 - roi_c[0]
    crop_m[1, 2] += (roi_size[1] - 1) / 2.0 - roi_c[1]
    r = cv2.warpAffine(img, crop_m, roi_size, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    add({"name": f"{name}.crop", "op": "crop", "center": list(roi_c), "angle": roi_angle,
         "matrix": matrix_list(crop_m), "border": "constant", "border_value": 0.0}, r)

    # resize.
    for tag, size, interp in [
        ("up", (int(w * 1.37), int(h * 1.29)), "linear"),
        ("down", (int(w * 0.61), int(h * 0.67)), "linear"),
        ("half", (w // 2, h // 2) if w % 2 == 0 and h % 2 == 0 else (w * 2, h * 2), "linear"),
        ("mixed", (int(w * 0.8), int(h * 1.5)), "linear"),
        ("area", (int(w * 0.37), int(h * 0.41)), "area"),
        ("area_int", (w // 4, h // 4) if w % 4 == 0 and h % 4 == 0 else (w // 3, h // 3), "area"),
    ]:
        flag = cv2.INTER_LINEAR if interp == "linear" else cv2.INTER_AREA
        r = cv2.resize(img, size, interpolation=flag)
        add({"name": f"{name}.resize_{tag}", "op": "resize", "mode": interp}, r)
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*.png"):
        stale.unlink()
    imgs = inputs()
    manifest = {
        "generator": "scripts/make_opencv_warp_fixtures.py",
        "versions": {
            "cv2": cv2.__version__,
            "opencv-python-headless": metadata.version("opencv-python-headless"),
            "numpy": np.__version__,
            "pydicom": pydicom.__version__,
            "python": sys.version.split()[0],
            "platform": platform.machine(),
        },
        "ipp": bool(cv2.ipp.useIPP()),
        "source": "tests/data/dicom/cr_mono1.dcm (centre 400x320, 2x2 mean) and seeded noise",
        "cases": [],
    }
    for name, img in imgs.items():
        write_png(OUT / f"{name}.png", img)
        for case, result in cases_for(name, img):
            write_png(OUT / case["output"], result)
            manifest["cases"].append(case)
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(manifest['cases'])} cases, {total / 1e6:.2f} MB in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
