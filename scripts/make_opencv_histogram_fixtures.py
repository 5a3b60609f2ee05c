#!/usr/bin/env python3
"""Make radpipe's OpenCV parity fixtures for histogram operations.

What it writes (under ``tests/fixtures/opencv_histogram/``)
-----------------------------------------------------------
* ``in.<name>.png``  - inputs: 8-bit and 16-bit greyscale PNGs.  Real images are
  crops of ``tests/data/dicom/mr_slope.dcm`` (MR, 12-bit stored values) and
  ``tests/data/dicom/cr_mono1.dcm`` (CR, 15-bit) read with pydicom (stored
  values, no Modality/VOI transform); the 8-bit versions are the same crops
  scaled linearly to 0..255 (``round((v - min) * 255 / (max - min))``).  Random
  images come from numpy's PCG64 with a fixed seed.  Sizes are chosen so some
  are divisible by the CLAHE tile grid and some are not (OpenCV pads those with
  BORDER_REFLECT_101), including the width-divisible / height-not case.
* ``eq.<name>.png``  - ``cv2.equalizeHist`` of every 8-bit input.
* ``clahe.<name>.<setting>.png`` - ``cv2.createCLAHE(clipLimit,
  tileGridSize).apply`` of every input (8- and 16-bit) for every setting.
* ``match.<name>.png`` - histogram matching of an 8-bit input to another 8-bit
  input, computed here from the definition (not by OpenCV, which has no
  matching): ``LUT[i]`` = the smallest ``j`` minimising
  ``|cdf_img[i]/T_img - cdf_ref[j]/T_ref|``, evaluated exactly in int64 as
  ``|cdf_img[i]*T_ref - cdf_ref[j]*T_img|`` with ``argmin`` (first minimum).
* ``manifest.json`` - every case with its parameters, paths, sha256 and the
  versions of Python, numpy, OpenCV and pydicom used.

How to rerun (from the repository root)::

    .venv/bin/pip install "numpy<2" opencv-python-headless pydicom==3.0.2
    .venv/bin/python scripts/make_opencv_histogram_fixtures.py

The script is deterministic and idempotent: it removes and rewrites every file
in the fixture directory.  Every PNG is read back and compared with the array it
was written from.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

import cv2
import numpy as np
import pydicom

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "opencv_histogram"
DICOM = ROOT / "tests" / "data" / "dicom"

# (name, tileGridSize (cols, rows), clipLimit)
CLAHE_SETTINGS = [
    ("c2_t8x8", (8, 8), 2.0),
    ("c40_t8x8", (8, 8), 40.0),
    ("c4_t3x5", (3, 5), 4.0),
    ("c0_t4x4", (4, 4), 0.0),
    ("c1_t2x2", (2, 2), 1.0),
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_png(path: Path, array: np.ndarray) -> dict:
    assert array.dtype in (np.uint8, np.uint16) and array.ndim == 2
    if not cv2.imwrite(str(path), array):
        raise SystemExit(f"cv2.imwrite failed for {path}")
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if back is None or back.dtype != array.dtype or not np.array_equal(back, array):
        raise SystemExit(f"{path}: PNG does not read back identically")
    return {
        "path": path.relative_to(ROOT).as_posix(),
        "sha256": sha256(path.read_bytes()),
        "bytes": path.stat().st_size,
    }


def stored(name: str) -> np.ndarray:
    ds = pydicom.dcmread(DICOM / name)
    return np.asarray(ds.pixel_array)


def crop(a: np.ndarray, row0: int, col0: int, rows: int, cols: int) -> np.ndarray:
    out = a[row0:row0 + rows, col0:col0 + cols]
    assert out.shape == (rows, cols), out.shape
    return np.ascontiguousarray(out)


def to_u8(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    scaled = np.round((a.astype(np.float64) - lo) * 255.0 / (hi - lo))
    return scaled.astype(np.uint8)


def match_definition(img: np.ndarray, ref: np.ndarray, bins: int) -> np.ndarray:
    h_img = np.bincount(img.ravel(), minlength=bins).astype(np.int64)
    h_ref = np.bincount(ref.ravel(), minlength=bins).astype(np.int64)
    c_img, c_ref = np.cumsum(h_img), np.cumsum(h_ref)
    t_img, t_ref = int(c_img[-1]), int(c_ref[-1])
    dist = np.abs(c_img[:, None] * t_ref - c_ref[None, :] * t_img)
    lut = np.argmin(dist, axis=1)  # first index of the minimum
    return lut.astype(img.dtype)[img]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()

    rng = np.random.Generator(np.random.PCG64(20240604))
    mr = stored("mr_slope.dcm").astype(np.uint16)
    cr = stored("cr_mono1.dcm").astype(np.uint16)

    inputs: dict[str, dict] = {}

    def add_input(name: str, array: np.ndarray, origin: str) -> None:
        info = write_png(OUT / f"in.{name}.png", array)
        info.update(
            origin=origin,
            dtype=str(array.dtype),
            rows=int(array.shape[0]),
            columns=int(array.shape[1]),
            min=int(array.min()),
            max=int(array.max()),
        )
        inputs[name] = {"array": array, "info": info}

    mr_crop = crop(mr, 70, 60, 90, 100)       # 100 wide, 90 tall: not divisible by 8
    cr_crop = crop(cr, 200, 180, 70, 96)      # 96 wide (divisible by 8), 70 tall (not)
    add_input("mr16", mr_crop, "tests/data/dicom/mr_slope.dcm stored values, rows 70..160, cols 60..160")
    add_input("cr16", cr_crop, "tests/data/dicom/cr_mono1.dcm stored values, rows 200..270, cols 180..276")
    add_input("mr8", to_u8(mr_crop), "in.mr16 scaled linearly to 0..255")
    add_input("cr8", to_u8(cr_crop), "in.cr16 scaled linearly to 0..255")
    add_input("rand8", rng.integers(0, 256, size=(61, 73), dtype=np.uint8), "uniform random, PCG64 seed 20240604")
    add_input("randnarrow8", rng.integers(90, 140, size=(48, 64), dtype=np.uint8), "uniform random 90..139, divisible by 8x8")
    add_input("rand16", rng.integers(0, 65536, size=(53, 67), dtype=np.uint16), "uniform random 16-bit")
    add_input("const8", np.full((20, 30), 77, dtype=np.uint8), "constant 77")

    cases = []
    for name, entry in inputs.items():
        array = entry["array"]
        if array.dtype == np.uint8:
            eq = cv2.equalizeHist(array)
            cases.append({
                "op": "equalize_hist",
                "input": name,
                "output": write_png(OUT / f"eq.{name}.png", eq),
            })
        for setting, grid, clip in CLAHE_SETTINGS:
            clahe = cv2.createCLAHE(clipLimit=clip, tileGridSize=grid)
            out = clahe.apply(array)
            cases.append({
                "op": "clahe",
                "input": name,
                "clip_limit": clip,
                "tiles": list(grid),
                "output": write_png(OUT / f"clahe.{name}.{setting}.png", out),
            })

    for img_name, ref_name in [("mr8", "cr8"), ("cr8", "rand8"), ("randnarrow8", "mr8"), ("const8", "mr8")]:
        out = match_definition(inputs[img_name]["array"], inputs[ref_name]["array"], 256)
        cases.append({
            "op": "match",
            "input": img_name,
            "reference": ref_name,
            "bins": 256,
            "output": write_png(OUT / f"match.{img_name}.to.{ref_name}.png", out),
        })

    manifest = {
        "schema_version": 1,
        "generator": "scripts/make_opencv_histogram_fixtures.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "pydicom": pydicom.__version__,
        },
        "conventions": {
            "equalize_hist": "cv2.equalizeHist(input)",
            "clahe": "cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles[0], tiles[1])).apply(input); "
                     "tiles = (columns, rows)",
            "match": "LUT[i] = argmin_j |cdf_img[i]*T_ref - cdf_ref[j]*T_img| (first minimum), int64, 256 bins",
            "paths": "relative to the repository root",
        },
        "inputs": {k: v["info"] for k, v in inputs.items()},
        "cases": cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
