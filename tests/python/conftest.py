"""Shared fixtures of the Python tests (run from the installed package: see docs/python.md)."""

import os
import pathlib
import shutil

import numpy as np
import pytest

import radpipe

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture(scope="session")
def engine() -> radpipe.Engine:
    try:
        return radpipe.Engine()
    except radpipe.NoAdapterError as e:  # never a silent pass
        pytest.fail(f"{e}\n(on Debian/Ubuntu: apt-get install mesa-vulkan-drivers)")


@pytest.fixture(scope="session")
def cli() -> str:
    """The `radpipe` binary `cargo test --release` built (RADPIPE_CLI overrides)."""
    candidates = [os.environ.get("RADPIPE_CLI")]
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        candidates.append(os.path.join(target, "release", "radpipe"))
    candidates += [str(REPO / "target" / "release" / "radpipe"), shutil.which("radpipe")]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    pytest.fail("no radpipe binary: run `cargo build --release` (or set RADPIPE_CLI)")


@pytest.fixture
def rng():
    seed = int.from_bytes(os.urandom(4), "little")
    print(f"seed {seed}")
    return np.random.default_rng(seed)


def smooth(rng, h, w, dtype, lo=0, hi=255):
    """A smooth random image (low-frequency: bilinear parity is meaningful) plus a little noise."""
    small = rng.uniform(lo, hi, size=(h // 8 + 2, w // 8 + 2))
    ys = np.linspace(0, small.shape[0] - 1.001, h)
    xs = np.linspace(0, small.shape[1] - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = small[y0][:, x0] * (1 - fy) * (1 - fx) + small[y0 + 1][:, x0] * fy * (1 - fx) \
        + small[y0][:, x0 + 1] * (1 - fy) * fx + small[y0 + 1][:, x0 + 1] * fy * fx
    a = a + rng.normal(0, (hi - lo) * 0.01, size=a.shape)
    return np.clip(np.rint(a), lo, hi).astype(dtype)
