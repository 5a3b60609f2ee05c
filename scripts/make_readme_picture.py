#!/usr/bin/env python3
"""Make the README's picture, ``docs/img/radpipe.png``, from the output of ``radpipe demo``.

Left: ``stitched_view.png``, the demo's stitched image of the three bundled (simulated) CR stations,
windowed to 8 bits. Right: the bundled ICBM152 mid-sagittal slice (``data/demo/icbm152_mid_sagittal.png``)
with the corpus-callosum mask the shipped model predicted for it (``icbm152_mid_sagittal_mask.png``)
outlined in colour; the slice's empty padding is cropped. Both panels are scaled to the same height and put side by side on a dark
background; the result is saved as an adaptive-palette PNG to stay small.

Run from the repository root (needs numpy and Pillow; nothing else):

    cargo run --release -- demo --out /tmp/demo-out        # or: target/release/radpipe demo --out ...
    python3 -m venv /tmp/docs-venv && /tmp/docs-venv/bin/pip install pillow numpy
    /tmp/docs-venv/bin/python scripts/make_readme_picture.py --demo /tmp/demo-out

Options: ``--out`` (default ``docs/img/radpipe.png``), ``--height`` (panel height in pixels, default
560), ``--colour`` (outline colour as R,G,B, default 255,140,0).
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

GAP = 16  # pixels between and around the panels
BACKGROUND = 24  # grey level of the background
MARGIN = 8  # slice pixels kept around the head


def grey(path: Path) -> Image.Image:
    """Reads an image as 8-bit greyscale (16-bit PNGs are scaled down by 256)."""
    img = Image.open(path)
    if img.mode in ("I;16", "I;16B", "I"):
        a = np.asarray(img, dtype=np.uint32)
        return Image.fromarray((a >> 8).astype(np.uint8), "L")
    return img.convert("L")


def scaled(img: Image.Image, height: int, resample) -> Image.Image:
    width = max(1, round(img.width * height / img.height))
    return img.resize((width, height), resample)


def outline(mask: np.ndarray, thickness: int) -> np.ndarray:
    """The pixels of ``mask`` within ``thickness`` of its boundary (4-neighbour erosion)."""
    inner = mask.copy()
    for _ in range(thickness):
        p = np.pad(inner, 1, constant_values=False)
        inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return mask & ~inner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo", type=Path, default=Path("radpipe-demo"), help="radpipe demo's --out folder")
    ap.add_argument("--data", type=Path, default=Path("data/demo"), help="the bundled demo data")
    ap.add_argument("--out", type=Path, default=Path("docs/img/radpipe.png"))
    ap.add_argument("--height", type=int, default=560)
    ap.add_argument("--colour", default="255,140,0")
    args = ap.parse_args()
    colour = np.array([int(c) for c in args.colour.split(",")], dtype=np.uint8)

    stitched = scaled(grey(args.demo / "stitched_view.png"), args.height, Image.LANCZOS)

    brain = grey(args.data / "icbm152_mid_sagittal.png")
    mask = grey(args.demo / "icbm152_mid_sagittal_mask.png")
    if mask.size != brain.size:
        raise SystemExit(f"mask {mask.size} and slice {brain.size} differ in size")
    # Crop the slice's empty padding (a margin of MARGIN px around the head) so the brain fills the panel.
    rows, cols = np.nonzero(np.asarray(brain) > 10)
    box = (
        max(0, cols.min() - MARGIN),
        max(0, rows.min() - MARGIN),
        min(brain.width, cols.max() + 1 + MARGIN),
        min(brain.height, rows.max() + 1 + MARGIN),
    )
    brain, mask = brain.crop(box), mask.crop(box)
    brain = scaled(brain, args.height, Image.BICUBIC)
    mask = np.asarray(scaled(mask, args.height, Image.NEAREST)) > 127
    rgb = np.repeat(np.asarray(brain)[:, :, None], 3, axis=2)
    rgb[outline(mask, max(2, args.height // 160))] = colour
    segmented = Image.fromarray(rgb, "RGB")

    width = GAP + stitched.width + GAP + segmented.width + GAP
    canvas = Image.new("RGB", (width, args.height + 2 * GAP), (BACKGROUND,) * 3)
    canvas.paste(stitched.convert("RGB"), (GAP, GAP))
    canvas.paste(segmented, (2 * GAP + stitched.width, GAP))
    if canvas.width > 1200:
        canvas = canvas.resize((1200, round(canvas.height * 1200 / canvas.width)), Image.LANCZOS)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"{args.out}: {canvas.width}x{canvas.height}, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
