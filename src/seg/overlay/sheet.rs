//! A contact sheet of labelled slices: one row per site, each tile a slice with the ground truth's
//! and the prediction's contours, its site, Dice and name written on it — so a person sees at a glance
//! where and how a model fails (`radpipe evaluate --sheet`), which a table of Dice values cannot show.
//!
//! Each tile shows the region around both masks ([`tile_view`]: twice their extent, at least a third
//! of the slice) scaled to fit a `tile`×`tile` square (nearest neighbour, aspect kept), then draws the
//! contours of the masks scaled the same way, so a contour stays one pixel wide whatever the slice's
//! size: the truth in [`TRUTH`], the prediction in [`PREDICTED`], and where the two coincide in
//! [`BOTH`]. A legend heads the sheet.

use super::font::GLYPH_H;
use super::{Overlay, Rgb, draw, palette};
use crate::{Error, Result};

/// Contour of the ground truth only.
pub const TRUTH: Rgb = [60, 230, 60];
/// Contour of the prediction only.
pub const PREDICTED: Rgb = [255, 60, 200];
/// Where the two contours coincide.
pub const BOTH: Rgb = [255, 220, 0];
/// Between tiles and around the sheet.
pub const GAP_COLOUR: Rgb = [24, 24, 32];

/// One slice of the sheet.
#[derive(Debug, Clone)]
pub struct SheetTile<'a> {
    /// Width of the slice.
    pub width: u32,
    /// Height of the slice.
    pub height: u32,
    /// 8-bit grey values.
    pub image: &'a [u8],
    /// Ground truth (non-zero = foreground).
    pub truth: &'a [u8],
    /// Prediction (non-zero = foreground).
    pub predicted: &'a [u8],
    /// First caption line (e.g. "SITE 0.912").
    pub caption: String,
    /// Second caption line (e.g. the slice's name), clipped to the tile.
    pub detail: String,
}

/// Pixels between tiles and around the sheet.
pub const GAP: u32 = 6;

/// Height of the caption strip above each tile's slice: 3 px, the caption at scale 2, 3 px, the
/// detail at scale 1, 3 px.
pub const CAPTION_H: u32 = 3 * GLYPH_H + 9;

/// Height of the legend strip at the top.
pub fn legend_height() -> u32 {
    GLYPH_H * 2 + 2 * GAP
}

/// The sheet's size for `rows` rows of at most `columns` tiles of side `tile` (each with its
/// caption strip above).
pub fn sheet_size(rows: usize, columns: usize, tile: u32) -> (u32, u32) {
    let (rows, columns) = (rows as u32, columns.max(1) as u32);
    (
        GAP + columns * (tile + GAP),
        legend_height() + GAP + rows * (CAPTION_H + tile + GAP),
    )
}

/// Top-left corner of the slice area of the tile in `row`, `column`.
pub fn tile_origin(row: usize, column: usize, tile: u32) -> (u32, u32) {
    (
        GAP + column as u32 * (tile + GAP),
        legend_height() + GAP + row as u32 * (CAPTION_H + tile + GAP) + CAPTION_H,
    )
}

/// A rectangle of a slice: left, top, width, height.
pub type View = (u32, u32, u32, u32);

/// The part of a slice a tile shows: a square twice the extent of both masks together (at least a
/// third of the slice's larger side), centred on them and kept inside the slice, so a failure fills
/// the tile; the whole slice when both masks are empty.
pub fn tile_view(width: u32, height: u32, truth: &[u8], predicted: &[u8]) -> View {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (i, (&a, &b)) in truth.iter().zip(predicted).enumerate() {
        if a != 0 || b != 0 {
            let (x, y) = (i as u32 % width, i as u32 / width);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 > x1 {
        return (0, 0, width, height);
    }
    let extent = (x1 - x0 + 1).max(y1 - y0 + 1);
    let side = (2 * extent).max(width.max(height).div_ceil(3));
    let place = |lo: u32, hi: u32, size: u32| {
        let span = side.min(size);
        let centre = (lo + hi).div_ceil(2);
        (centre.saturating_sub(span / 2).min(size - span), span)
    };
    let ((left, w), (top, h)) = (place(x0, x1, width), place(y0, y1, height));
    (left, top, w, h)
}

/// `view` of the `w`-wide `src` resampled (nearest neighbour) to `dw`×`dh`.
fn nearest(src: &[u8], w: u32, view: View, dw: u32, dh: u32) -> Vec<u8> {
    let (left, top, vw, vh) = view;
    let mut out = Vec::with_capacity(dw as usize * dh as usize);
    for y in 0..dh {
        let sy = top as usize + (u64::from(y) * u64::from(vh) / u64::from(dh)) as usize;
        for x in 0..dw {
            let sx = left as usize + (u64::from(x) * u64::from(vw) / u64::from(dw)) as usize;
            out.push(src[sy * w as usize + sx]);
        }
    }
    out
}

/// Draws the sheet: `rows` of tiles, each slice fitted into `tile` pixels square (at least 32)
/// below its caption.
pub fn contact_sheet(rows: &[Vec<SheetTile<'_>>], tile: u32) -> Result<Overlay> {
    if tile < 32 {
        return Err(Error::InvalidParams(format!(
            "contact sheet tiles of {tile} px are too small (at least 32)"
        )));
    }
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let (w, h) = sheet_size(rows.len(), columns, tile);
    let mut o = Overlay::from_grey(w, h, &vec![0; w as usize * h as usize])?;
    draw::fill_rect(&mut o, 0, 0, w, h, GAP_COLOUR);
    let mut x = i64::from(GAP);
    for (label, colour) in [("TRUTH", TRUTH), ("PREDICTED", PREDICTED), ("BOTH", BOTH)] {
        draw::text(&mut o, x, i64::from(GAP), 2, label, colour);
        x += i64::from(super::font::text_size(label, 2).0 + 4 * GAP);
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, t) in row.iter().enumerate() {
            let (left, top) = tile_origin(r, c, tile);
            draw_tile(&mut o, t, left, top, tile)?;
        }
    }
    Ok(o)
}

fn draw_tile(o: &mut Overlay, t: &SheetTile<'_>, left: u32, top: u32, tile: u32) -> Result<()> {
    let n = t.width as usize * t.height as usize;
    if t.width == 0 || t.height == 0 || [t.image, t.truth, t.predicted].iter().any(|v| v.len() != n)
    {
        return Err(Error::InvalidParams(format!(
            "contact sheet tile {}: image and masks must all be {}x{}",
            t.detail, t.width, t.height
        )));
    }
    let view = tile_view(t.width, t.height, t.truth, t.predicted);
    let scale = f64::from(tile) / f64::from(view.2.max(view.3));
    let dw = ((f64::from(view.2) * scale).round() as u32).clamp(1, tile);
    let dh = ((f64::from(view.3) * scale).round() as u32).clamp(1, tile);
    let (x0, y0) = (left + (tile - dw) / 2, top + (tile - dh) / 2);
    let grey = nearest(t.image, t.width, view, dw, dh);
    let truth = draw::contour(dw, dh, &nearest(t.truth, t.width, view, dw, dh), 1);
    let pred = draw::contour(dw, dh, &nearest(t.predicted, t.width, view, dw, dh), 1);
    for y in 0..dh {
        for x in 0..dw {
            let i = (y * dw + x) as usize;
            let g = grey[i];
            let colour = match (truth[i], pred[i]) {
                (true, true) => BOTH,
                (true, false) => TRUTH,
                (false, true) => PREDICTED,
                (false, false) => [g, g, g],
            };
            o.put(i64::from(x0 + x), i64::from(y0 + y), colour);
        }
    }
    let pad = 3i64;
    let (cx, cy) = (i64::from(left), i64::from(top - CAPTION_H));
    draw::fill_rect(o, cx, cy, tile, CAPTION_H, palette::TEXT_BG);
    draw::text(o, cx + pad, cy + pad, 2, &t.caption, palette::TEXT);
    let room =
        ((tile as usize).saturating_sub(2 * pad as usize) + 1) / super::font::CELL_W as usize;
    let detail: String = t.detail.chars().take(room).collect();
    let below = cy + pad + i64::from(2 * GLYPH_H) + 3;
    draw::text(o, cx + pad, below, 1, &detail, palette::TEXT);
    Ok(())
}
