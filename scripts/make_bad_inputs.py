#!/usr/bin/env python3
"""Write radpipe's corpus of hostile and broken inputs: ``tests/data/bad/``.

Every file is derived from pydicom's MIT-licensed test files (``CT_small.dcm``, ``JPEG-lossy.dcm``,
``SC_rgb_small_odd.dcm``; see tests/data/dicom/SOURCES.md for their provenance) or made from scratch,
and stays small (< 40 KB each). ``tests/it/bad_inputs.rs`` runs every CLI command against each file and
expects a one-line error naming the file, exit status 1, no panic and no output; the fuzz targets
(``fuzz/``) use the same files as seeds. ``manifest.json`` says what each file is and what is wrong.

Rerun (deterministic, overwrites its outputs):
    .venv/bin/python scripts/make_bad_inputs.py
"""

from __future__ import annotations

import copy
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "bad"


# Files found by `fuzz/` (mutations of the seeds above and of pydicom's MIT test files).
FUZZ_FOUND = {
    "meta_unknown_vr_hides_length.dcm": (
        "fuzz/dicom_reader: an unknown VR code (NB) in the file meta group; dicom-rs reads it as UN "
        "with a 4-byte length, the old pre-scan read a 2-byte length, lost step and missed a data-set "
        "element claiming 3.4 GB (dicom-rs allocated it: 3.4 GB RSS for a 2 KB file)"
    ),
    "meta_desync_4gb.dcm": (
        "fuzz/dicom_reader: an off-group tag (27FF,0002) inside the file meta group length; dicom-rs "
        "reads the meta group by its group length, the old pre-scan stopped at the first non-0002 tag "
        "and missed an element claiming 4.2 GB (4.1 GB RSS for a 13 KB file)"
    ),
}


def ct() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def save(ds: pydicom.Dataset, name: str) -> bytes:
    path = OUT / name
    ds.save_as(path, enforce_file_format=False)
    return path.read_bytes()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, str] = {}
    good = Path(get_testdata_file("CT_small.dcm")).read_bytes()

    (OUT / "truncated.dcm").write_bytes(good[: len(good) // 2])
    manifest["truncated.dcm"] = "CT_small.dcm cut in half inside the pixel data"

    (OUT / "truncated_header.dcm").write_bytes(good[:300])
    manifest["truncated_header.dcm"] = "CT_small.dcm cut to 300 bytes, inside the file meta / header"

    wrong = bytearray(good)
    wrong[128:132] = b"DICN"
    (OUT / "wrong_magic.dcm").write_bytes(bytes(wrong))
    manifest["wrong_magic.dcm"] = "CT_small.dcm with the DICM magic at offset 128 changed to DICN"

    ds = ct()
    del ds.PixelData
    save(ds, "no_pixel_data.dcm")
    manifest["no_pixel_data.dcm"] = "CT_small.dcm without (7FE0,0010) Pixel Data"

    ds = ct()
    ds.Rows = 0
    save(ds, "zero_rows.dcm")
    manifest["zero_rows.dcm"] = "CT_small.dcm with Rows = 0"

    ds = ct()
    ds.Columns = 0
    save(ds, "zero_columns.dcm")
    manifest["zero_columns.dcm"] = "CT_small.dcm with Columns = 0"

    ds = ct()
    ds.RescaleSlope = "1e300"
    save(ds, "rescale_overflow.dcm")
    manifest["rescale_overflow.dcm"] = (
        "CT_small.dcm with Rescale Slope 1e300: modality values past the GPU's 32-bit range"
    )

    ds = ct()
    ds.Rows = 65535
    ds.Columns = 65535
    save(ds, "huge_header.dcm")
    manifest["huge_header.dcm"] = "CT_small.dcm claiming 65535x65535 with its 128x128 pixel data"

    ds = ct()
    ds.BitsAllocated = 32
    ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelData = np.arange(128 * 128, dtype=np.int32).tobytes()
    save(ds, "bits_allocated_32.dcm")
    manifest["bits_allocated_32.dcm"] = "BitsAllocated 32 integer pixel data (unsupported)"

    ds = ct()
    del ds.PixelData
    ds.BitsAllocated = 32
    del ds.BitsStored
    del ds.HighBit
    del ds.PixelRepresentation
    ds.FloatPixelData = np.linspace(0, 1, 128 * 128, dtype=np.float32).tobytes()
    save(ds, "float_pixel_data.dcm")
    manifest["float_pixel_data.dcm"] = "(7FE0,0008) Float Pixel Data instead of Pixel Data (unsupported)"

    lossy = Path(get_testdata_file("JPEG-lossy.dcm")).read_bytes()
    (OUT / "jpeg12_lossy.dcm").write_bytes(lossy)
    manifest["jpeg12_lossy.dcm"] = (
        "pydicom's JPEG-lossy.dcm verbatim: 12-bit JPEG Extended (1.2.840.10008.1.2.4.51), which the "
        "pure-Rust JPEG decoder does not handle"
    )

    j2k = Path(get_testdata_file("JPEG2000-embedded-sequence-delimiter.dcm")).read_bytes()
    (OUT / "j2k_embedded_delimiter.dcm").write_bytes(j2k)
    manifest["j2k_embedded_delimiter.dcm"] = (
        "pydicom's JPEG2000-embedded-sequence-delimiter.dcm verbatim: the bytes FE FF DD E0 (a sequence "
        "delimiter) inside the codestream's SIZ marker, so it claims 3722445056 columns for Columns 256; "
        "pydicom and Pillow cannot decode it either"
    )

    rgb = Path(get_testdata_file("SC_rgb_small_odd.dcm")).read_bytes()
    (OUT / "colour_rgb.dcm").write_bytes(rgb)
    manifest["colour_rgb.dcm"] = "pydicom's SC_rgb_small_odd.dcm verbatim: RGB where greyscale is needed"

    ds = ct()
    ds.BitsStored = 20
    ds.HighBit = 19
    save(ds, "bits_stored_over_allocated.dcm")
    manifest["bits_stored_over_allocated.dcm"] = "BitsStored 20 in 16 allocated bits"

    ds = ct()
    ds.SamplesPerPixel = 3
    save(ds, "samples_mismatch.dcm")
    manifest["samples_mismatch.dcm"] = "SamplesPerPixel 3 with MONOCHROME2 and one sample of data"

    ds = ct()
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7"
    save(ds, "unknown_transfer_syntax.dcm")
    manifest["unknown_transfer_syntax.dcm"] = "Transfer Syntax UID 1.2.3.4.5.6.7 (unknown)"

    (OUT / "empty.dcm").write_bytes(b"")
    manifest["empty.dcm"] = "zero bytes"

    (OUT / "garbage.png").write_bytes(bytes(range(256)) * 8)
    manifest["garbage.png"] = "2048 bytes of a byte ramp with a .png name"

    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00" + bytes(64))[:10])
    (OUT / "truncated.png").write_bytes(sig + ihdr + idat)
    manifest["truncated.png"] = "a 64x64 greyscale PNG whose only IDAT holds one broken row and no IEND"

    ihdr0 = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 64, 8, 0, 0, 0, 0))
    (OUT / "zero_width.png").write_bytes(sig + ihdr0 + png_chunk(b"IEND", b""))
    manifest["zero_width.png"] = "a PNG header with width 0"

    (OUT / "not_an_image.txt").write_text("radpipe bad-input corpus: plain text, not an image\n")
    manifest["not_an_image.txt"] = "plain text"

    # A Deflated Explicit VR Little Endian data set whose Pixel Data claims 3 GiB: the lie is only
    # visible after inflating, so the length pre-scan must inflate (streaming) to see it.
    def elem(group: int, element: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
        n = len(value) if length is None else length
        if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
            return struct.pack("<HH2sHI", group, element, vr, 0, n) + value
        return struct.pack("<HH2sH", group, element, vr, n) + value

    dataset = (
        elem(0x0008, 0x0060, b"CS", b"MR")
        + elem(0x0028, 0x0002, b"US", struct.pack("<H", 1))
        + elem(0x0028, 0x0004, b"CS", b"MONOCHROME2 ")
        + elem(0x0028, 0x0010, b"US", struct.pack("<H", 4))
        + elem(0x0028, 0x0011, b"US", struct.pack("<H", 4))
        + elem(0x0028, 0x0100, b"US", struct.pack("<H", 16))
        + elem(0x0028, 0x0101, b"US", struct.pack("<H", 16))
        + elem(0x0028, 0x0102, b"US", struct.pack("<H", 15))
        + elem(0x0028, 0x0103, b"US", struct.pack("<H", 0))
        + elem(0x7FE0, 0x0010, b"OW", bytes(32), length=3 << 30)
    )
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = packer.compress(dataset) + packer.flush()
    ts = b"1.2.840.10008.1.2.1.99\0"
    meta_body = (
        elem(0x0002, 0x0001, b"OB", b"\0\1")
        + elem(0x0002, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0")
        + elem(0x0002, 0x0003, b"UI", b"2.25.1\0")
        + elem(0x0002, 0x0010, b"UI", ts)
    )
    meta = elem(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta_body))) + meta_body
    (OUT / "deflated_length_lie.dcm").write_bytes(bytes(128) + b"DICM" + meta + deflated)
    manifest["deflated_length_lie.dcm"] = (
        "Deflated Explicit VR Little Endian data set whose Pixel Data element claims 3 GiB "
        "(the lie is visible only after inflating)"
    )

    # Inputs the dicom_reader fuzz target found (kept verbatim in fuzz/regressions/dicom_reader/).
    found = ROOT / "fuzz" / "regressions" / "dicom_reader"
    for name, what in FUZZ_FOUND.items():
        (OUT / f"fuzz_{name}").write_bytes((found / name).read_bytes())
        manifest[f"fuzz_{name}"] = what

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(manifest)} files to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
