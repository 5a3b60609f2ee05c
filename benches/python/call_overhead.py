"""Python call overhead per op, and a resident chain against the same ops one by one.

    python benches/python/call_overhead.py [--reps N] [--sizes 512,4096]

For each op and size: the median time of one call from Python (array in → array out: the copy in,
the GIL release, the upload, the GPU work, the readback, the new array) against the same op called
from Rust on an image converted once (Engine._time_rust: the library directly); the difference is
what the Python layer costs. Then a four-op chain (warp → resize → CLAHE → window) recorded with
engine.record() (one submission, one readback) against the same four calls from Python.
Prints a Markdown table; figures depend on the adapter (printed first).
"""

import argparse
import statistics
import time

import numpy as np

import radpipe


def median_py(fn, reps):
    fn()  # warm-up: pipelines built, pool filled
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--sizes", default="512,4096")
    a = p.parse_args()
    e = radpipe.Engine()
    print(f"adapter: {e.adapter['name']} ({e.adapter['device_type']})\n")
    rng = np.random.default_rng(0)
    print("| op | size | Python call (ms) | Rust call (ms) | overhead (ms) | overhead % |")
    print("|---|---|---|---|---|---|")
    chains = []
    for n in (int(s) for s in a.sizes.split(",")):
        img = rng.integers(0, 255, size=(n, n), dtype=np.uint8)
        m = np.array([[np.cos(0.087), np.sin(0.087), 0.0], [-np.sin(0.087), np.cos(0.087), 0.0]])
        ops = {
            "equalize": lambda: radpipe.equalize(img, engine=e),
            "resize": lambda: radpipe.resize(img, (n // 2, n // 2), engine=e),
            "warp_affine": lambda: radpipe.rotate(img, 5.0, engine=e),
        }
        for name, fn in ops.items():
            py = median_py(fn, a.reps)
            e._e._time_rust(name, img, 1)
            rs = statistics.median(e._e._time_rust(name, img, a.reps))
            print(f"| {name} | {n}² | {py * 1e3:.2f} | {rs * 1e3:.2f} | {(py - rs) * 1e3:.2f} "
                  f"| {100 * (py - rs) / rs:.1f} |")

        def one_by_one():
            x = radpipe.warp_affine(img, m, engine=e)
            x = radpipe.resize(x, (n // 2, n // 2), engine=e)
            x = radpipe.clahe(x, engine=e)
            return radpipe.equalize(x, engine=e)

        def chained():
            with e.record() as rec:
                h = rec.warp_affine(rec.upload(img), m)
                h = rec.equalize(rec.clahe(rec.resize(h, (n // 2, n // 2))))
                d = rec.download(h)
            return d.array

        np.testing.assert_array_equal(one_by_one(), chained())
        chains.append((n, median_py(one_by_one, a.reps), median_py(chained, a.reps)))
    print("\n| 4-op chain | size | one by one (ms) | resident chain (ms) | speed-up |")
    print("|---|---|---|---|---|")
    for n, one, ch in chains:
        print(f"| warp → resize → CLAHE → equalize | {n}² | {one * 1e3:.1f} | {ch * 1e3:.1f} "
              f"| {one / ch:.2f}× |")


if __name__ == "__main__":
    main()
