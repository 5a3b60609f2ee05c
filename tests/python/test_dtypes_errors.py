"""Every dtype and odd widths keep their dtype and shape; bad arrays and bad files raise with the
argument or file named, never a panic."""

import pathlib

import numpy as np
import pytest

import radpipe
from conftest import smooth

DTYPES = [np.uint8, np.uint16, np.int16, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", [1, 3, 5, 7, 33])
def test_dtype_and_odd_widths_preserved(engine, rng, dtype, width):
    hi = 200 if dtype != np.int16 else 100
    img = smooth(rng, 16, max(width, 8), dtype, 0, hi)[:, :width]
    img = np.ascontiguousarray(img)
    ident = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    for out in (radpipe.warp_affine(img, ident, engine=engine),
                radpipe.rotate(img, 0.0, engine=engine),
                radpipe.crop(img, ((width - 1) / 2, 7.5), (width, 16), engine=engine)):
        assert out.dtype == img.dtype and out.shape == img.shape
        np.testing.assert_array_equal(out, img)
    r = radpipe.resize(img, (width + 2, 9), engine=engine)
    assert r.dtype == img.dtype and r.shape == (9, width + 2)


def test_window_array_dtypes(engine):
    for dtype in DTYPES:
        a = np.arange(0, 200, dtype=dtype).reshape(8, 25)
        out = radpipe.window(a, center=100, width=200, engine=engine)
        assert out.dtype == np.uint8 and out.shape == (8, 25)
        assert radpipe.window(a, center=100, width=200, bits=16, engine=engine).dtype == np.uint16


def test_bad_arrays_name_the_argument(engine):
    ok = np.zeros((8, 8), np.uint8)
    m = [[1, 0, 0], [0, 1, 0]]
    with pytest.raises(TypeError, match=r"img: dtype float64 is not supported"):
        radpipe.warp_affine(np.zeros((8, 8)), m, engine=engine)
    with pytest.raises(TypeError, match=r"img: dtype"):
        radpipe.equalize(np.zeros((8, 8), np.int32), engine=engine)
    with pytest.raises(TypeError, match=r"img: dtype"):
        radpipe.resize(np.zeros((8, 8), ">u2"), (4, 4), engine=engine)
    with pytest.raises(ValueError, match=r"img: expected a 2-D"):
        radpipe.resize(np.zeros((8, 8, 3), np.uint8), (4, 4), engine=engine)
    with pytest.raises(ValueError, match=r"img: the array is not C-contiguous"):
        radpipe.clahe(np.zeros((16, 16), np.uint8)[:, ::2], engine=engine)
    with pytest.raises(TypeError, match=r"img: expected a numpy.ndarray, got list"):
        radpipe.equalize([[1, 2], [3, 4]], engine=engine)
    with pytest.raises(TypeError, match=r"reference: dtype"):
        radpipe.match_histogram(ok, np.zeros((8, 8), np.float64), engine=engine)
    with pytest.raises(ValueError, match=r"m: expected a 2x3 matrix"):
        radpipe.warp_affine(ok, np.eye(3), engine=engine)
    with pytest.raises(TypeError, match=r"src: expected a pydicom Dataset, a path"):
        radpipe.window(42, engine=engine)
    with pytest.raises(radpipe.InvalidInputError, match="invalid image"):
        radpipe.equalize(np.zeros((0, 8), np.uint8), engine=engine)


def test_bad_parameters_carry_the_cli_message(engine):
    ok = np.zeros((8, 8), np.uint16)
    with pytest.raises(radpipe.InvalidInputError, match=r"output bits 7 not supported"):
        radpipe.window(ok, bits=7, engine=engine)
    with pytest.raises(radpipe.InvalidInputError, match=r"give both --center and --width"):
        radpipe.window(ok, center=5, engine=engine)
    with pytest.raises(radpipe.InvalidInputError, match=r"border 'wrap'"):
        radpipe.rotate(ok, 3, border="wrap", engine=engine)
    with pytest.raises(radpipe.InvalidInputError, match=r"scale 0"):
        radpipe.rotate(ok, 3, scale=0, engine=engine)
    with pytest.raises(radpipe.RadpipeError):
        radpipe.stitch([ok, ok], engine=engine)  # arrays have no geometry and no offsets


def test_bad_files_name_the_file(engine, tmp_path: pathlib.Path):
    missing = tmp_path / "nope.dcm"
    with pytest.raises(radpipe.RadpipeError, match=str(missing)):
        radpipe.window(missing, engine=engine)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 20)
    with pytest.raises(radpipe.InvalidInputError, match=str(junk)):
        radpipe.window(junk, engine=engine)
    with pytest.raises(radpipe.RadpipeError, match=str(missing)):
        radpipe.stitch([missing, missing], engine=engine)


def test_error_hierarchy():
    assert issubclass(radpipe.InvalidInputError, radpipe.RadpipeError)
    assert issubclass(radpipe.DeviceLimitError, radpipe.RadpipeError)
    assert issubclass(radpipe.NoAdapterError, radpipe.GpuError)
    assert issubclass(radpipe.GpuError, radpipe.RadpipeError)
    with pytest.raises(radpipe.NoAdapterError, match="no GPU adapter"):
        radpipe.Engine(adapter="no such adapter anywhere")
    with pytest.raises(radpipe.NoAdapterError, match="on PCI bus id 0000:ff:1f.7"):
        radpipe.Engine(pci_bus_id="0000:ff:1f.7")
