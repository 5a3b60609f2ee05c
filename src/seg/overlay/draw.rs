//! Drawing primitives on an [`Overlay`]: lines (solid or dashed, 1 px Bresenham lines stamped with a
//! square for thicker ones), closed polygons, a centre cross, filled rectangles and text in the
//! built-in font. Everything is clipped to the image; coordinates are pixel centres (x right, y
//! down), as in [`crate::seg::geometry`], and a segment is clipped to the image (plus the pen) before
//! it is rasterised, so a line given with far-away or non-finite end points neither loops for long
//! nor panics.

use super::font::{CELL_H, CELL_W, GLYPH_W, glyph};
use super::{Overlay, Rgb, palette};

/// Pen offsets of a `width`-pixel square stamp around a pixel: `-(w−1)/2 ..= w/2`.
fn pen(width: u32) -> std::ops::RangeInclusive<i64> {
    let w = i64::from(width.max(1));
    -(w - 1) / 2..=w / 2
}

/// The part of the segment `a`–`b` inside `[lo, hi]` on both axes (Liang–Barsky), or `None`.
fn clip(a: (f64, f64), b: (f64, f64), lo: f64, hi: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
    if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
        return None;
    }
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - lo),
        (dx, hi.0 - a.0),
        (-dy, a.1 - lo),
        (dy, hi.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// The pixels of the 1-px Bresenham line from `a` to `b` (end points rounded to the nearest pixel,
/// both included), after clipping the segment to the image grown by `margin` pixels.
pub fn line_pixels(
    canvas: (u32, u32),
    a: (f64, f64),
    b: (f64, f64),
    margin: u32,
) -> Vec<(i64, i64)> {
    let m = f64::from(margin) + 1.0;
    let hi = (f64::from(canvas.0) - 1.0 + m, f64::from(canvas.1) - 1.0 + m);
    let Some((a, b)) = clip(a, b, -m, hi) else {
        return Vec::new();
    };
    let (mut x, mut y) = (a.0.round() as i64, a.1.round() as i64);
    let (x1, y1) = (b.0.round() as i64, b.1.round() as i64);
    let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
    let (sx, sy) = ((x1 - x).signum(), (y1 - y).signum());
    let mut err = dx + dy;
    let mut out = Vec::with_capacity((dx - dy + 1) as usize);
    loop {
        out.push((x, y));
        if x == x1 && y == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
    out
}

fn stamp(o: &mut Overlay, (x, y): (i64, i64), width: u32, colour: Rgb) {
    for dy in pen(width) {
        for dx in pen(width) {
            o.put(x + dx, y + dy, colour);
        }
    }
}

/// A solid line `width` pixels wide from `a` to `b`.
pub fn line(o: &mut Overlay, a: (f64, f64), b: (f64, f64), width: u32, colour: Rgb) {
    for p in line_pixels((o.width, o.height), a, b, width) {
        stamp(o, p, width, colour);
    }
}

/// A dashed line: `on` pixels drawn, `off` pixels left, along the 1-px line from `a`.
pub fn dashed_line(
    o: &mut Overlay,
    a: (f64, f64),
    b: (f64, f64),
    width: u32,
    (on, off): (u32, u32),
    colour: Rgb,
) {
    let period = (on + off).max(1) as usize;
    for (k, p) in line_pixels((o.width, o.height), a, b, width)
        .into_iter()
        .enumerate()
    {
        if k % period < on as usize {
            stamp(o, p, width, colour);
        }
    }
}

/// The closed polygon through `points` (each side a [`line`]).
pub fn polygon(o: &mut Overlay, points: &[(f64, f64)], width: u32, colour: Rgb) {
    for (i, &a) in points.iter().enumerate() {
        line(o, a, points[(i + 1) % points.len()], width, colour);
    }
}

/// An upright cross centred on `c`, arms `arm` pixels long, with a one-pixel dark outline so it
/// shows on bright and dark anatomy alike.
pub fn cross(o: &mut Overlay, c: (f64, f64), arm: u32, width: u32, colour: Rgb) {
    let a = f64::from(arm);
    let arms = [
        ((c.0 - a, c.1), (c.0 + a, c.1)),
        ((c.0, c.1 - a), (c.0, c.1 + a)),
    ];
    for (p, q) in arms {
        line(o, p, q, width + 2, palette::OUTLINE);
    }
    for (p, q) in arms {
        line(o, p, q, width, colour);
    }
}

/// Fills the rectangle with top-left `(x, y)` and size `w`×`h` (clipped).
pub fn fill_rect(o: &mut Overlay, x: i64, y: i64, w: u32, h: u32, colour: Rgb) {
    let x0 = x.max(0);
    let y0 = y.max(0);
    let x1 = (x + i64::from(w)).min(i64::from(o.width));
    let y1 = (y + i64::from(h)).min(i64::from(o.height));
    for yy in y0..y1 {
        for xx in x0..x1 {
            o.put(xx, yy, colour);
        }
    }
}

/// Draws `text` (one line, the built-in font) with its top-left at `(x, y)`, each font pixel a
/// `scale`×`scale` square.
pub fn text(o: &mut Overlay, x: i64, y: i64, scale: u32, text: &str, colour: Rgb) {
    let s = i64::from(scale.max(1));
    for (i, c) in text.chars().enumerate() {
        let left = x + i as i64 * i64::from(CELL_W) * s;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_W {
                if bits & (1 << (GLYPH_W - 1 - col)) == 0 {
                    continue;
                }
                let (px, py) = (left + i64::from(col) * s, y + row as i64 * s);
                fill_rect(o, px, py, scale.max(1), scale.max(1), colour);
            }
        }
    }
}

/// Height of one text line at `scale` including the spacing below it.
pub fn line_advance(scale: u32) -> u32 {
    CELL_H * scale.max(1)
}

/// Paints `mask`'s contour (see [`contour`]) in `colour`.
pub fn draw_contour(o: &mut Overlay, contour: &[bool], colour: Rgb) {
    for (i, _) in contour.iter().enumerate().filter(|&(_, &c)| c) {
        let (x, y) = (i % o.width as usize, i / o.width as usize);
        o.put(x as i64, y as i64, colour);
    }
}

/// The inner boundary of a mask `thickness` pixels deep: the foreground pixels within
/// `thickness` 8-connected steps of a background pixel (or of the image's edge, which counts as
/// background). With thickness 1, a foreground pixel with any background pixel among its eight
/// neighbours. `mask` is `width × height` (non-zero = foreground).
pub fn contour(width: u32, height: u32, mask: &[u8], thickness: u32) -> Vec<bool> {
    let (w, h) = (width as usize, height as usize);
    let mut inside: Vec<bool> = mask.iter().map(|&v| v != 0).collect();
    inside.resize(w * h, false);
    let mut ring = vec![false; w * h];
    for _ in 0..thickness.max(1) {
        let eroded: Vec<bool> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                inside[i]
                    && x > 0
                    && y > 0
                    && x + 1 < w
                    && y + 1 < h
                    && (y - 1..=y + 1).all(|yy| (x - 1..=x + 1).all(|xx| inside[yy * w + xx]))
            })
            .collect();
        for i in 0..w * h {
            ring[i] |= inside[i] && !eroded[i];
        }
        inside = eroded;
    }
    ring
}
