#!/usr/bin/env python3
"""Make the PaddleSeg reference fixtures for radpipe's BiSeNetV2 parity tests.

What it writes (relative to the repository root), all under ``tests/fixtures/bisenet/``
---------------------------------------------------------------------------------------
* ``weights.pdparams`` - the state dict of ``paddleseg.models.BiSeNetV2(num_classes=2,
  lambd=0.25, align_corners=False)`` saved exactly as PaddleSeg's trainer saves a
  checkpoint (``paddle.save(model.state_dict(), "model.pdparams")``): a pickle of a dict
  parameter name -> numpy array (plus paddle's ``StructuredToParameterName@@`` entry).
  The weights are random (seeded) and the batch-norm running statistics are random
  too, so a model that ignored them, swapped mean and variance or used another
  epsilon fails the test.
* ``logits.<H>x<W>.f32`` - the eval-mode output of that model (``model.eval()``,
  ``model(x)[0]``, shape 1 x 2 x H x W) as little-endian float32, row-major (class,
  row, column), no header; for 256x256, 384x384 and the odd size 200x264.
* ``tiny_proto2.pdparams`` - a three-array dict pickled with protocol 2 (the format of
  older Python 2 era paddle checkpoints: array bytes as latin-1 strings through
  ``_codecs.encode``), a float64 array, a Fortran-ordered array and an int64 array, to
  test the pickle reader on the other opcodes. Its expected contents are in the
  manifest.
* ``manifest.json`` - versions (paddlepaddle, paddleseg, numpy, python), the seeds,
  the model configuration, the parameter count, every logits file with its shape and
  min/max/mean/std, and how the inputs are made.

The inputs are not stored: they are SplitMix64 streams that the Rust test harness
(``tests/common::Rng``) reproduces exactly. For an input of size H x W with seed S, the
value at flat NCHW index i (N = 1, C = 3) is ``float32(-1 + 2 * u_i)``, where ``u_i`` is
the (i+1)-th output of SplitMix64 started at state S, mapped to [0, 1) as
``(z >> 11) / 2**53``.

How the random weights are made
-------------------------------
Convolution weights: normal with standard deviation sqrt(2 / fan_in) (He); biases and
batch-norm gamma/beta uniform. Running statistics: every batch norm is first
calibrated on random inputs (train mode, momentum 0, so each holds the statistics
of the features it sees and activations stay O(1) through the 60 layers), then
perturbed: mean += 0.2 * sqrt(var) * N(0, 1), var *= U(0.6, 1.6). So running stats
differ from batch stats and matter in eval mode.

How to rerun
------------
From the repository root (a separate venv; the repository's ``.venv`` is for
pydicom/OpenCV)::

    python3 -m venv .venv-paddle && .venv-paddle/bin/pip install paddlepaddle paddleseg "numpy<2"
    .venv-paddle/bin/python scripts/make_bisenet_fixtures.py

The script is deterministic on one machine (fixed seeds, no timestamps) and rewrites
its own outputs. It checks that ``paddle.load`` reads ``weights.pdparams`` back to the
same arrays and that the model reloaded from it gives the same logits.
"""

from __future__ import annotations

import json
import pickle
import platform
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
from paddleseg.models import BiSeNetV2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "bisenet"

WEIGHT_SEED = 20240611
CALIBRATION_SEED = 7
SIZES = [(256, 256, 101), (384, 384, 102), (200, 264, 103)]  # (H, W, input seed)

MASK64 = (1 << 64) - 1


def splitmix64_unit(seed: int, count: int) -> np.ndarray:
    """The first `count` SplitMix64 outputs from state `seed`, mapped to [0, 1) (float64)."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        idx = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(seed & MASK64) + idx * golden
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def make_input(h: int, w: int, seed: int) -> np.ndarray:
    u = splitmix64_unit(seed, 3 * h * w)
    return (-1.0 + 2.0 * u).astype(np.float32).reshape(1, 3, h, w)


def build_model() -> BiSeNetV2:
    paddle.seed(WEIGHT_SEED)
    model = BiSeNetV2(num_classes=2, lambd=0.25, align_corners=False)
    rng = np.random.default_rng(WEIGHT_SEED)
    for layer in model.sublayers():
        if isinstance(layer, nn.Conv2D):
            w = layer.weight
            fan_in = int(np.prod(w.shape[1:]))
            w.set_value(rng.normal(0.0, np.sqrt(2.0 / fan_in), w.shape).astype(np.float32))
            if layer.bias is not None:
                b = layer.bias
                b.set_value(rng.uniform(-0.1, 0.1, b.shape).astype(np.float32))
        elif isinstance(layer, nn.BatchNorm2D):
            n = layer.weight.shape[0]
            layer.weight.set_value(rng.uniform(0.5, 1.5, n).astype(np.float32))
            layer.bias.set_value(rng.uniform(-0.3, 0.3, n).astype(np.float32))

    # Calibrate the running statistics (momentum 0: running = this batch's statistics).
    bns = [l for l in model.sublayers() if isinstance(l, nn.BatchNorm2D)]
    for bn in bns:
        bn._momentum = 0.0
    model.train()
    crng = np.random.default_rng(CALIBRATION_SEED)
    x = crng.uniform(-1.0, 1.0, (4, 3, 256, 256)).astype(np.float32)
    with paddle.no_grad():
        model(paddle.to_tensor(x))
    for bn in bns:
        bn._momentum = 0.9
        mean = bn._mean.numpy()
        var = bn._variance.numpy()
        mean = mean + 0.2 * np.sqrt(var) * rng.normal(0.0, 1.0, mean.shape)
        var = var * rng.uniform(0.6, 1.6, var.shape)
        bn._mean.set_value(mean.astype(np.float32))
        bn._variance.set_value(var.astype(np.float32))
    model.eval()
    return model


def logits(model: BiSeNetV2, x: np.ndarray) -> np.ndarray:
    with paddle.no_grad():
        out = model(paddle.to_tensor(x))
    assert isinstance(out, list) and len(out) == 1, "eval mode returns one logit tensor"
    return out[0].numpy().astype(np.float32)


def write_tiny_proto2(path: Path) -> dict:
    arrays = {
        "a.weight": np.arange(6, dtype=np.float32).reshape(2, 3) / 4.0 - 0.5,
        "b.double": np.array([[1.5, -2.25], [3.0, 1e-3]], dtype=np.float64),
        "c.fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "d.steps": np.array([7, -3, 1 << 40], dtype=np.int64),
        "e.scalar": np.array(2.5, dtype=np.float32),
    }
    with open(path, "wb") as f:
        pickle.dump(arrays, f, protocol=2)
    return {
        name: {
            "dtype": str(a.dtype),
            "shape": list(a.shape),
            "values_c_order": [float(v) for v in np.ascontiguousarray(a).ravel()],
        }
        for name, a in arrays.items()
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("logits.*.f32"):
        stale.unlink()
    paddle.set_device("cpu")
    model = build_model()
    state = model.state_dict()
    weights_path = OUT / "weights.pdparams"
    paddle.save(state, str(weights_path))

    # The file must read back to the same arrays and the same model.
    loaded = paddle.load(str(weights_path))
    for name, value in state.items():
        if not np.array_equal(np.asarray(loaded[name]), value.numpy()):
            raise SystemExit(f"{weights_path}: {name} did not round-trip")
    model2 = BiSeNetV2(num_classes=2, lambd=0.25, align_corners=False)
    model2.set_state_dict(loaded)
    model2.eval()

    cases = []
    for h, w, seed in SIZES:
        x = make_input(h, w, seed)
        y = logits(model, x)
        if not np.array_equal(y, logits(model2, x)):
            raise SystemExit(f"reloaded model gives other logits at {h}x{w}")
        assert y.shape == (1, 2, h, w), y.shape
        name = f"logits.{h}x{w}.f32"
        y.astype("<f4").tofile(OUT / name)
        cases.append(
            {
                "height": h,
                "width": w,
                "input_seed": seed,
                "input": "uniform [-1, 1): float32(-1 + 2 * splitmix64_unit(seed)), NCHW, C = 3",
                "logits": name,
                "shape": [1, 2, h, w],
                "min": float(y.min()),
                "max": float(y.max()),
                "mean": float(y.mean()),
                "std": float(y.std()),
                "argmax_fraction_class1": float((y[0, 1] > y[0, 0]).mean()),
            }
        )
        print(f"{h}x{w}: logits in [{y.min():.3f}, {y.max():.3f}], std {y.std():.3f}")

    tiny = write_tiny_proto2(OUT / "tiny_proto2.pdparams")

    manifest = {
        "model": {
            "class": "paddleseg.models.BiSeNetV2",
            "num_classes": 2,
            "lambd": 0.25,
            "align_corners": False,
            "in_channels": 3,
            "tensors": len(state),
            "parameters": int(sum(int(np.prod(v.shape)) for v in state.values())),
            "weights": "weights.pdparams",
            "saved_with": "paddle.save(model.state_dict(), path) (as paddleseg.core.train)",
        },
        "weight_seed": WEIGHT_SEED,
        "calibration_seed": CALIBRATION_SEED,
        "cases": cases,
        "tiny_proto2": {"file": "tiny_proto2.pdparams", "arrays": tiny},
        "versions": {
            "paddlepaddle": metadata.version("paddlepaddle"),
            "paddleseg": metadata.version("paddleseg"),
            "numpy": np.__version__,
            "python": platform.python_version(),
            "platform": platform.machine(),
        },
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {OUT} ({len(state)} tensors)", file=sys.stderr)


if __name__ == "__main__":
    main()
