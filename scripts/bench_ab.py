#!/usr/bin/env python3
"""Compare two radpipe binaries' `radpipe bench` figures fairly on a noisy machine.

A shared VM's speed drifts by tens of percent from one minute to the next, so one run of each binary
says little. This runs A, B, A, B, ... (`--rounds` of each, alternating, same arguments) and prints,
per op and size, every run's median, the median of those medians and the fastest single iteration
seen (the least disturbed figure) for both binaries, with each op's median time relative to
`window-plain`'s in the same run (when it is among the ops), which cancels part of the drift.

    python3 scripts/bench_ab.py OLD_BINARY NEW_BINARY --ops window-plain,rotate --sizes 4096 \
        --iters 20 --rounds 3

Standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run(binary, args):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.json")
        cmd = [binary, "bench", "--json", out, "--ops", args.ops, "--sizes", args.sizes,
               "--iters", str(args.iters)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{binary}: bench failed ({proc.returncode}):\n{proc.stderr}")
        with open(out) as f:
            return json.load(f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="first binary (e.g. the previous build)")
    p.add_argument("b", help="second binary (e.g. the new build)")
    p.add_argument("--ops", required=True)
    p.add_argument("--sizes", default="4096")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    runs = {"a": [], "b": []}
    for r in range(args.rounds):
        for key, binary in (("a", args.a), ("b", args.b)):
            report = run(binary, args)
            runs[key].append(report)
            print(f"round {r + 1} {key}: {report['adapter']}, copy {report['copy_gb_per_s']:.1f} GB/s",
                  file=sys.stderr)

    def table(reports):
        times = {}
        best = {}
        rel = {}
        for rep in reports:
            plain = {x["size"]: x["median_s"] for x in rep["results"] if x["op"] == "window-plain"}
            for x in rep["results"]:
                k = (x["op"], x["size"])
                times.setdefault(k, []).append(x["median_s"] * 1e3)
                best[k] = min(best.get(k, float("inf")), x["min_s"] * 1e3)
                if x["size"] in plain:
                    rel.setdefault(k, []).append(plain[x["size"]] / x["median_s"])
        return times, best, rel

    ta, ba, ra = table(runs["a"])
    tb, bb, rb = table(runs["b"])
    print(f"{'op':<14}{'size':>6}  {'A ms (runs)':<32}{'B ms (runs)':<32}{'B/A time':>9}"
          f"{'A best':>9}{'B best':>9}{'A x plain':>10}{'B x plain':>10}")
    for k in ta:
        a, b = ta[k], tb.get(k, [])
        if not b:
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        xa = f"{statistics.median(ra[k]):.2f}" if k in ra else "-"
        xb = f"{statistics.median(rb[k]):.2f}" if k in rb else "-"
        runs_a = "/".join(f"{v:.0f}" for v in a)
        runs_b = "/".join(f"{v:.0f}" for v in b)
        print(f"{k[0]:<14}{k[1]:>6}  {f'{ma:.1f} ({runs_a})':<32}{f'{mb:.1f} ({runs_b})':<32}"
              f"{mb / ma:>9.2f}{ba[k]:>9.1f}{bb[k]:>9.1f}{xa:>10}{xb:>10}")


if __name__ == "__main__":
    main()
