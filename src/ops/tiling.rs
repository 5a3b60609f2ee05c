//! Images larger than one storage-buffer binding, processed in tiles.
//!
//! A GPU can bind only so many bytes per storage buffer (`max_storage_buffer_binding_size`, 128 MiB
//! to 4 GiB) — a 3000×3000 u16 station fits anywhere, a 65535×65535 canvas does not. Rather than
//! refuse, the host-level calls ([`window_image`](crate::ops::window::window_image),
//! [`warp_image`](crate::ops::warp::warp_image)) cut such an image into tiles that fit, record every
//! tile into one submission and paste the results:
//!
//! - Point operations (window/level) need no neighbours: row bands of the input map to the same rows
//!   of the output.
//! - A warp's output tile reads a source region: the bounding box of the destination → source map over
//!   the tile (its four corners — exact for affine maps and for perspective maps that keep w > 0 over
//!   the tile), widened by two pixels for the bilinear neighbours and rounding. Where the map leaves
//!   the image, the region is extended to the image edge (and, for reflect-101, to the mirrored rows)
//!   so border handling sees the true edge. The tile is warped with the map shifted by the tile and
//!   region origins. Results equal the untiled warp within 1 LSB (the shifted map changes f32 rounding),
//!   which `tests/it/device_limits.rs` checks against the CPU reference.
//!
//! Tiles are split in halves along their longer side until input and output each fit.

use crate::image::{HostImage, PixelFormat, Pixels};
use crate::{Engine, Error, Result};

/// A rectangle in pixels: `x`, `y`, `width`, `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

/// The largest image (host bytes of the output) radpipe assembles from tiles: 2 GiB, a 32768² u16
/// canvas. Beyond it the result would not fit comfortably in host memory, and the call is refused
/// with the binding-limit error instead.
pub const MAX_TILED_BYTES: u64 = 2 << 30;

/// Whether an image too large for one binding should be tiled: it must fit [`MAX_TILED_BYTES`].
pub fn tileable(width: u32, height: u32, format: PixelFormat) -> bool {
    width > 0
        && height > 0
        && u64::from(width) * u64::from(height) * format.bytes_per_pixel() as u64 <= MAX_TILED_BYTES
}

/// Whether a `width`×`height` image of `format` fits one binding on `engine`.
pub fn fits(engine: &Engine, width: u32, height: u32, format: PixelFormat) -> bool {
    engine.check_fits(width, height, format).is_ok()
}

/// Copies `rect` out of `image` (geometry dropped: the caller sets what the tile means).
pub fn crop(image: &HostImage, rect: Rect) -> Result<HostImage> {
    let (w, x0, y0) = (image.width as usize, rect.x as usize, rect.y as usize);
    let (tw, th) = (rect.width as usize, rect.height as usize);
    if rect.x + rect.width > image.width || rect.y + rect.height > image.height {
        return Err(Error::InvalidParams(format!(
            "tile {rect:?} outside a {}x{} image",
            image.width, image.height
        )));
    }
    fn rows<T: Copy>(v: &[T], w: usize, x0: usize, y0: usize, tw: usize, th: usize) -> Vec<T> {
        (y0..y0 + th)
            .flat_map(|y| v[y * w + x0..y * w + x0 + tw].iter().copied())
            .collect()
    }
    let pixels = match &image.pixels {
        Pixels::U8(v) => Pixels::U8(rows(v, w, x0, y0, tw, th)),
        Pixels::U16(v) => Pixels::U16(rows(v, w, x0, y0, tw, th)),
        Pixels::I16(v) => Pixels::I16(rows(v, w, x0, y0, tw, th)),
        Pixels::F32(v) => Pixels::F32(rows(v, w, x0, y0, tw, th)),
    };
    HostImage::new(rect.width, rect.height, pixels)
}

/// Writes `tile` into `canvas` at (`x`, `y`); formats must match.
pub fn paste(canvas: &mut HostImage, tile: &HostImage, x: u32, y: u32) -> Result<()> {
    if tile.format() != canvas.format()
        || x + tile.width > canvas.width
        || y + tile.height > canvas.height
    {
        return Err(Error::InvalidParams(format!(
            "cannot paste a {}x{} {} tile at ({x}, {y}) into a {}x{} {} image",
            tile.width,
            tile.height,
            tile.format(),
            canvas.width,
            canvas.height,
            canvas.format()
        )));
    }
    let (cw, tw) = (canvas.width as usize, tile.width as usize);
    fn put<T: Copy>(dst: &mut [T], src: &[T], cw: usize, tw: usize, x: usize, y: usize) {
        for (r, row) in src.chunks_exact(tw).enumerate() {
            let start = (y + r) * cw + x;
            dst[start..start + tw].copy_from_slice(row);
        }
    }
    let (x, y) = (x as usize, y as usize);
    match (&mut canvas.pixels, &tile.pixels) {
        (Pixels::U8(d), Pixels::U8(s)) => put(d, s, cw, tw, x, y),
        (Pixels::U16(d), Pixels::U16(s)) => put(d, s, cw, tw, x, y),
        (Pixels::I16(d), Pixels::I16(s)) => put(d, s, cw, tw, x, y),
        (Pixels::F32(d), Pixels::F32(s)) => put(d, s, cw, tw, x, y),
        _ => unreachable!("formats checked above"),
    }
    Ok(())
}

/// A zero image of `format`.
pub fn blank(width: u32, height: u32, format: PixelFormat) -> Result<HostImage> {
    let n = width as usize * height as usize;
    let pixels = match format {
        PixelFormat::U8 => Pixels::U8(vec![0; n]),
        PixelFormat::U16 => Pixels::U16(vec![0; n]),
        PixelFormat::I16 => Pixels::I16(vec![0; n]),
        PixelFormat::F32 => Pixels::F32(vec![0.0; n]),
    };
    HostImage::new(width, height, pixels)
}

/// Splits `area` into tiles for which `ok(tile)` holds, halving along the longer side; a 1×1 tile that
/// still fails is an error (nothing can make it fit).
pub fn split(area: Rect, ok: &mut impl FnMut(Rect) -> bool) -> Result<Vec<Rect>> {
    if area.width == 0 || area.height == 0 {
        return Err(Error::InvalidParams(format!(
            "cannot tile an area of {}x{} pixels",
            area.width, area.height
        )));
    }
    let mut todo = vec![area];
    let mut done = Vec::new();
    while let Some(r) = todo.pop() {
        if ok(r) {
            done.push(r);
            continue;
        }
        if r.width == 1 && r.height == 1 {
            return Err(Error::InvalidImage(format!(
                "cannot tile: even a single pixel at ({}, {}) needs more than one binding",
                r.x, r.y
            )));
        }
        if r.height >= r.width {
            let h = r.height / 2;
            todo.push(Rect {
                y: r.y + h,
                height: r.height - h,
                ..r
            });
            todo.push(Rect { height: h, ..r });
        } else {
            let w = r.width / 2;
            todo.push(Rect {
                x: r.x + w,
                width: r.width - w,
                ..r
            });
            todo.push(Rect { width: w, ..r });
        }
    }
    done.sort_by_key(|r| (r.y, r.x));
    Ok(done)
}

/// Row bands of a `width`×`height` image such that input (`in_format`) and output (`out_format`)
/// bands each fit one binding.
pub fn row_bands(
    engine: &Engine,
    width: u32,
    height: u32,
    in_format: PixelFormat,
    out_format: PixelFormat,
) -> Result<Vec<Rect>> {
    if !fits(engine, width, 1, in_format) || !fits(engine, width, 1, out_format) {
        return Err(Error::InvalidImage(format!(
            "one {width}-pixel row of the image is over this adapter's binding limit"
        )));
    }
    // Largest band height that fits, by bisection (sizes are monotonic in rows).
    let (mut lo, mut hi) = (1u32, height);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(engine, width, mid, in_format) && fits(engine, width, mid, out_format) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok((0..height)
        .step_by(lo as usize)
        .map(|y| Rect {
            x: 0,
            y,
            width,
            height: lo.min(height - y),
        })
        .collect())
}

/// The source region a destination tile of a warp reads, for the destination → source `map` on a
/// `src_w`×`src_h` source; `reflect` when the border is reflect-101 (mirrored rows must be inside).
/// The whole source when a perspective map's w is not positive over the tile.
pub fn source_region(
    map: &[[f64; 3]; 3],
    tile: Rect,
    src_w: u32,
    src_h: u32,
    reflect: bool,
) -> Rect {
    let whole = Rect {
        x: 0,
        y: 0,
        width: src_w,
        height: src_h,
    };
    let corners = [
        (tile.x, tile.y),
        (tile.x + tile.width, tile.y),
        (tile.x, tile.y + tile.height),
        (tile.x + tile.width, tile.y + tile.height),
    ];
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (cx, cy) in corners {
        let (u, v) = (f64::from(cx), f64::from(cy));
        let w = map[2][0] * u + map[2][1] * v + map[2][2];
        if w.is_nan() || w <= 1e-12 {
            return whole;
        }
        let sx = (map[0][0] * u + map[0][1] * v + map[0][2]) / w;
        let sy = (map[1][0] * u + map[1][1] * v + map[1][2]) / w;
        x0 = x0.min(sx);
        x1 = x1.max(sx);
        y0 = y0.min(sy);
        y1 = y1.max(sy);
    }
    if !(x0.is_finite() && x1.is_finite() && y0.is_finite() && y1.is_finite()) {
        return whole;
    }
    let axis = |lo: f64, hi: f64, n: u32| -> (u32, u32) {
        let n_f = f64::from(n);
        let (mut a, mut b) = ((lo - 2.0).floor(), (hi + 3.0).ceil());
        if reflect {
            // Reflect-101 maps −k to k and n−1+k to n−1−k.
            if a < 0.0 {
                b = b.max(-a + 2.0);
            }
            if b > n_f {
                a = a.min(2.0 * (n_f - 1.0) - b - 2.0);
            }
        }
        let a = a.clamp(0.0, n_f) as u32;
        let b = b.clamp(0.0, n_f) as u32;
        if b <= a {
            // Entirely outside: any one edge pixel serves (constant border ignores it).
            let edge = if lo >= n_f { n - 1 } else { 0 };
            (edge, 1)
        } else {
            (a, b - a)
        }
    };
    let (x, width) = axis(x0, x1, src_w);
    let (y, height) = axis(y0, y1, src_h);
    Rect {
        x,
        y,
        width,
        height,
    }
}
