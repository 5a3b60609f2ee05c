"""window() against pydicom's apply_modality_lut + apply_voi_lut on the repository's DICOM fixtures
(MONOCHROME1, multi-frame, VOI LUT Sequence, sigmoid, rescale included), and the three kinds of
source (path, Dataset, array of stored values) giving the same result."""

import copy
import pathlib

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.pixels.processing import apply_windowing

import radpipe

DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "dicom"
FILES = sorted(p.name for p in DATA.glob("*.dcm"))


def frame_of(ds, frame):
    arr = ds.pixel_array
    return arr[frame] if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr


def pydicom_display(ds, frame, bits):
    """The display values pydicom gives, scaled to `bits` as radpipe writes them (the recipe of
    scripts/make_fixtures.py): modality LUT, then the file's first window (else its VOI LUT
    Sequence, else the modality range), normalised over pydicom's output range, MONOCHROME1
    inverted, rounded half up."""
    m = np.asarray(apply_modality_lut(frame_of(ds, frame), ds), np.float64)
    top = 2 ** bits - 1
    has_win = ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None
    if not has_win and ds.get("VOILUTSequence"):
        lut_bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        y = np.asarray(apply_voi_lut(m, ds, index=0, prefer_lut=True), np.float64)
        y_norm = y / (2 ** lut_bits - 1) * top
    else:
        dsw = copy.deepcopy(ds)
        if "VOILUTSequence" in dsw:
            del dsw["VOILUTSequence"]
        if not has_win:
            width = m.max() - m.min() + 1.0
            dsw.WindowCenter, dsw.WindowWidth = m.min() + width / 2.0, width
        probe = copy.deepcopy(dsw)
        probe.VOILUTFunction = "LINEAR"
        y_min, y_max = apply_windowing(np.array([-1e300, 1e300]), probe, index=0)
        y = np.asarray(apply_voi_lut(m, dsw, index=0, prefer_lut=False), np.float64)
        y_norm = (y - y_min) / (y_max - y_min) * top
    if ds.PhotometricInterpretation == "MONOCHROME1":
        y_norm = top - y_norm
    return np.clip(np.floor(y_norm + 0.5), 0, top)


def readable(name):
    ds = pydicom.dcmread(DATA / name)
    try:
        ds.pixel_array
    except Exception as e:  # a codec pydicom lacks here (JPEG 2000 without pylibjpeg)
        return None, str(e)
    return ds, None


CASES = [(n, 0) for n in FILES] + [("emri_multiframe.dcm", 7)]


@pytest.mark.parametrize("name,frame", CASES)
@pytest.mark.parametrize("bits", [8, 16])
def test_window_dataset_matches_pydicom(engine, name, frame, bits):
    ds, why = readable(name)
    if ds is None:
        pytest.skip(f"pydicom cannot decode {name} here: {why}")
    expected = pydicom_display(ds, frame, bits)
    actual = radpipe.window(ds, bits=bits, frame=frame, engine=engine)
    assert actual.dtype == (np.uint8 if bits == 8 else np.uint16)
    d = np.abs(actual.astype(np.float64) - expected)
    # Within 1 LSB everywhere (pydicom computes in float64 with its own rounding; ties differ).
    assert d.max() <= 1, f"{name} f{frame} {bits}-bit: max difference {d.max()}"
    assert (d > 0).mean() <= 0.01, f"{name}: {(d > 0).mean():.3%} pixels differ"


def test_fixture_set_covers_monochrome1_and_multiframe():
    kinds = {pydicom.dcmread(DATA / n, stop_before_pixels=True).PhotometricInterpretation
             for n in FILES}
    assert "MONOCHROME1" in kinds
    assert int(pydicom.dcmread(DATA / "emri_multiframe.dcm").NumberOfFrames) > 7


@pytest.mark.parametrize("name", FILES)
def test_window_path_equals_window_dataset(engine, name):
    path = DATA / name
    by_path = radpipe.window(path, engine=engine)
    by_str = radpipe.window(str(path), engine=engine)
    by_ds = radpipe.window(pydicom.dcmread(path), engine=engine)
    np.testing.assert_array_equal(by_path, by_ds)
    np.testing.assert_array_equal(by_path, by_str)


def test_window_array_with_rescale_equals_file(engine):
    ds = pydicom.dcmread(DATA / "ct_small.dcm")
    assert float(ds.RescaleIntercept) != 0
    stored = np.ascontiguousarray(ds.pixel_array)
    rescale = dict(slope=float(ds.RescaleSlope), intercept=float(ds.RescaleIntercept))
    for c, w, f in [(40.0, 400.0, "linear"), (300.0, 1500.0, "sigmoid")]:
        out = radpipe.window(stored, center=c, width=w, function=f, **rescale, engine=engine)
        np.testing.assert_array_equal(
            out, radpipe.window(ds, center=c, width=w, function=f, engine=engine))
    # No window: the range of the modality values, as for the file (which has no window either).
    np.testing.assert_array_equal(radpipe.window(stored, **rescale, engine=engine),
                                  radpipe.window(ds, engine=engine))


def test_window_matches_the_cli(engine, cli, tmp_path):
    import subprocess

    import cv2

    src = DATA / "cr_mono1.dcm"
    out = tmp_path / "cli.png"
    subprocess.run([cli, "window", str(src), "-o", str(out), "--bits", "16"], check=True,
                   capture_output=True)
    np.testing.assert_array_equal(radpipe.window(src, bits=16, engine=engine),
                                  cv2.imread(str(out), cv2.IMREAD_UNCHANGED))


def test_bad_frame_names_the_dataset(engine):
    path = DATA / "ct_small.dcm"
    ds = pydicom.dcmread(path)
    with pytest.raises(radpipe.InvalidInputError, match=r"ct_small.dcm: .*frame 3 requested"):
        radpipe.window(ds, frame=3, engine=engine)
