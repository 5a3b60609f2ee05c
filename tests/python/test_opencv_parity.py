"""Parity with cv2 within the CLI's stated tolerances (docs/cli.md): resampling with
sampling="opencv" ≥ 99.9 % of pixels within 1 LSB and none over 2; equalize equal to
cv2.equalizeHist; CLAHE within 1 LSB."""

import cv2
import numpy as np
import pytest

import radpipe
from conftest import smooth


def assert_parity(actual, expected, what):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, what
    d = np.abs(actual.astype(np.int64) - expected.astype(np.int64))
    within1 = (d <= 1).mean()
    assert within1 >= 0.999 and d.max() <= 2, f"{what}: {within1:.5%} within 1 LSB, max {d.max()}"


DTYPES = [(np.uint8, 255), (np.uint16, 65535)]


@pytest.mark.parametrize("dtype,top", DTYPES)
@pytest.mark.parametrize("border,cv_border", [("constant", cv2.BORDER_CONSTANT),
                                              ("replicate", cv2.BORDER_REPLICATE),
                                              ("reflect", cv2.BORDER_REFLECT_101)])
def test_warp_affine(engine, rng, dtype, top, border, cv_border):
    img = smooth(rng, 123, 157, dtype, 0, top)
    m = np.array([[0.93, 0.21, -7.5], [-0.17, 1.08, 4.25]])
    out = radpipe.warp_affine(img, m, (141, 119), border=border, border_value=17,
                              sampling="opencv", engine=engine)
    ref = cv2.warpAffine(img, m, (141, 119), flags=cv2.INTER_LINEAR, borderMode=cv_border,
                         borderValue=17)
    assert_parity(out, ref, f"warp_affine {dtype.__name__} {border}")


@pytest.mark.parametrize("dtype,top", DTYPES)
def test_warp_affine_inverse_and_perspective(engine, rng, dtype, top):
    img = smooth(rng, 96, 131, dtype, 0, top)
    m = np.array([[1.1, -0.05, 3.0], [0.07, 0.95, -2.0]])
    out = radpipe.warp_affine(img, m, (120, 90), inverse=True, sampling="opencv", engine=engine)
    ref = cv2.warpAffine(img, m, (120, 90), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    assert_parity(out, ref, "warp_affine inverse")
    h = np.array([[1.02, 0.05, -4.0], [0.03, 0.97, 2.0], [2e-4, -1e-4, 1.0]])
    out = radpipe.warp_perspective(img, h, (127, 99), sampling="opencv", engine=engine)
    ref = cv2.warpPerspective(img, h, (127, 99), flags=cv2.INTER_LINEAR)
    assert_parity(out, ref, "warp_perspective")


@pytest.mark.parametrize("dtype,top", DTYPES)
@pytest.mark.parametrize("dsize,mode,flag", [((77, 51), "linear", cv2.INTER_LINEAR),
                                             ((301, 203), "linear", cv2.INTER_LINEAR),
                                             ((49, 33), "area", cv2.INTER_AREA)])
def test_resize(engine, rng, dtype, top, dsize, mode, flag):
    img = smooth(rng, 101, 153, dtype, 0, top)
    out = radpipe.resize(img, dsize, mode=mode, sampling="opencv", engine=engine)
    ref = cv2.resize(img, dsize, interpolation=flag)
    assert_parity(out, ref, f"resize {mode} {dsize}")


@pytest.mark.parametrize("dtype,top", DTYPES)
def test_rotate(engine, rng, dtype, top):
    img = smooth(rng, 111, 145, dtype, 0, top)
    for angle, center, scale in [(17.5, None, 1.0), (-33.0, (40.0, 61.5), 0.8)]:
        out = radpipe.rotate(img, angle, center=center, scale=scale, sampling="opencv",
                             engine=engine)
        c = ((img.shape[1] - 1) / 2, (img.shape[0] - 1) / 2) if center is None else center
        m = cv2.getRotationMatrix2D(c, angle, scale)
        ref = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR)
        assert_parity(out, ref, f"rotate {angle}")


def test_equalize_equals_cv2(engine, rng):
    for shape in [(256, 256), (97, 131), (1, 7)]:
        img = smooth(rng, max(shape[0], 8), max(shape[1], 8), np.uint8)[: shape[0], : shape[1]]
        img = np.ascontiguousarray(img)
        np.testing.assert_array_equal(radpipe.equalize(img, engine=engine),
                                      cv2.equalizeHist(img))


@pytest.mark.parametrize("dtype,top", DTYPES)
def test_clahe_within_one_lsb(engine, rng, dtype, top):
    img = smooth(rng, 200, 173, dtype, 0, top)
    for clip, tiles in [(2.0, (8, 8)), (4.0, (5, 3))]:
        out = radpipe.clahe(img, clip_limit=clip, tiles=tiles, engine=engine)
        ref = cv2.createCLAHE(clipLimit=clip, tileGridSize=tiles).apply(img)
        d = np.abs(out.astype(np.int64) - ref.astype(np.int64))
        assert out.dtype == ref.dtype and d.max() <= 1, f"clahe {dtype.__name__}: max {d.max()}"


def test_match_histogram_to_itself_is_identity_on_values(engine, rng):
    img = smooth(rng, 64, 80, np.uint8)
    out = radpipe.match_histogram(img, img, engine=engine)
    np.testing.assert_array_equal(out, img)
