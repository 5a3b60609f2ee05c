#!/usr/bin/env python3
"""Make radpipe's DICOM test inputs, demo data and pydicom reference outputs.

What it writes (all paths relative to the repository root)
-----------------------------------------------------------
* ``tests/data/dicom/*.dcm``  - small real DICOM inputs: verbatim copies of
  pydicom / pydicom-data test files, centre crops of larger ones written
  uncompressed (Explicit VR Little Endian, all other attributes kept), one
  attribute-edited file (``mr_sigmoid.dcm``) and one synthetic-header trap
  file built from real pixels (``ct_12bit_signed.dcm``).
* ``data/demo/*.dcm``         - bundled demo images (CT_small copy and a 4x
  block-averaged whole-chest CR).
* ``tests/fixtures/pydicom/`` - pydicom reference outputs per test case:
  ``<case>.stored.i32`` (raw little-endian int32 dump of ``ds.pixel_array``
  for the case's frame), ``<case>.modality.f32`` (little-endian float32 dump of
  ``pydicom.pixels.apply_modality_lut``) and ``<case>.<FUNCTION>.<bits>.png``
  window/VOI outputs, plus ``manifest.json`` describing every case.  Files with
  identical content are written once and shared between cases (the manifest
  gives the path for every case).  See ``tests/fixtures/README.md`` for the
  manifest schema and the exact window definition.

Every written input is re-read with pydicom and its ``pixel_array`` compared
with the intended pixels; every PNG is decoded again (OpenCV) and compared with
the array it was written from.  The script is deterministic (no timestamps,
no random UIDs) and idempotent: it overwrites its own outputs and removes stale
``*.i32``/``*.f32``/``*.png`` files under ``tests/fixtures/pydicom/``.

How to rerun
------------
From the repository root::

    python3 -m venv .venv && .venv/bin/pip install pydicom==3.0.2 pydicom-data \
        deid-data "numpy<2" pylibjpeg pylibjpeg-openjpeg
    .venv/bin/python scripts/make_fixtures.py

(``opencv-python-headless`` is used only to double-check the PNG files if it is
installed; the PNGs themselves are written by a small pure numpy/zlib writer.)
The pydicom, numpy and codec versions used are recorded in the manifest.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import platform
import shutil
import struct
import sys
import zlib
from importlib import metadata
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.filereader import data_element_generator
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.pixels.processing import apply_windowing
from pydicom.uid import ExplicitVRLittleEndian

try:  # optional, only for verification of the PNG writer
    import cv2  # type: ignore
except Exception:  # pragma: no cover
    cv2 = None

ROOT = Path(__file__).resolve().parent.parent
IN_DIR = ROOT / "tests" / "data" / "dicom"
DEMO_DIR = ROOT / "data" / "demo"
FIX_DIR = ROOT / "tests" / "fixtures" / "pydicom"

FUNCTIONS = ["LINEAR", "LINEAR_EXACT", "SIGMOID"]
BITS = [8, 12, 16]
# |frac(y_norm) - 0.5| < 2**bits * TIE_REL counts as "near a rounding tie"
TIE_REL = 2.0 ** -20

# Size policy (the committed fixtures must stay small; see SIZE_POLICY text).
# `--all-outputs` on the command line writes every dump/PNG regardless (for
# local debugging only; do not commit the result).
ALL_OUTPUTS = "--all-outputs" in sys.argv[1:]
FULL_MAX_PIXELS = 128 * 128    # frames up to this size: every dump written
DUMP_MAX_PIXELS = 256 * 256    # up to this size: non-integer modality dump written
PNG_ALWAYS_BYTES = 32 * 1024   # PNGs up to this size are always written
SIZE_POLICY = (
    "stored .i32 dump: written when rows*columns <= 16384 (128x128); larger "
    "frames get sha256/min/max/mean only (stored values are integers, so the "
    "sha256 of the int32 dump is a complete exact check). modality .f32 dump: "
    "written when rows*columns <= 16384, or when rows*columns <= 65536 (256x256) "
    "and the modality values are not all integers (needs a tolerance compare); "
    "otherwise sha256/min/max/mean only. window PNG: written when its encoded "
    "size is <= 32 KiB, or bits == 8, or (function is LINEAR or TABLE and "
    "rows*columns <= 65536); otherwise path is null and pixels_sha256/min/max/"
    "near_half_count describe it. Reason: with every dump up to 256x256 and "
    "every PNG written the fixtures alone are ~6 MB (noisy 256x256 and 512x512 images give 16-bit PNGs "
    "of 100-420 KB each) against a ~4 MB budget for tests/ + data/. Run the "
    "script with --all-outputs to get everything locally.")

WRITTEN: list[Path] = []


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
def rel(p: Path) -> str:
    return p.resolve().relative_to(ROOT).as_posix()


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def sha256_file(p: Path) -> str:
    return sha256_bytes(p.read_bytes())


def note_written(p: Path) -> None:
    if p not in WRITTEN:
        WRITTEN.append(p)
    print(f"  wrote {rel(p)} ({p.stat().st_size} bytes)")


def src(name: str) -> Path:
    """Locate a pydicom / pydicom-data test file locally (never downloads)."""
    p = get_testdata_file(name, download=False)
    if p is None or not Path(p).is_file():
        sys.exit(f"cannot find test file {name!r}; install pydicom-data")
    return Path(p)


def origin_of(p: Path) -> str:
    parts = p.resolve().parts
    if "data_store" in parts:
        return "pydicom-data"
    if "pydicom" in parts:
        return "pydicom"
    return "unknown"


def pkg_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def native_buffer(ds: pydicom.Dataset) -> np.ndarray:
    """The raw (unmasked) native pixel buffer as rows x columns."""
    assert not ds.file_meta.TransferSyntaxUID.is_compressed
    assert ds.file_meta.TransferSyntaxUID.is_little_endian
    assert int(ds.get("NumberOfFrames", 1) or 1) == 1
    assert int(ds.SamplesPerPixel) == 1
    dt = {8: np.uint8, 16: np.dtype("<u2")}[int(ds.BitsAllocated)]
    n = int(ds.Rows) * int(ds.Columns)
    buf = np.frombuffer(ds.PixelData, dtype=dt, count=n)
    return buf.reshape(int(ds.Rows), int(ds.Columns))


def set_native_pixels(ds: pydicom.Dataset, buf: np.ndarray) -> None:
    """Replace the pixel data with `buf` (uint8 or uint16), uncompressed."""
    ds.Rows, ds.Columns = int(buf.shape[0]), int(buf.shape[1])
    if buf.dtype == np.uint8:
        data = np.ascontiguousarray(buf).tobytes()
        vr = "OB"
    else:
        data = np.ascontiguousarray(buf.astype("<u2")).tobytes()
        vr = "OW"
    if len(data) % 2:
        data += b"\x00"
    ds.PixelData = data
    ds["PixelData"].VR = vr
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian


def save(ds: pydicom.Dataset, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dest, enforce_file_format=True)
    note_written(dest)


def copy_verbatim(name: str, dest: Path) -> dict:
    s = src(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(s, dest)
    assert sha256_file(dest) == sha256_file(s)
    a = pydicom.dcmread(dest).pixel_array
    b = pydicom.dcmread(s).pixel_array
    assert np.array_equal(a, b)
    note_written(dest)
    return {"origin_package": origin_of(s), "origin_file": name,
            "derivation": "verbatim copy"}


def encode_j2k_lossy(name: str, dest: Path, ratio: int) -> dict:
    """Re-encode a native file's pixels as lossy JPEG 2000 (OpenJPEG through pylibjpeg-openjpeg),
    keeping every other attribute; Lossy Image Compression attributes are set as PS3.3 C.7.6.1.1.5
    asks. OpenJPEG's encoder is deterministic, so reruns give the same bytes."""
    from pydicom.uid import JPEG2000
    s = src(name)
    ds = pydicom.dcmread(s)
    pixels = ds.pixel_array.copy()
    ds.compress(JPEG2000, pixels, encoding_plugin="pylibjpeg", j2k_cr=[ratio])
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = ratio
    ds.LossyImageCompressionMethod = "ISO_15444_1"
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dest, enforce_file_format=True)
    back = pydicom.dcmread(dest).pixel_array.astype(np.int64)
    err = np.abs(back - pixels.astype(np.int64))
    assert 0 < err.max() < 200, err.max()  # lossy, but the same image
    note_written(dest)
    return {"origin_package": origin_of(s), "origin_file": name,
            "derivation": f"pixels re-encoded as lossy JPEG 2000 (1.2.840.10008.1.2.4.91, "
                          f"OpenJPEG via pylibjpeg-openjpeg, compression ratio {ratio}: "
                          f"max error {int(err.max())}, mean {err.mean():.2f}); other "
                          "attributes kept, Lossy Image Compression attributes added"}


def crop_native(name: str, dest: Path, size: tuple[int, int],
                extra=None, derivation: str = "") -> dict:
    """Centre crop a single-frame native file, keep all other attributes."""
    s = src(name)
    ds = pydicom.dcmread(s)
    full = ds.pixel_array
    rows, cols = int(ds.Rows), int(ds.Columns)
    h, w = size
    r0, c0 = (rows - h) // 2, (cols - w) // 2
    buf = native_buffer(ds)[r0:r0 + h, c0:c0 + w]
    set_native_pixels(ds, buf)
    if extra:
        extra(ds)
    save(ds, dest)
    back = pydicom.dcmread(dest)
    assert (int(back.Rows), int(back.Columns)) == (h, w)
    assert np.array_equal(back.pixel_array, full[r0:r0 + h, c0:c0 + w])
    return {"origin_package": origin_of(s), "origin_file": name,
            "derivation": derivation or (
                f"crop: rows {r0}..{r0 + h - 1}, columns {c0}..{c0 + w - 1} of the "
                f"original {rows}x{cols} image (stored bit patterns copied verbatim); "
                f"written uncompressed Explicit VR Little Endian; Rows/Columns updated; "
                f"all other attributes kept unchanged (incl. SOP Instance UID and "
                f"PixelSpacing)"),
            "crop": {"row0": r0, "col0": c0, "rows": h, "columns": w,
                     "original_rows": rows, "original_columns": cols}}


# --------------------------------------------------------------------------
# PNG writer (pure numpy + zlib, greyscale 8 or 16 bit, adaptive filtering)
# --------------------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bytes(img: np.ndarray) -> bytes:
    assert img.ndim == 2 and img.dtype in (np.uint8, np.uint16)
    h, w = img.shape
    if img.dtype == np.uint8:
        depth, bpp = 8, 1
        raw = np.ascontiguousarray(img)
    else:
        depth, bpp = 16, 2
        raw = np.ascontiguousarray(img.astype(">u2")).view(np.uint8).reshape(h, w * 2)
    x = raw.astype(np.int32)
    zero_row = np.zeros((1, x.shape[1]), np.int32)
    zero_col = np.zeros((h, bpp), np.int32)
    up = np.vstack([zero_row, x[:-1]])
    left = np.hstack([zero_col, x[:, :-bpp]])
    upleft = np.hstack([zero_col, up[:, :-bpp]])
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    cands = np.stack([x, x - left, x - up, x - (left + up) // 2, x - paeth]) & 0xFF
    cands = cands.astype(np.uint8)
    score = np.abs(cands.view(np.int8).astype(np.int32)).sum(axis=2)  # (5, h)
    choice = np.argmin(score, axis=0)
    out = bytearray()
    for r in range(h):
        f = int(choice[r])
        out.append(f)
        out += cands[f, r].tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(bytes(out), 9))
            + _png_chunk(b"IEND", b""))


# --------------------------------------------------------------------------
# content-addressed output writing (identical outputs are shared)
# --------------------------------------------------------------------------
_BY_HASH: dict[str, Path] = {}


def write_output(name: str, data: bytes) -> str:
    h = sha256_bytes(data)
    if h in _BY_HASH:
        return rel(_BY_HASH[h])
    p = FIX_DIR / name
    p.write_bytes(data)
    _BY_HASH[h] = p
    note_written(p)
    return rel(p)


# --------------------------------------------------------------------------
# 1. inputs
# --------------------------------------------------------------------------
def make_inputs() -> dict:
    print("== inputs: tests/data/dicom/")
    info: dict[str, dict] = {}
    D = IN_DIR

    info["ct_small.dcm"] = copy_verbatim("CT_small.dcm", D / "ct_small.dcm")
    info["mr_small.dcm"] = copy_verbatim("MR_small.dcm", D / "mr_small.dcm")
    info["mr_slope.dcm"] = crop_native("MR2_UNCR.dcm", D / "mr_slope.dcm", (256, 256))
    info["cr_mono1.dcm"] = crop_native("RG1_UNCR.dcm", D / "cr_mono1.dcm", (512, 512))

    # mr_sigmoid: MR_small + VOILUTFunction = SIGMOID (set by us)
    s = src("MR_small.dcm")
    ds = pydicom.dcmread(s)
    ds.VOILUTFunction = "SIGMOID"
    save(ds, D / "mr_sigmoid.dcm")
    back = pydicom.dcmread(D / "mr_sigmoid.dcm")
    assert back.VOILUTFunction == "SIGMOID"
    assert np.array_equal(back.pixel_array, pydicom.dcmread(s).pixel_array)
    info["mr_sigmoid.dcm"] = {
        "origin_package": "pydicom", "origin_file": "MR_small.dcm",
        "derivation": "verbatim dataset with (0028,1056) VOILUTFunction = 'SIGMOID' "
                      "added by this script (not present in the original); pixels "
                      "and all other attributes unchanged"}

    def drop_overlays(d: pydicom.Dataset) -> None:
        for t in [e.tag for e in d if 0x6000 <= e.tag.group <= 0x60FF]:
            del d[t]

    info["mr_multiwindow.dcm"] = crop_native(
        "MR-SIEMENS-DICOM-WithOverlays.dcm", D / "mr_multiwindow.dcm", (256, 256),
        extra=drop_overlays)
    info["mr_multiwindow.dcm"]["derivation"] += (
        "; all overlay elements (groups 6000-60FF) removed; Icon Image Sequence "
        "and the two WindowCenter/WindowWidth values kept")

    info["emri_multiframe.dcm"] = copy_verbatim("emri_small.dcm", D / "emri_multiframe.dcm")
    info["mlut.dcm"] = crop_native("mlut_18.dcm", D / "mlut.dcm", (256, 256))
    info["mlut.dcm"]["derivation"] += "; Modality LUT Sequence kept"
    info["vlut.dcm"] = crop_native("vlut_04.dcm", D / "vlut.dcm", (256, 256))
    info["vlut.dcm"]["derivation"] += "; VOI LUT Sequence kept"

    info["ct_j2k.dcm"] = encode_j2k_lossy("CT_small.dcm", D / "ct_j2k.dcm", ratio=12)
    info["mr_j2k_lossless.dcm"] = copy_verbatim("MR_small_jp2klossless.dcm",
                                                D / "mr_j2k_lossless.dcm")
    info["mr_rle.dcm"] = copy_verbatim("MR_small_RLE.dcm", D / "mr_rle.dcm")
    info["mr_bigendian.dcm"] = copy_verbatim("MR_small_bigendian.dcm", D / "mr_bigendian.dcm")
    info["mr_implicit.dcm"] = copy_verbatim("MR_small_implicit.dcm", D / "mr_implicit.dcm")
    info["explicit_vr_un.dcm"] = copy_verbatim("explicit_VR-UN.dcm", D / "explicit_vr_un.dcm")
    explicit_un = inspect_explicit_vr_un(D / "explicit_vr_un.dcm")
    info["explicit_vr_un.dcm"]["derivation"] += "; UN-encoded attributes: see top-level explicit_vr_un"

    # ct_12bit_signed: sign-extension / unused-bit trap built from CT_small pixels
    s = src("CT_small.dcm")
    ds = pydicom.dcmread(s)
    raw = ds.pixel_array.astype(np.int32)
    stored = np.clip(raw - 1024, -2048, 2047)
    assert stored.min() < 0 < stored.max()
    garbage = 0b1010 << 12
    buf = ((stored & 0x0FFF) | garbage).astype("<u2")
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
    set_native_pixels(ds, buf)
    save(ds, D / "ct_12bit_signed.dcm")
    back = pydicom.dcmread(D / "ct_12bit_signed.dcm")
    got = back.pixel_array.astype(np.int32)
    pydicom_sign_extends = bool(np.array_equal(got, stored))
    assert pydicom_sign_extends, "pydicom did not mask/sign-extend BitsStored=12"
    # what a reader that ignores BitsStored would see:
    naive = buf.view("<i2").astype(np.int32)
    info["ct_12bit_signed.dcm"] = {
        "origin_package": "pydicom", "origin_file": "CT_small.dcm",
        "derivation": (
            "sign-extension trap: real CT_small pixels re-encoded as BitsAllocated 16, "
            "BitsStored 12, HighBit 11, PixelRepresentation 1; stored value = "
            "clip(original_raw - 1024, -2048, 2047) (original raw 128..2191 -> "
            "-896..1167, no clipping happens; ~49% of pixels negative); the 12-bit "
            "two's-complement pattern is kept in bits 0-11 and bits 12-15 are set to "
            "0b1010 (0xA000) in EVERY pixel; RescaleIntercept -1024, RescaleSlope 1 "
            "kept; all other CT_small attributes kept (incl. PixelPaddingValue -2000, "
            "which no pixel equals)"),
        "deviation_from_plan": (
            "the original plan asked for stored = clip(original_raw // 4, -2048, 2047), but "
            "CT_small's raw values are all positive (128..2191), which would give no "
            "negative pixels and make the sign-extension part of the trap untestable; "
            "original_raw - 1024 (= the original Hounsfield value) fits 12-bit signed "
            "without clipping and is ~49% negative"),
        "pydicom_masks_and_sign_extends": pydicom_sign_extends,
        "stored_min": int(stored.min()), "stored_max": int(stored.max()),
        "negative_pixel_count": int((stored < 0).sum()),
        "naive_int16_min": int(naive.min()), "naive_int16_max": int(naive.max()),
    }
    for k, v in info.items():
        p = D / k
        v["size_bytes"] = p.stat().st_size
        v["sha256"] = sha256_file(p)
    return info, explicit_un


def inspect_explicit_vr_un(path: Path) -> dict:
    """Walk the raw top-level elements of an explicit VR LE file and report VRs."""
    b = path.read_bytes()
    assert b[128:132] == b"DICM"
    long_vrs = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"SV", b"UC",
                b"UN", b"UR", b"UT", b"UV"}
    off, elems = 132, []
    while off + 8 <= len(b):
        g, e = struct.unpack_from("<HH", b, off)
        vr = b[off + 4:off + 6]
        if vr in long_vrs:
            ln, hdr = struct.unpack_from("<I", b, off + 8)[0], 12
        else:
            ln, hdr = struct.unpack_from("<H", b, off + 6)[0], 8
        tag = (g << 16) | e
        try:
            kw, dvr = keyword_for_tag(tag) or "", dictionary_VR(tag)
        except KeyError:
            kw, dvr = "", None
        elems.append({"tag": f"({g:04X},{e:04X})", "keyword": kw,
                      "file_vr": vr.decode("ascii"), "dictionary_vr": dvr})
        if ln == 0xFFFFFFFF:  # encapsulated pixel data: stop
            break
        off += hdr + ln
    # cross-check with pydicom's own raw element reader, which reports the VR as
    # encoded in the file.  (A full dcmread with config.replace_un_with_known_vr
    # = False raises TypeError on this file, because (0008,0005) Specific
    # Character Set is itself UN and stays raw bytes.)
    meta_len = struct.unpack_from("<I", b, 132 + 8)[0]
    with open(path, "rb") as fp:
        fp.seek(132 + 12 + meta_len)
        gen = data_element_generator(fp, False, True,
                                     stop_when=lambda t, vr, ln: t == 0x7FE00010)
        pyd_un = [f"({e.tag >> 16:04X},{e.tag & 0xFFFF:04X})" for e in gen if e.VR == "UN"]
    walker_un = [el["tag"] for el in elems if el["file_vr"] == "UN"]
    assert pyd_un == walker_un, (pyd_un, walker_un)
    pixel_kw = ["SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns",
                "PixelSpacing", "BitsAllocated", "BitsStored", "HighBit",
                "PixelRepresentation", "RescaleIntercept", "RescaleSlope",
                "RescaleType", "WindowCenter", "WindowWidth", "VOILUTFunction",
                "ImagePositionPatient", "ImageOrientationPatient", "PixelData"]
    present = {el["keyword"]: el for el in elems}
    pix_un = [k for k in pixel_kw if k in present and present[k]["file_vr"] == "UN"]
    pix_ok = [k for k in pixel_kw if k in present and present[k]["file_vr"] != "UN"]
    pix_absent = [k for k in pixel_kw if k not in present]
    print("  explicit_vr_un.dcm: pixel-relevant attributes encoded as UN:", pix_un)
    print("  explicit_vr_un.dcm: pixel-relevant attributes with their real VR:", pix_ok)
    print("  explicit_vr_un.dcm: pixel-relevant attributes absent:", pix_absent)
    return {
        "pixel_relevant_un": pix_un,
        "pixel_relevant_not_un": {k: present[k]["file_vr"] for k in pix_ok},
        "pixel_relevant_absent": pix_absent,
        "all_un_tags": [f"{el['tag']} {el['keyword'] or 'private'} (dictionary VR "
                        f"{el['dictionary_vr']})" for el in elems if el["file_vr"] == "UN"],
        "pixel_data_vr": present.get("PixelData", {}).get("file_vr"),
        "note": ("read the raw file with an explicit-VR walker and with "
                 "pydicom.filereader.data_element_generator (raw VRs; both agree); "
                 "with config.replace_un_with_known_vr=True (default) "
                 "pydicom silently converts these to their dictionary VRs. A full "
                 "dcmread with replace_un_with_known_vr=False raises TypeError "
                 "because (0008,0005) SpecificCharacterSet is UN. Encapsulated Pixel "
                 "Data is encoded with VR OW (undefined length) instead of OB."),
    }


# --------------------------------------------------------------------------
# 2. demo data
# --------------------------------------------------------------------------
def make_demo() -> dict:
    print("== demo: data/demo/")
    info = {"ct_small.dcm": copy_verbatim("CT_small.dcm", DEMO_DIR / "ct_small.dcm")}
    s = src("RG1_UNCR.dcm")
    ds = pydicom.dcmread(s)
    arr = ds.pixel_array.astype(np.float64)
    f = 4
    R, C = (arr.shape[0] // f) * f, (arr.shape[1] // f) * f
    blocks = arr[:R, :C].reshape(R // f, f, C // f, f).mean(axis=(1, 3))
    small = np.floor(blocks + 0.5).astype(np.uint16)
    assert small.max() < 2 ** int(ds.BitsStored)
    set_native_pixels(ds, small)
    scaled = []
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        if kw in ds:
            vals = [float(v) * f for v in ds[kw].value]
            ds[kw].value = [f"{v:.6g}" for v in vals]
            scaled.append(kw)
    save(ds, DEMO_DIR / "cr_chest.dcm")
    back = pydicom.dcmread(DEMO_DIR / "cr_chest.dcm")
    assert np.array_equal(back.pixel_array, small)
    info["cr_chest.dcm"] = {
        "origin_package": "pydicom-data", "origin_file": "RG1_UNCR.dcm",
        "derivation": (
            f"whole image reduced {f}x by block averaging (mean of each {f}x{f} block, "
            f"rounded half up; last {arr.shape[0] - R} row(s) and {arr.shape[1] - C} "
            f"column(s) of the {arr.shape[0]}x{arr.shape[1]} original dropped so the "
            f"size divides by {f}) -> {R // f}x{C // f}; BitsStored 15 kept; written "
            f"uncompressed Explicit VR Little Endian; {', '.join(scaled) or 'no spacing'} "
            f"scaled x{f} (the original PixelSpacing is '0.000\\0.000', so it stays 0; "
            f"ImagerPixelSpacing is absent); all other attributes kept (incl. "
            f"collimator edges, which refer to the original geometry)")}
    for k, v in info.items():
        p = DEMO_DIR / k
        v["size_bytes"] = p.stat().st_size
        v["sha256"] = sha256_file(p)
    return info


# --------------------------------------------------------------------------
# 3. reference outputs
# --------------------------------------------------------------------------
CASES = [
    # name, input, frame, kind, explicit (center, width)
    ("ct_small", "ct_small.dcm", 0, "full", None),
    ("mr_small", "mr_small.dcm", 0, "full", None),
    ("mr_slope", "mr_slope.dcm", 0, "full", None),
    ("cr_mono1", "cr_mono1.dcm", 0, "full", None),
    ("mr_sigmoid", "mr_sigmoid.dcm", 0, "full", None),
    ("mr_multiwindow", "mr_multiwindow.dcm", 0, "full", None),
    ("emri_multiframe_f0", "emri_multiframe.dcm", 0, "full", None),
    ("emri_multiframe_f7", "emri_multiframe.dcm", 7, "full", None),
    ("emri_multiframe_f0_explicit", "emri_multiframe.dcm", 0, "full", (800.0, 1200.0)),
    ("mlut", "mlut.dcm", 0, "full", None),
    ("vlut", "vlut.dcm", 0, "full", None),
    ("ct_12bit_signed", "ct_12bit_signed.dcm", 0, "full", None),
    ("ct_j2k", "ct_j2k.dcm", 0, "codec", None),
    ("mr_j2k_lossless", "mr_j2k_lossless.dcm", 0, "codec", None),
    ("mr_rle", "mr_rle.dcm", 0, "codec", None),
    ("mr_bigendian", "mr_bigendian.dcm", 0, "codec", None),
    ("mr_implicit", "mr_implicit.dcm", 0, "codec", None),
    ("explicit_vr_un", "explicit_vr_un.dcm", 0, "codec", None),
]


def stats(a: np.ndarray) -> dict:
    conv = int if np.issubdtype(a.dtype, np.integer) else float
    return {"min": conv(a.min()), "max": conv(a.max()), "mean": float(a.mean(dtype=np.float64))}


def first_value(elem) -> float:
    v = elem.value
    if elem.VM > 1:
        v = v[0]
    return float(v)


def pydicom_y_range(dsw: pydicom.Dataset) -> tuple[float, float]:
    """Ask pydicom itself: LINEAR window applied to -inf/+inf gives y_min/y_max."""
    d = copy.deepcopy(dsw)
    d.VOILUTFunction = "LINEAR"
    y = apply_windowing(np.array([-1e300, 1e300]), d, index=0)
    return float(y[0]), float(y[1])


def expected_y_range(ds: pydicom.Dataset) -> tuple[float, float]:
    """Our reading of pydicom 3.0.2 apply_windowing's y_min/y_max logic."""
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    bs = int(ds.BitsStored)
    if int(ds.PixelRepresentation) == 0:
        lo, hi = 0.0, float(2 ** bs - 1)
    else:
        lo, hi = float(-(2 ** (bs - 1))), float(2 ** (bs - 1) - 1)
    if ds.get("RescaleSlope") is not None and ds.get("RescaleIntercept") is not None:
        m, b = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = lo * m + b, hi * m + b
    return lo, hi


def quantise(y_norm: np.ndarray, bits: int, mono1: bool) -> tuple[np.ndarray, int]:
    top = 2 ** bits - 1
    if mono1:
        y_norm = top - y_norm
    frac = y_norm - np.floor(y_norm)
    near = int((np.abs(frac - 0.5) < (2 ** bits) * TIE_REL).sum())
    q = np.clip(np.floor(y_norm + 0.5), 0, top)
    return q.astype(np.uint8 if bits == 8 else np.uint16), near


def write_png(case: str, func: str, bits: int, q: np.ndarray) -> dict:
    data = png_bytes(q)
    if cv2 is not None:
        dec = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert dec is not None and dec.dtype == q.dtype and np.array_equal(dec, q)
    px = q.shape[0] * q.shape[1]
    keep = (ALL_OUTPUTS or len(data) <= PNG_ALWAYS_BYTES or bits == 8
            or (func in ("LINEAR", "TABLE") and px <= DUMP_MAX_PIXELS))
    out = {"path": write_output(f"{case}.{func}.{bits}.png", data) if keep else None,
           "png_bit_depth": 8 if bits == 8 else 16,
           "pixels_sha256": sha256_bytes(np.ascontiguousarray(q.astype("<u2")).tobytes()),
           "min": int(q.min()), "max": int(q.max())}
    if not keep:
        out["skipped_reason"] = f"size policy (PNG would be {len(data)} bytes)"
    return out


def make_case(name: str, fname: str, frame: int, kind: str, explicit) -> dict:
    path = IN_DIR / fname
    ds = pydicom.dcmread(path)
    nframes = int(ds.get("NumberOfFrames", 1) or 1)
    arr = ds.pixel_array
    if nframes > 1:
        arr = arr[frame]
    else:
        assert frame == 0
    rows, cols = arr.shape
    px = rows * cols
    photometric = str(ds.PhotometricInterpretation)
    m = apply_modality_lut(arr, ds)

    if ds.get("ModalityLUTSequence"):
        mod_src = "modality_lut_sequence"
    elif "RescaleSlope" in ds and "RescaleIntercept" in ds:
        mod_src = "rescale"
    else:
        mod_src = "identity"

    m_np = np.asarray(m)
    integral = bool(np.all(np.floor(m_np) == m_np))
    st_bytes = np.ascontiguousarray(arr.astype("<i4")).tobytes()
    mo_bytes = np.ascontiguousarray(m_np.astype("<f4")).tobytes()
    keep_st = ALL_OUTPUTS or px <= FULL_MAX_PIXELS
    keep_mo = ALL_OUTPUTS or px <= FULL_MAX_PIXELS or (px <= DUMP_MAX_PIXELS and not integral)
    stored = {"path": write_output(f"{name}.stored.i32", st_bytes) if keep_st else None,
              "dtype": "<i4", "sha256": sha256_bytes(st_bytes), **stats(arr)}
    modality = {"path": write_output(f"{name}.modality.f32", mo_bytes) if keep_mo else None,
                "dtype": "<f4", "sha256": sha256_bytes(mo_bytes), **stats(m_np),
                "source": mod_src, "pydicom_dtype": str(m_np.dtype),
                "all_integer": integral}
    why = (f"size policy ({rows}x{cols} per frame): dump not written; sha256 of the "
           f"would-be dump and min/max/mean recorded instead")
    if not keep_st:
        stored["skipped_reason"] = why
    if not keep_mo:
        modality["skipped_reason"] = why

    case = {
        "name": name, "input": rel(path), "frame": frame,
        "number_of_frames": nframes, "rows": rows, "columns": cols,
        "photometric": photometric,
        "bits_allocated": int(ds.BitsAllocated), "bits_stored": int(ds.BitsStored),
        "high_bit": int(ds.HighBit), "pixel_representation": int(ds.PixelRepresentation),
        "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
        "pixel_array_dtype": str(arr.dtype),
        "stored": stored, "modality": modality, "window": None,
    }
    if kind == "codec":
        return case

    mono1 = photometric == "MONOCHROME1"
    file_func = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    has_win = ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None
    has_vlut = bool(ds.get("VOILUTSequence"))

    if explicit is not None:
        source, (center, width) = "explicit", explicit
        funcs, default_func = FUNCTIONS, "LINEAR"
    elif has_win:
        source = "file"
        center, width = first_value(ds["WindowCenter"]), first_value(ds["WindowWidth"])
        funcs, default_func = FUNCTIONS, file_func
    elif has_vlut:
        source, center, width = "voi_lut_sequence", None, None
        funcs, default_func = ["TABLE"], "TABLE"
    else:
        source = "min_max"
        mn, mx = float(m_np.min()), float(m_np.max())
        width = mx - mn + 1.0
        center = mn + width / 2.0
        funcs, default_func = FUNCTIONS, "LINEAR"

    window = {"source": source, "center": center, "width": width,
              "default_function": default_func, "file_voi_lut_function":
              (str(ds.VOILUTFunction) if "VOILUTFunction" in ds else None),
              "photometric": photometric, "inverted": mono1}
    if source == "file":
        wc, ww = ds["WindowCenter"], ds["WindowWidth"]
        window["file_window_count"] = int(max(wc.VM, ww.VM))
        window["file_window_centers"] = [float(v) for v in (wc.value if wc.VM > 1 else [wc.value])]
        window["file_window_widths"] = [float(v) for v in (ww.value if ww.VM > 1 else [ww.value])]

    outputs = []
    if source == "voi_lut_sequence":
        dsw = copy.deepcopy(ds)
        for kw in ("WindowCenter", "WindowWidth", "VOILUTFunction"):
            if kw in dsw:
                del dsw[kw]
        item = dsw.VOILUTSequence[0]
        lut_bits = int(item.LUTDescriptor[2])
        y = np.asarray(apply_voi_lut(m_np, dsw, index=0, prefer_lut=True)).astype(np.float64)
        window.update({"y_min": 0.0, "y_max": float(2 ** lut_bits - 1),
                       "lut_descriptor": [int(v) for v in item.LUTDescriptor],
                       "lut_bits": lut_bits, "voi_lut_count": len(dsw.VOILUTSequence)})
        for bits in BITS:
            y_norm = y / (2 ** lut_bits - 1) * (2 ** bits - 1)
            q, near = quantise(y_norm, bits, mono1)
            o = {"function": "TABLE", "bits": bits, "near_half_count": near}
            o.update(write_png(name, "TABLE", bits, q))
            outputs.append(o)
    else:
        dsw = copy.deepcopy(ds)
        if "VOILUTSequence" in dsw:
            del dsw["VOILUTSequence"]
        dsw.WindowCenter = center
        dsw.WindowWidth = width
        y_min, y_max = pydicom_y_range(dsw)
        e_min, e_max = expected_y_range(ds)
        assert math.isclose(y_min, e_min, rel_tol=0, abs_tol=1e-9), (y_min, e_min)
        assert math.isclose(y_max, e_max, rel_tol=0, abs_tol=1e-9), (y_max, e_max)
        window.update({"y_min": y_min, "y_max": y_max})
        for func in funcs:
            dsf = copy.deepcopy(dsw)
            dsf.VOILUTFunction = func
            y = np.asarray(apply_voi_lut(m_np, dsf, index=0, prefer_lut=False), np.float64)
            check_against_standard(y, m_np, center, width, func, y_min, y_max)
            for bits in BITS:
                y_norm = (y - y_min) / (y_max - y_min) * (2 ** bits - 1)
                q, near = quantise(y_norm, bits, mono1)
                o = {"function": func, "bits": bits, "near_half_count": near}
                o.update(write_png(name, func, bits, q))
                outputs.append(o)
    window["outputs"] = outputs
    case["window"] = window
    return case


STANDARD_CHECKS: list[str] = []


def check_against_standard(y, x, c, w, func, y_min, y_max) -> None:
    """Independent PS3.3 C.11.2.1.2 / C.11.2.1.3 implementation vs pydicom."""
    x = np.asarray(x, np.float64)
    r = y_max - y_min
    if func == "LINEAR":
        lo, hi = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            mid = ((x - (c - 0.5)) / (w - 1) + 0.5) * r + y_min
        ref = np.where(x <= lo, y_min, np.where(x > hi, y_max, mid))
    elif func == "LINEAR_EXACT":
        lo, hi = c - w / 2, c + w / 2
        ref = np.where(x <= lo, y_min, np.where(x > hi, y_max, ((x - c) / w + 0.5) * r + y_min))
    else:
        ref = r / (1 + np.exp(-4 * (x - c) / w)) + y_min
    err = float(np.max(np.abs(ref - y))) if y.size else 0.0
    tol = 1e-9 * max(1.0, abs(r))
    STANDARD_CHECKS.append(f"{func} c={c} w={w}: max |pydicom - PS3.3| = {err:.3g}")
    assert err <= tol, f"pydicom {func} deviates from PS3.3 by {err}"


# --------------------------------------------------------------------------
def main() -> None:
    FIX_DIR.mkdir(parents=True, exist_ok=True)
    for p in sorted(FIX_DIR.iterdir()):
        if p.suffix in (".i32", ".f32", ".png") or p.name == "manifest.json":
            p.unlink()

    inputs, explicit_un = make_inputs()
    demo = make_demo()

    print("== reference outputs: tests/fixtures/pydicom/")
    cases = [make_case(*c) for c in CASES]

    manifest = {
        "schema_version": 1,
        "generator": "scripts/make_fixtures.py",
        "versions": {
            "python": platform.python_version(),
            "pydicom": pydicom.__version__,
            "numpy": np.__version__,
            "pydicom-data": pkg_version("pydicom-data"),
            "pylibjpeg": pkg_version("pylibjpeg"),
            "pylibjpeg-openjpeg": pkg_version("pylibjpeg-openjpeg"),
            "opencv-python-headless (PNG check only)": pkg_version("opencv-python-headless"),
        },
        "conventions": {
            "paths": "relative to the repository root; outputs with identical bytes are "
                     "written once and the same path is given for every case using them",
            "stored": "ds.pixel_array for the case's frame, cast to int32, little-endian, "
                      "row-major (rows x columns), no header",
            "modality": "pydicom.pixels.apply_modality_lut(pixel_array_frame, ds) cast to "
                        "float32, little-endian, row-major, no header",
            "size_policy": SIZE_POLICY if not ALL_OUTPUTS else "--all-outputs: everything written",
            "window": "m = modality values (float64); VOI applied by "
                      "pydicom.pixels.apply_voi_lut(m, ds_copy, index=0, prefer_lut=False) "
                      "on a copy of the dataset with WindowCenter/WindowWidth/"
                      "VOILUTFunction set to the case's center/width/function and the "
                      "VOI LUT Sequence deleted (source voi_lut_sequence: prefer_lut=True "
                      "with the file's first VOI LUT item, window attributes deleted); "
                      "y_norm = (y - y_min) / (y_max - y_min) * (2**bits - 1) (TABLE: "
                      "y_norm = y / (2**lut_bits - 1) * (2**bits - 1)); if photometric is "
                      "MONOCHROME1: y_norm = (2**bits - 1) - y_norm; output = "
                      "clip(floor(y_norm + 0.5), 0, 2**bits - 1)",
            "window_sources": {
                "explicit": "center/width given by the case; all three functions written",
                "file": "first WindowCenter/WindowWidth value of the file; all three "
                        "functions written (function overridden, center/width kept); "
                        "default_function is the file's VOILUTFunction (LINEAR if absent)",
                "voi_lut_sequence": "the file's first VOI LUT Sequence item; one output "
                                    "per bits with function TABLE",
                "min_max": "width = max(m) - min(m) + 1, center = min(m) + width / 2 "
                           "(m = modality values of this frame); all three functions "
                           "written with the same center/width",
            },
            "png": "greyscale PNG, 8-bit for bits 8, 16-bit for bits 12 and 16 holding "
                   "the unscaled output values (12-bit outputs max 4095); pixels_sha256 "
                   "is the sha256 of the output values as little-endian uint16 row-major",
            "near_half_count": "pixels whose y_norm (after MONOCHROME1 inversion) has "
                               "|frac(y_norm) - 0.5| < 2**bits * 2**-20 (0.000244 for 8 "
                               "bits, 0.0039 for 12, 0.0625 for 16; roughly 16 float32 "
                               "ulps of full scale): where an implementation using "
                               "float32 arithmetic may legitimately round the other way "
                               "(differ by 1); expect up to about this many +-1 pixels",
        },
        "notes": [
            "pydicom 3.0.2 apply_windowing implements LINEAR, LINEAR_EXACT and SIGMOID "
            "exactly as PS3.3 C.11.2.1.2.1 / C.11.2.1.3.1 / C.11.2.1.3.2 (checked "
            "numerically for every windowed case against an independent implementation; "
            "max deviations listed in standard_checks).",
            "y_min/y_max are pydicom's choice, not something PS3.3 fixes (the standard "
            "leaves the VOI output range to the implementation): pydicom uses the range "
            "of the stored values, [0, 2**BitsStored-1] unsigned or [-2**(BitsStored-1), "
            "2**(BitsStored-1)-1] signed, mapped through RescaleSlope/RescaleIntercept "
            "when both are present; with a Modality LUT Sequence it uses [0, "
            "2**LUTDescriptor[2]-1]. After the normalisation defined above LINEAR and "
            "LINEAR_EXACT outputs do not depend on y_min/y_max; SIGMOID output does not "
            "either. y_min/y_max recorded per case were obtained from pydicom itself.",
            "pydicom applies only the top-level Modality LUT / VOI attributes; it does "
            "not look into functional group sequences (none of these inputs has them).",
            "pydicom ignores PixelPaddingValue (ct_small, ct_12bit_signed carry -2000; "
            "no pixel has that value) and PresentationLUTShape (emri: IDENTITY).",
            "ct_j2k.dcm is lossy JPEG 2000 (decoded here by pylibjpeg-openjpeg); other "
            "J2K decoders may legitimately differ slightly, so its stored sha256 may "
            "only match an OpenJPEG-based decoder. It is CT_small.dcm's pixels "
            "(signed 16-bit) re-encoded lossy by this script (ratio 12).",
            "mr_slope.dcm, cr_mono1.dcm, mr_multiwindow.dcm, mlut.dcm, vlut.dcm are "
            "centre crops (DerivationDescription-like remark: 'cropped from the "
            "original, pixel values unchanged'); see inputs[...].derivation.",
            "mr_sigmoid.dcm has VOILUTFunction SIGMOID added by this script to a real "
            "image; its windowed outputs equal mr_small's (same pixels/center/width, "
            "function overridden per output), so the PNG paths are shared; use "
            "window.default_function to find the output for the file's own function.",
            "mlut.dcm (from mlut_18.dcm) is BitsStored 12 signed and its raw 16-bit "
            "words are NOT sign-extended (bits 12-15 are 0 for negative values), so "
            "it is a second sign-extension test: read as plain int16 it gives "
            "0..4095 instead of -2048..2047. The Modality LUT Sequence's first "
            "mapped value is -2048 (LUTDescriptor [4096, -2048, 16]).",
            "ct_12bit_signed.dcm: see inputs['tests/data/dicom/ct_12bit_signed.dcm'] "
            "for the construction and the deviation from the original plan.",
        ],
        "standard_checks": STANDARD_CHECKS,
        "explicit_vr_un": explicit_un,
        "inputs": {rel(IN_DIR / k): v for k, v in inputs.items()},
        "demo": {rel(DEMO_DIR / k): v for k, v in demo.items()},
        "cases": cases,
    }
    mp = FIX_DIR / "manifest.json"
    mp.write_text(json.dumps(manifest, indent=1) + "\n")
    note_written(mp)

    print("\n== summary")
    print(f"{'file':60s} {'bytes':>9s}")
    groups: dict[str, int] = {}
    for p in WRITTEN:
        n = p.stat().st_size
        print(f"{rel(p):60s} {n:9d}")
        top = rel(p).split("/")[0]
        groups[top] = groups.get(top, 0) + n
    for k, v in groups.items():
        print(f"{'total under ' + k + '/':60s} {v:9d}")
    print(f"{'total':60s} {sum(groups.values()):9d}")
    print(f"pydicom {pydicom.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
