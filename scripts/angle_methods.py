#!/usr/bin/env python3
"""How much of the scan-plane angle error is the angle method's, not the masks'?

Re-measures the angle error of `radpipe evaluate` (prediction vs truth, both through the same
method) with other ways to turn a mask into an angle: radpipe's own (minimum-area box of the pixel
squares + principal axis, averaged), the line alone, the box alone, the box of the boundary edge
midpoints (the mask's 0.5 level set) and the box of a smoothed sub-pixel outline (Gaussian σ 1,
4× up-sampled contour), each with and without the line. Figures: models/MODEL.md, Known limits.

    radpipe segment DATA/image/{Pitt,Yale,SBL}_* -o SEG --device cpu
    python3 scripts/angle_methods.py SEG DATA/mask        # needs numpy and opencv-python
"""
import glob
import os
import sys

import cv2
import numpy as np
def fold(a):
    a = (a + 90.0) % 180.0 - 90.0
    return 90.0 if a == -90.0 else a
def adiff(a,b):
    d = abs(fold(a-b)); return min(d, 180-d)
def axis_mean(a,b):
    d = fold(b-a); return fold(a + d/2)
def largest(mask):
    n, lab, st, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1: return None
    i = 1 + np.argmax(st[1:, cv2.CC_STAT_AREA]); return lab == i
def hull(pts):
    h = cv2.convexHull(pts.astype(np.float32)); return h.reshape(-1,2).astype(np.float64)
def min_rect_angle(h):
    best=None
    for i in range(len(h)):
        e = h[(i+1)%len(h)] - h[i]
        if np.hypot(*e) < 1e-12: continue
        u = e/np.hypot(*e); v = np.array([-u[1],u[0]])
        pu, pv = h@u, h@v
        lu, lv = pu.max()-pu.min(), pv.max()-pv.min()
        area = lu*lv
        if best is None or area < best[0]-1e-9:
            ang = np.degrees(np.arctan2(u[1],u[0])) if lu>=lv else np.degrees(np.arctan2(v[1],v[0]))
            best=(area, fold(ang))
    return best[1]
def line_angle(pts):
    c = pts - pts.mean(0); cov = c.T@c
    w, V = np.linalg.eigh(cov); d = V[:, np.argmax(w)]
    return fold(np.degrees(np.arctan2(d[1], d[0])))
def corners(comp):
    ys, xs = np.nonzero(comp); pts=[]
    for y in np.unique(ys):
        row = xs[ys==y]; x0,x1=row.min(),row.max()
        pts += [(x0-.5,y-.5),(x0-.5,y+.5),(x1+.5,y-.5),(x1+.5,y+.5)]
    return np.array(pts)
def midpoints(comp):
    p = np.pad(comp, 1); pts=[]
    ys, xs = np.nonzero(comp)
    for dy,dx in [(0,1),(0,-1),(1,0),(-1,0)]:
        nb = p[1+dy:1+dy+comp.shape[0], 1+dx:1+dx+comp.shape[1]]
        sel = comp & ~nb
        yy, xx = np.nonzero(sel)
        pts.append(np.stack([xx+dx*0.5, yy+dy*0.5],1))
    return np.concatenate(pts)
def smooth_outline(comp, sigma=1.0, up=4):
    f = cv2.GaussianBlur(comp.astype(np.float32), (0,0), sigma)
    big = cv2.resize(f, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR)
    cs,_ = cv2.findContours((big>=0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(cs, key=len).reshape(-1,2).astype(np.float64)
    return (c + 0.5)/up - 0.5
METHODS = {
    "radpipe (corner box + line)": lambda c: axis_mean(min_rect_angle(hull(corners(c))), line_of(c)),
    "line only": lambda c: line_of(c),
    "corner box only": lambda c: min_rect_angle(hull(corners(c))),
    "midpoint box + line": lambda c: axis_mean(min_rect_angle(hull(midpoints(c))), line_of(c)),
    "smooth-outline box + line": lambda c: axis_mean(min_rect_angle(hull(smooth_outline(c))), line_of(c)),
    "smooth-outline box only": lambda c: min_rect_angle(hull(smooth_outline(c))),
}


def line_of(c):
    return line_angle(np.argwhere(c)[:, ::-1].astype(float))


def main(seg_dir, mask_dir):
    errs = {k: [] for k in METHODS}
    for f in sorted(glob.glob(os.path.join(seg_dir, "*_mask.png"))):
        stem = os.path.basename(f)[: -len("_mask.png")]
        site = stem.split("_")[0]
        truth = os.path.join(mask_dir, stem.replace("_abide_msp", "_abide_cc") + ".jpg")
        t = cv2.imread(truth, cv2.IMREAD_GRAYSCALE)
        p = cv2.imread(f, cv2.IMREAD_GRAYSCALE)
        if t is None or p is None:
            sys.exit(f"cannot read {truth} or {f}")
        tc, pc = largest(t > 127), largest(p > 127)
        if tc is None or pc is None:
            continue
        for k, m in METHODS.items():
            errs[k].append((site, adiff(m(pc), m(tc))))
    sites = sorted({s for v in errs.values() for s, _ in v})
    for k, v in errs.items():
        a = np.array([x for _, x in v])
        per = " ".join(f"{s} {np.mean([x for ss, x in v if ss == s]):.3f}" for s in sites)
        print(f"{k:30s} mean {a.mean():.3f} median {np.median(a):.3f} p95 {np.percentile(a, 95):.3f}  {per}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
