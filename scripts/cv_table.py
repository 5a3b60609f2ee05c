#!/usr/bin/env python3
"""Markdown tables of the leave-sites-out cross-validation (models/MODEL.md) from its kept results.

scripts/cv_train.sh with RESULTS=models/cv leaves, per fold, stage1.metrics.csv and
stage2.metrics.csv (`radpipe train`'s validation by epoch) and eval.json (`radpipe evaluate
--degraded --flip-tta --post largest` of stage 2's last epoch on the held-out sites). This prints:

1. one row per fold that has an eval.json: its held-out sites' clean Dice, the site-wise mean of
   each copy, the worst site, the angle error;
2. one row per held-out site over all finished folds (each site is held out exactly once), and
   the site-wise mean, spread and worst site over them - the figures the issue's targets are about;
3. per fold, the last epoch of each stage as `radpipe train` validated it (no levers), so a fold
   whose evaluation has not run yet still shows where it stands.

Standard library only: python3 scripts/cv_table.py [models/cv]
"""

import csv
import json
import statistics
import sys
from pathlib import Path

COPIES = ["clean", "noise", "blur", "lowres"]


def load_eval(path):
    report = json.loads(path.read_text())
    by_copy = {s["degradation"]: s for s in report["summaries"]}
    return report, by_copy


def fmt(v, digits=4):
    return "—" if v is None else f"{v:.{digits}f}"


def fold_rows(folds):
    print("| fold | held-out sites (slices) | clean site-wise mean | worst site | noise | blur | 2× down + up "
          "| angle error mean / median (clean) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (report, by_copy) in folds:
        clean = by_copy["clean"]
        sites = ", ".join(f"{s} {fmt(d)} ({clean['site_count'][s]})" for s, d in clean["site_dice"].items())
        worst = clean["worst_site"]
        cells = [fmt(by_copy[c]["mean_dice"]) if c in by_copy else "—" for c in COPIES[1:]]
        print(f"| {name} | {sites} | **{fmt(clean['mean_dice'])}** | {worst[0]} {fmt(worst[1])} | "
              f"{' | '.join(cells)} | {fmt(clean['mean_angle_error_deg'], 2)}° / "
              f"{fmt(clean['median_angle_error_deg'], 2)}° |")


def pooled(folds):
    """Per-site Dice over all folds, by copy, and the angle errors of the clean images."""
    site = {c: {} for c in COPIES}
    angles = []
    for _, (report, by_copy) in folds:
        for c in COPIES:
            if c in by_copy:
                site[c].update(by_copy[c]["site_dice"])
        angles += [i["angle_error_deg"] for i in report["images"]
                   if i["degradation"] == "clean" and i["angle_error_deg"] is not None]
    return site, angles


def pooled_rows(folds):
    site, angles = pooled(folds)
    clean = site["clean"]
    print("| copy | site-wise mean over the held-out sites | SD over sites | worst site | best site |")
    print("|---|---|---|---|---|")
    for c in COPIES:
        d = site[c]
        if not d:
            continue
        worst = min(d, key=d.get)
        best = max(d, key=d.get)
        sd = statistics.stdev(d.values()) if len(d) > 1 else None
        print(f"| {c} | **{fmt(statistics.fmean(d.values()))}** ({len(d)} sites) | {fmt(sd)} | "
              f"{worst} {fmt(d[worst])} | {best} {fmt(d[best])} |")
    if angles:
        print(f"\nAngle error over {len(angles)} clean held-out slices: mean {statistics.fmean(angles):.2f}°, "
              f"median {statistics.median(angles):.2f}°.")
    print("\n| site | clean Dice (held out) |")
    print("|---|---|")
    for s in sorted(clean, key=clean.get):
        print(f"| {s} | {fmt(clean[s])} |")


def stage_rows(root):
    print("| fold | stage | epochs done | last epoch: site-wise mean Dice (no levers) | angle error | "
          "epoch time (median) |")
    print("|---|---|---|---|---|---|")
    for fold in sorted(p for p in root.iterdir() if p.is_dir()):
        for stage in ("stage1", "stage2"):
            path = fold / f"{stage}.metrics.csv"
            if not path.exists():
                continue
            rows = list(csv.DictReader(path.open()))
            if not rows:
                continue
            last = rows[-1]
            secs = statistics.median(float(r["seconds"]) for r in rows)
            num = lambda k: float(last[k]) if last[k] else None  # noqa: E731
            print(f"| {fold.name} | {stage} | {last['epoch']} | {fmt(num('val_dice_mean'))} | "
                  f"{fmt(num('val_angle_error_deg'), 2)}° | {secs:.0f} s |")


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "models/cv")
    if not root.is_dir():
        sys.exit(f"{root}: no such folder (scripts/cv_train.sh with RESULTS={root} fills it)")
    folds = [(p.name, load_eval(p / "eval.json"))
             for p in sorted(root.iterdir()) if (p / "eval.json").exists()]
    if folds:
        fold_rows(folds)
        print()
        pooled_rows(folds)
        print()
    stage_rows(root)


if __name__ == "__main__":
    main()
