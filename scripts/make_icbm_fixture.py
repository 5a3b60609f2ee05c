#!/usr/bin/env python3
"""Makes the bundled labelled mid-sagittal slice: data/demo/icbm152_mid_sagittal.png (T1) and
data/demo/icbm152_mid_sagittal_cc_mask.png (corpus callosum, 0/255).

Source: the MNI ICBM152 2009a non-linear symmetric template (1 mm, 197x233x189), T1 and white-matter
probability maps, as shipped in nilearn's wheel (nilearn/datasets/data/
mni_icbm152_{t1,wm}_tal_nlin_sym_09a_converted.nii.gz). Licence: the MNI/McGill notice (any purpose,
without fee, keep the copyright notice), see data/demo/SOURCES.md.

The slice is x = 0 mm (voxel 98), superior up, anterior right, padded with background to a square
233x233 (a localizer's field of view; the network input is square). The mask is not hand-drawn and
not made by radpipe: it is the template's white-matter probability >= 0.5 on that slice, largest
4-connected component — on the midline that is exactly the corpus callosum (fornix, brainstem and
cerebellar white matter are separate components there). Needs only numpy and Pillow:

    pip download nilearn==0.14.1 --no-deps -d /tmp/whl
    python3 scripts/make_icbm_fixture.py /tmp/whl/nilearn-0.14.1-py3-none-any.whl data/demo
"""
import gzip
import io
import struct
import sys
import zipfile
from collections import deque
from pathlib import Path

import numpy as np
from PIL import Image

MEMBER = "nilearn/datasets/data/mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"
X_MID = 98  # x = 0 mm: the affine's x origin is -98 mm at 1 mm voxels


def read_nifti_u8(raw: bytes) -> np.ndarray:
    """A NIfTI-1 volume of datatype uint8 (2), as a C-ordered (z, y, x) array."""
    data = gzip.decompress(raw)
    if struct.unpack_from("<i", data, 0)[0] != 348:
        raise SystemExit("not a little-endian NIfTI-1 file")
    dims = struct.unpack_from("<8h", data, 40)
    datatype = struct.unpack_from("<h", data, 70)[0]
    offset = int(struct.unpack_from("<f", data, 108)[0])
    if dims[0] != 3 or datatype != 2:
        raise SystemExit(f"expected a 3-D uint8 volume, got dims {dims}, datatype {datatype}")
    nx, ny, nz = dims[1:4]
    vol = np.frombuffer(data, np.uint8, nx * ny * nz, offset)
    return vol.reshape(nz, ny, nx)  # NIfTI stores x fastest


def largest_component(b: np.ndarray) -> np.ndarray:
    lab = np.zeros(b.shape, np.int32)
    best, best_size, n = 0, 0, 0
    for y, x in zip(*np.nonzero(b)):
        if lab[y, x]:
            continue
        n += 1
        size, queue = 0, deque([(y, x)])
        lab[y, x] = n
        while queue:
            cy, cx = queue.popleft()
            size += 1
            for yy, xx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                if 0 <= yy < b.shape[0] and 0 <= xx < b.shape[1] and b[yy, xx] and not lab[yy, xx]:
                    lab[yy, xx] = n
                    queue.append((yy, xx))
        if size > best_size:
            best, best_size = n, size
    return lab == best


def main() -> None:
    wheel, out = Path(sys.argv[1]), Path(sys.argv[2])
    with zipfile.ZipFile(wheel) as z:
        t1 = read_nifti_u8(z.read(MEMBER.format("t1")))
        wm = read_nifti_u8(z.read(MEMBER.format("wm")))
    # (z, y, x) → the sagittal plane x = 0 as rows = z (flipped: superior up), columns = y (anterior right).
    image = t1[::-1, :, X_MID]
    cc = largest_component(wm[::-1, :, X_MID] >= 128)
    h, w = image.shape
    top = (w - h) // 2
    pad = lambda a: np.pad(a, ((top, w - h - top), (0, 0)))  # noqa: E731
    image, mask = pad(image), pad(cc.astype(np.uint8) * 255)
    Image.fromarray(image).save(out / "icbm152_mid_sagittal.png", optimize=True)
    Image.fromarray(mask).save(out / "icbm152_mid_sagittal_cc_mask.png", optimize=True)
    print(f"{image.shape[1]}x{image.shape[0]}, corpus callosum {int(cc.sum())} px")


if __name__ == "__main__":
    main()
