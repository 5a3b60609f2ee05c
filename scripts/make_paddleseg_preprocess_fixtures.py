#!/usr/bin/env python3
"""Make the PaddleSeg reference network inputs for radpipe's `--preprocess paddleseg` tests.

The peer is PaddleSeg 2.8.0 itself: ``paddleseg.transforms.Compose([Resize(target_size=(W, H)),
Normalize()])`` (its defaults: INTER_LINEAR, mean 0.5, std 0.5, img_channels 3, to_rgb), the
transforms its ``val``/``predict`` run. Each case is run three ways:

* ``file``: ``Compose({'img': path})``, as PaddleSeg's datasets and ``predict`` call it. Compose reads
  the path with ``cv2.imread(path).astype('float32')``, so Resize is ``cv2.resize`` on float32.
  Run twice: with ``cv2.setUseOptimized(False)`` (OpenCV's own C++ code, ``file_cpp``) and with
  the default (``file``: the opencv-python wheel hands some float32 linear resizes to Intel IPP,
  whose arithmetic differs by a few ulps).
* ``u8``: ``Compose({'img': uint8 array})`` - what the transforms do with an already decoded 8-bit
  image: Resize is OpenCV's 8-bit fixed-point bilinear (IPP is never used for it).

Plus ``cv2.resize`` of the 8-bit grey image alone (PNG) and of its float32 copy alone (SHA-256),
so a failure says whether the resize or the normalisation differs.

What it writes, under ``tests/fixtures/paddleseg_preprocess/``
----------------------------------------------------------------
* ``<input>.png``: the 8-bit grey inputs (odd sizes; smooth phantoms with sharp edges, and noise).
* ``<case>.cv2_u8.png``: ``cv2.resize(grey, (W, H), interpolation=cv2.INTER_LINEAR)``.
* ``<case>.file_ipp.f32.gz``: for the two IPP cases named in ``IPP_DUMPS``, plane 0 of the default
  (IPP) ``file`` network input, little-endian float32, row-major, gzip (mtime 0). (IPP does not
  always give the three equal input channels equal outputs; the C++ code does.)
* ``manifest.json``: per case the input, the network size, the SHA-256 of the little-endian float32
  bytes of each network input ``[3, H, W]`` (``file``, ``file_cpp``, ``u8``) and of the float32 resize
  alone (``cv2_f32_cpp``), how many samples the IPP and C++ ``file`` inputs differ in and by how much
  at most; plus the versions of everything.

How to rerun
------------
From the repository root (PaddlePaddle 2.6.2 because PaddleSeg 2.8.0 imports ``paddle``; pip picks
the opencv-python <= 4.6 PaddleSeg asks for)::

    python3 -m venv /tmp/radpipe-paddle-venv
    /tmp/radpipe-paddle-venv/bin/pip install "numpy<2" paddleseg==2.8.0 paddlepaddle==2.6.2
    /tmp/radpipe-paddle-venv/bin/python scripts/make_paddleseg_preprocess_fixtures.py

Deterministic (fixed seed, gzip mtime 0); rewrites its folder, removing stale files. Every PNG is
read back and compared with the array it came from.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import paddle  # noqa: F401  (PaddleSeg imports it; recorded in the manifest)
from paddleseg.transforms import Compose, Normalize, Resize

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "paddleseg_preprocess"

# (input name, width, height, kind) -> network sides (square, as radpipe's network input).
INPUTS = [
    ("grad_197x233", 197, 233, "phantom", [256, 320, 512]),  # enlarging, non-integer
    ("noise_61x47", 61, 47, "noise", [256, 320]),  # enlarging a lot, every pixel an edge
    ("phantom_1021x769", 1021, 769, "phantom", [256, 320, 512]),  # shrinking, non-integer
    ("phantom_640x640", 640, 640, "phantom", [256, 320, 512]),  # 2.5x, exact 2x, 1.25x
    ("phantom_512x512", 512, 512, "phantom", [256]),  # exact 2x
    ("wide_300x200", 300, 200, "phantom", [512]),  # different ratio per axis
]
IPP_DUMPS = {"noise_61x47.256", "grad_197x233.256"}


def phantom(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A head-like phantom: a bright skull ring, darker brain, a few ellipses, a gradient."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = w * 0.52, h * 0.47
    r = np.hypot((x - cx) / (w * 0.42), (y - cy) / (h * 0.45))
    img = 20.0 + 30.0 * x / w
    img = np.where(r < 1.0, 235.0, img)
    img = np.where(r < 0.9, 90.0 + 40.0 * y / h, img)
    for _ in range(5):
        ex, ey = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        ax, ay = rng.uniform(0.03, 0.15) * w, rng.uniform(0.02, 0.1) * h
        img = np.where(np.hypot((x - ex) / ax, (y - ey) / ay) < 1.0, rng.uniform(120, 250), img)
    img[:, int(w * 0.31)] = 255.0  # a one-pixel line
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_input(w: int, h: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "noise":
        return rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    return phantom(w, h, rng)


def write_png(path: Path, img: np.ndarray) -> None:
    if not cv2.imwrite(str(path), img):
        raise SystemExit(f"cannot write {path}")
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if back is None or back.dtype != img.dtype or not np.array_equal(back, img):
        raise SystemExit(f"{path}: PNG round trip changed the pixels")


def sha(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a, dtype="<f4")
    return hashlib.sha256(a.tobytes()).hexdigest()


def paddle_input(img, size: int, optimized: bool) -> np.ndarray:
    cv2.setUseOptimized(optimized)
    try:
        out = Compose([Resize(target_size=(size, size)), Normalize()])({"img": img})["img"]
    finally:
        cv2.setUseOptimized(True)
    assert out.dtype == np.float32 and out.shape == (3, size, size), (out.dtype, out.shape)
    # OpenCV's C++ code treats the three equal channels alike; IPP does not always.
    if not optimized or not isinstance(img, str):
        assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.iterdir():
        stale.unlink()
    rng = np.random.default_rng(20260521)
    cases = []
    for name, w, h, kind, sizes in INPUTS:
        grey = make_input(w, h, kind, rng)
        in_path = OUT / f"{name}.png"
        write_png(in_path, grey)
        colour = np.ascontiguousarray(np.stack([grey] * 3, axis=2))
        for size in sizes:
            case = f"{name}.{size}"
            u8 = cv2.resize(grey, (size, size), interpolation=cv2.INTER_LINEAR)
            write_png(OUT / f"{case}.cv2_u8.png", u8)
            cv2.setUseOptimized(False)
            f32 = cv2.resize(grey.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
            cv2.setUseOptimized(True)
            file_ipp = paddle_input(str(in_path), size, True)
            file_cpp = paddle_input(str(in_path), size, False)
            from_u8 = paddle_input(colour.copy(), size, True)
            diff = np.abs(file_ipp.astype(np.float64) - file_cpp)
            entry = {
                "name": case,
                "input": in_path.name,
                "size": size,
                "cv2_u8": f"{case}.cv2_u8.png",
                "sha256": {
                    "file": sha(file_ipp),
                    "file_cpp": sha(file_cpp),
                    "u8": sha(from_u8),
                    "cv2_f32_cpp": sha(f32),
                },
                "file_ipp_vs_cpp": {
                    "differing": int((file_ipp != file_cpp).sum()),
                    "max_abs": float(diff.max()),
                    "planes_equal": bool(np.array_equal(file_ipp[0], file_ipp[1])
                                         and np.array_equal(file_ipp[0], file_ipp[2])),
                },
                "u8_vs_file_cpp_max_abs": float(np.abs(from_u8.astype(np.float64) - file_cpp).max()),
                "file_ipp_dump": None,
            }
            if case in IPP_DUMPS:
                dump = f"{case}.file_ipp.f32.gz"
                raw = np.ascontiguousarray(file_ipp[0], dtype="<f4").tobytes()
                with open(OUT / dump, "wb") as fh:
                    fh.write(gzip.compress(raw, compresslevel=9, mtime=0))
                entry["file_ipp_dump"] = dump
            cases.append(entry)
            print(f"{case}: ipp-vs-cpp {entry['file_ipp_vs_cpp']}, "
                  f"u8-vs-file {entry['u8_vs_file_cpp_max_abs']:.4g}")
    build = cv2.getBuildInformation()
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cv2": cv2.__version__,
        "opencv_wheel": next((d for d in ("opencv-python", "opencv-python-headless")
                              if _has(d)), None),
        "paddlepaddle": metadata.version("paddlepaddle"),
        "paddleseg": metadata.version("paddleseg"),
        "cv2_ipp": next((ln.split(":", 1)[1].strip() for ln in build.splitlines()
                         if "Intel IPP:" in ln), None),
    }
    manifest = {
        "peer": "paddleseg.transforms.Compose([Resize(target_size=(size, size)), Normalize()])",
        "layout": "network inputs are float32 [3, size, size], little-endian, C order",
        "versions": versions,
        "cases": cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def _has(dist: str) -> bool:
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


if __name__ == "__main__":
    main()
