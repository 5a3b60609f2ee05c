#!/usr/bin/env python3
"""Makes a smaller copy of cc-abide for carrying to a remote GPU machine (the device tool moves at
most 64 MiB): images resized to SIDE² (bilinear) and re-encoded as 8-bit grayscale JPEG (quality Q),
masks resized the same way, thresholded at 127 (the data set's own rule) and stored as lossless PNG.
Usage: shrink_cc_abide.py SRC DST [SIDE=384] [Q=90]"""
import sys
from pathlib import Path

from PIL import Image

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
side = int(sys.argv[3]) if len(sys.argv) > 3 else 384
quality = int(sys.argv[4]) if len(sys.argv) > 4 else 90
for sub in ("image", "mask"):
    (dst / sub).mkdir(parents=True, exist_ok=True)
for f in sorted((src / "image").iterdir()):
    Image.open(f).convert("L").resize((side, side), Image.BILINEAR).save(
        dst / "image" / f.name, "JPEG", quality=quality)
for f in sorted((src / "mask").iterdir()):
    m = Image.open(f).convert("L").resize((side, side), Image.BILINEAR)
    m.point(lambda v: 255 if v > 127 else 0).save(dst / "mask" / (f.stem + ".png"), "PNG", optimize=True)
print(f"{dst}: {len(list((dst / 'image').iterdir()))} pairs at {side}²")
