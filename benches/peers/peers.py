#!/usr/bin/env python3
"""Time the peers radpipe replaces on the same inputs, and print radpipe/peer ratios.

For every op of ``radpipe bench`` this script runs the closest OpenCV (opencv-python-headless) or
NumPy call on the same u16 test image (a 12-bit pattern, ``(i * 7) % 4096`` — identical to
``radpipe::bench::test_image``), takes the median of ``--iters`` runs after a warm-up, and prints it
beside radpipe's median from a ``radpipe bench --json`` report (run here unless ``--radpipe-json`` is
given). ``speedup`` is peer time / radpipe time: above 1 radpipe is faster.

With ``--bisenet`` it also times PaddleSeg's own BiSeNetV2 (num_classes=2, lambd=0.25, random weights,
CPU, batch 1, paddle inference mode) at the given network sizes — the framework the original model was
trained in — to compare with ``cargo bench --bench segment`` (radpipe's figure is printed only if the
criterion results exist under target/criterion).

Peers are what a Python stack would call, not hand-tuned kernels; the notes column says where the
peer does not do exactly the same work (OpenCV has no 16-bit LUT or equalizeHist, so NumPy does those).

Usage (from the repository root; .venv from scripts/make_fixtures.py has numpy + opencv):
    .venv/bin/python benches/peers/peers.py --sizes 512,2048,4096 --iters 10
    .venv-paddle/bin/python benches/peers/peers.py --sizes 2048 --bisenet 256,384,512
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import cv2
except ImportError:  # the BiSeNetV2 part works without OpenCV
    cv2 = None

ROOT = Path(__file__).resolve().parents[2]


def test_image(side: int) -> np.ndarray:
    i = np.arange(side * side, dtype=np.uint64)
    return ((i * 7) % 4096).astype(np.uint16).reshape(side, side)


def median_seconds(fn, iters: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def window_u16_to_u8(img: np.ndarray) -> np.ndarray:
    # radpipe's case: rescale slope 1, intercept -1024, LINEAR window c=40 w=400, 8-bit out.
    # As one affine map + saturation: OpenCV's convertScaleAbs (|a*x+b| saturated to u8) is the
    # classic one-pass peer; values below the window clip at 0 like DICOM's LINEAR function.
    c, w = 40.0, 400.0
    alpha = 255.0 / (w - 1.0)
    beta = (-1024.0 - (c - 0.5 - (w - 1.0) / 2.0)) * alpha
    return cv2.convertScaleAbs(img, alpha=alpha, beta=beta)


def peer_ops(side: int):
    """(name, callable, peer label, note) for every radpipe bench op that has a peer."""
    img = test_image(side)
    dst = np.empty_like(img)
    lut = (np.arange(4096, dtype=np.uint32) * 16).clip(0, 65535).astype(np.uint16)
    c = side / 2.0
    rot = cv2.getRotationMatrix2D((c, c), 7.5, 1.0)
    half = (max(side // 2, 1), max(side // 2, 1))
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    def equalize_numpy():
        hist = np.bincount(img.ravel(), minlength=4096)
        cdf = np.cumsum(hist)
        nz = cdf[np.nonzero(hist)[0][0]]
        table = ((cdf - nz) * (4095.0 / max(img.size - nz, 1))).round().clip(0, 4095)
        return table.astype(np.uint16)[img]

    return [
        ("copy", lambda: np.copyto(dst, img), "numpy.copyto", ""),
        ("window", lambda: window_u16_to_u8(img), "cv2.convertScaleAbs", "same affine + clip"),
        (
            "rotate",
            lambda: cv2.warpAffine(img, rot, (side, side), flags=cv2.INTER_LINEAR),
            "cv2.warpAffine",
            "",
        ),
        (
            "resize",
            lambda: cv2.resize(img, half, interpolation=cv2.INTER_LINEAR),
            "cv2.resize LINEAR",
            "",
        ),
        (
            "resize-area",
            lambda: cv2.resize(img, half, interpolation=cv2.INTER_AREA),
            "cv2.resize AREA",
            "",
        ),
        (
            "histogram",
            lambda: cv2.calcHist([img], [0], None, [4096], [0, 4096]),
            "cv2.calcHist",
            "",
        ),
        (
            "histogram16",
            lambda: cv2.calcHist([img], [0], None, [65536], [0, 65536]),
            "cv2.calcHist",
            "",
        ),
        ("lut", lambda: lut[img], "numpy take", "cv2.LUT is 8-bit only"),
        ("equalize", equalize_numpy, "numpy", "cv2.equalizeHist is 8-bit only"),
        ("clahe", lambda: clahe.apply(img), "cv2 CLAHE", "16-bit input, 65536 bins in OpenCV"),
    ]


def radpipe_report(args) -> dict:
    if args.radpipe_json:
        return json.loads(Path(args.radpipe_json).read_text())
    exe = args.radpipe or str(ROOT / "target" / "release" / "radpipe")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        cmd = [exe, "bench", "--sizes", args.sizes, "--iters", str(args.iters), "--json", str(out)]
        print("running:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        return json.loads(out.read_text())


def compare_ops(args) -> None:
    if cv2 is None:
        sys.exit("opencv-python-headless is needed for the op comparison (use .venv)")
    cv2.setNumThreads(os.cpu_count() or 1)
    report = radpipe_report(args)
    ours = {(r["op"], r["size"]): r for r in report["results"]}
    print(f"radpipe adapter: {report['adapter']['name']} ({report['adapter']['backend']}), "
          f"timing {report['timing']}, copy {report['copy_gb_per_s']:.1f} GB/s")
    print(f"peer: OpenCV {cv2.__version__}, NumPy {np.__version__}, {cv2.getNumThreads()} threads")
    header = f"{'op':<12}{'size':>6}{'radpipe ms':>12}{'peer ms':>10}{'speedup':>9}  peer"
    print(header)
    print("-" * len(header))
    for side in [int(s) for s in args.sizes.split(",")]:
        for name, fn, label, note in peer_ops(side):
            peer = median_seconds(fn, args.iters)
            mine = ours.get((name, side))
            ours_ms = f"{mine['median_s'] * 1e3:12.3f}" if mine else f"{'-':>12}"
            ratio = f"{peer / mine['median_s']:9.2f}" if mine else f"{'-':>9}"
            extra = f" ({note})" if note else ""
            print(f"{name:<12}{side:>6}{ours_ms}{peer * 1e3:10.3f}{ratio}  {label}{extra}")


def criterion_network_ms(size: int) -> tuple[float, str] | None:
    """radpipe's batch-1 forward time at `size` from benches/segment.rs's criterion output, per image."""
    base = ROOT / "target" / "criterion"
    for group in sorted(base.glob("segment *")):
        est = group / f"network {size}x{size} batch 1" / "new" / "estimates.json"
        if est.exists():
            ns = json.loads(est.read_text())["median"]["point_estimate"]
            return ns / 1e6, group.name
    return None


def compare_bisenet(args) -> None:
    import paddle
    from paddleseg.models import BiSeNetV2

    paddle.set_device("cpu")
    model = BiSeNetV2(num_classes=2, lambd=0.25, align_corners=False)
    model.eval()
    print(f"peer: PaddlePaddle {paddle.__version__} CPU, BiSeNetV2(num_classes=2, lambd=0.25), batch 1")
    print(f"{'size':>6}{'paddle ms':>11}{'img/s':>8}{'radpipe ms':>12}  radpipe source")
    for size in [int(s) for s in args.bisenet.split(",")]:
        x = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32))

        def forward():
            with paddle.no_grad():
                model(x)[0].numpy()

        t = median_seconds(forward, max(3, args.iters // 2), warmup=1)
        ours = criterion_network_ms(size)
        ours_text = (
            f"{ours[0]:12.1f}  criterion: {ours[1]}" if ours else f"{'-':>12}  run cargo bench --bench segment"
        )
        print(f"{size:>6}{t * 1e3:11.1f}{1.0 / t:8.2f}{ours_text}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="512,2048,4096", help="square image sides for the op comparison")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--radpipe", help="radpipe binary (default target/release/radpipe)")
    p.add_argument("--radpipe-json", help="use this `radpipe bench --json` report instead of running it")
    p.add_argument("--bisenet", help="network sizes for the BiSeNetV2 comparison, e.g. 256,384,512")
    p.add_argument("--no-ops", action="store_true", help="skip the op comparison")
    args = p.parse_args()
    if not args.no_ops:
        compare_ops(args)
    if args.bisenet:
        compare_bisenet(args)


if __name__ == "__main__":
    main()
