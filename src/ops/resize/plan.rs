//! What the shaders and the CPU reference share: the uniform blocks of `shaders/resize_linear.wgsl`
//! and `shaders/resize_area.wgsl`, and the per-column and per-row source tables (indices and
//! weights, in f64) for each mode.

use super::{ResizeMode, ResizeParams};
use crate::image::{Geometry, PixelFormat};
use crate::ops::resample::{check_size, cv_round_i32};
use crate::ops::warp::{Sampling, warp_geometry};
use crate::{Error, Result};

crate::wgsl_struct! {
    /// Uniform block of `shaders/resize_linear.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    pub(super) struct LinearParams = RESIZE_LINEAR_PARAMS {
        pub(super) src_width: u32,
        pub(super) src_height: u32,
        pub(super) dst_width: u32,
        pub(super) dst_height: u32,
        pub(super) in_format: u32,
        pub(super) out_format: u32,
        pub(super) kind: u32,
        pub(super) row_table: u32,
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/resize_area.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    pub(super) struct AreaParams = RESIZE_AREA_PARAMS {
        pub(super) src_width: u32,
        pub(super) src_height: u32,
        pub(super) dst_width: u32,
        pub(super) dst_height: u32,
        pub(super) in_format: u32,
        pub(super) out_format: u32,
        pub(super) kind: u32,
        pub(super) kx: u32,
        pub(super) ky: u32,
        pub(super) inv_area: f32,
        pub(super) row_index: u32,
        pub(super) col_entries: u32,
        pub(super) row_entries: u32,
        pub(super) _pad: [u32; 3],
    }
}

pub(super) const LINEAR_EXACT: u32 = 0;
pub(super) const LINEAR_OPENCV: u32 = 1;
const LINEAR_OPENCV_U8: u32 = 2;
const AREA_WEIGHTED: u32 = 0;
pub(super) const AREA_BLOCKS: u32 = 1;

#[derive(Debug, Clone)]
pub(super) enum Kernel {
    Linear(LinearParams),
    Area(AreaParams),
}

#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) kernel: Kernel,
    pub(super) table: Vec<u32>,
    pub(super) out_format: PixelFormat,
    pub(super) geometry: Geometry,
}

/// One output column's (or row's) two source indices and weights: `[i0, i1, w0, w1, iw0 | iw1 << 16]`.
type LinearEntry = [u32; 5];

fn exact_linear_axis(src: u32, dst: u32) -> Vec<LinearEntry> {
    let scale = f64::from(src) / f64::from(dst);
    let last = src - 1;
    (0..dst)
        .map(|d| {
            let s = (f64::from(d) + 0.5) * scale - 0.5;
            let (i0, i1, f) = if s <= 0.0 {
                (0, 0, 0.0)
            } else if s >= f64::from(last) {
                (last, last, 0.0)
            } else {
                let i0 = s.floor();
                (i0 as u32, i0 as u32 + 1, (s - i0) as f32)
            };
            [i0, i1, (1.0 - f).to_bits(), f.to_bits(), 0]
        })
        .collect()
}

/// OpenCV resize's coefficient tables: `fx = (float)((dx + 0.5)·scale − 0.5)` with `scale` =
/// 1/(dst/src) in double; columns clamp index and fraction at both edges, rows clamp only the two
/// indices (the weights stay those of the unclamped position), as `resizeGeneric_` fetches rows.
fn opencv_linear_axis(src: u32, dst: u32, rows: bool) -> Vec<LinearEntry> {
    let scale = 1.0 / (f64::from(dst) / f64::from(src));
    let last = src as i32 - 1;
    (0..dst)
        .map(|d| {
            let mut f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
            let mut i = f.floor() as i32;
            f -= i as f32;
            let (i0, i1) = if rows {
                (i.clamp(0, last), (i + 1).clamp(0, last))
            } else {
                if i < 0 {
                    f = 0.0;
                    i = 0;
                }
                if i >= last {
                    f = 0.0;
                    i = last;
                }
                (i, (i + 1).min(last))
            };
            let (w0, w1) = (1.0 - f, f);
            let fixed = |w: f32| (w * 2048.0).round_ties_even().clamp(-32768.0, 32767.0) as i32;
            let packed = (fixed(w0) as u32 & 0xFFFF) | ((fixed(w1) as u32 & 0xFFFF) << 16);
            [i0 as u32, i1 as u32, w0.to_bits(), w1.to_bits(), packed]
        })
        .collect()
}

/// OpenCV's `scale = 1/(dst/src)` and whether it is an integer (`is_area_fast`), per axis.
fn integer_factor(src: u32, dst: u32) -> Option<u32> {
    let scale = 1.0 / (f64::from(dst) / f64::from(src));
    let k = cv_round_i32(scale);
    ((scale - f64::from(k)).abs() < f64::EPSILON && k >= 1).then_some(k as u32)
}

/// One output column's (or row's) run of (source index, weight).
type AreaAxis = Vec<Vec<(u32, f32)>>;

fn exact_area_axis(src: u32, dst: u32) -> AreaAxis {
    let scale = f64::from(src) / f64::from(dst);
    (0..dst)
        .map(|d| {
            let f0 = f64::from(d) * scale;
            let f1 = if d + 1 == dst {
                f64::from(src)
            } else {
                (f64::from(d + 1) * scale).min(f64::from(src))
            };
            let width = f1 - f0;
            let first = f0.floor() as u32;
            let end = (f1.ceil() as u32).min(src);
            (first..end)
                .filter_map(|i| {
                    let overlap = (f64::from(i + 1)).min(f1) - f64::from(i).max(f0);
                    (overlap > 0.0).then_some((i, (overlap / width) as f32))
                })
                .collect()
        })
        .collect()
}

/// OpenCV's `computeResizeAreaTab` (slivers under 1e-3 px are dropped, weights rounded to float).
fn opencv_area_axis(src: u32, dst: u32) -> AreaAxis {
    let scale = 1.0 / (f64::from(dst) / f64::from(src));
    let ssize = f64::from(src);
    (0..dst)
        .map(|d| {
            let fsx1 = f64::from(d) * scale;
            let fsx2 = fsx1 + scale;
            let cell = scale.min(ssize - fsx1);
            let sx2 = (fsx2.floor() as i64).min(i64::from(src) - 1);
            let sx1 = (fsx1.ceil() as i64).min(sx2);
            let mut run = Vec::new();
            if sx1 as f64 - fsx1 > 1e-3 {
                run.push(((sx1 - 1) as u32, ((sx1 as f64 - fsx1) / cell) as f32));
            }
            for sx in sx1..sx2 {
                run.push((sx as u32, (1.0 / cell) as f32));
            }
            if fsx2 - sx2 as f64 > 1e-3 {
                let w = (fsx2 - sx2 as f64).min(1.0).min(cell) / cell;
                run.push((sx2 as u32, w as f32));
            }
            run
        })
        .collect()
}

fn linear_plan(
    src: (u32, u32),
    in_format: PixelFormat,
    out_format: PixelFormat,
    p: &ResizeParams,
) -> (Kernel, Vec<u32>) {
    let (cols, rows, kind) = match p.sampling {
        Sampling::Exact => (
            exact_linear_axis(src.0, p.width),
            exact_linear_axis(src.1, p.height),
            LINEAR_EXACT,
        ),
        Sampling::OpenCv => (
            opencv_linear_axis(src.0, p.width, false),
            opencv_linear_axis(src.1, p.height, true),
            if in_format == PixelFormat::U8 {
                LINEAR_OPENCV_U8
            } else {
                LINEAR_OPENCV
            },
        ),
    };
    let table: Vec<u32> = cols.iter().chain(&rows).flatten().copied().collect();
    let params = LinearParams {
        src_width: src.0,
        src_height: src.1,
        dst_width: p.width,
        dst_height: p.height,
        in_format: in_format.shader_code(),
        out_format: out_format.shader_code(),
        kind,
        row_table: p.width * 5,
    };
    (Kernel::Linear(params), table)
}

fn area_plan(
    src: (u32, u32),
    in_format: PixelFormat,
    out_format: PixelFormat,
    p: &ResizeParams,
    blocks: Option<(u32, u32)>,
) -> (Kernel, Vec<u32>) {
    let mut params = AreaParams {
        src_width: src.0,
        src_height: src.1,
        dst_width: p.width,
        dst_height: p.height,
        in_format: in_format.shader_code(),
        out_format: out_format.shader_code(),
        kind: AREA_WEIGHTED,
        kx: 1,
        ky: 1,
        inv_area: 1.0,
        row_index: 0,
        col_entries: 0,
        row_entries: 0,
        _pad: [0; 3],
    };
    if let Some((kx, ky)) = blocks {
        params.kind = AREA_BLOCKS;
        params.kx = kx;
        params.ky = ky;
        params.inv_area = 1.0 / (kx * ky) as f32;
        return (Kernel::Area(params), Vec::new());
    }
    let (cols, rows) = match p.sampling {
        Sampling::Exact => (
            exact_area_axis(src.0, p.width),
            exact_area_axis(src.1, p.height),
        ),
        Sampling::OpenCv => (
            opencv_area_axis(src.0, p.width),
            opencv_area_axis(src.1, p.height),
        ),
    };
    let mut index = Vec::new();
    let mut entries = [Vec::new(), Vec::new()];
    for (axis, runs) in [&cols, &rows].into_iter().enumerate() {
        let mut first = 0u32;
        for run in runs {
            index.extend([first, run.len() as u32]);
            first += run.len() as u32;
            for &(i, w) in run {
                entries[axis].extend([i, w.to_bits()]);
            }
        }
    }
    params.row_index = 2 * p.width;
    params.col_entries = 2 * (p.width + p.height);
    params.row_entries = params.col_entries + entries[0].len() as u32;
    let [col_entries, row_entries] = entries;
    let table = index
        .into_iter()
        .chain(col_entries)
        .chain(row_entries)
        .collect();
    (Kernel::Area(params), table)
}

pub(super) fn plan(
    src_width: u32,
    src_height: u32,
    in_format: PixelFormat,
    geometry: &Geometry,
    p: &ResizeParams,
) -> Result<Plan> {
    check_size("resize", p.width, p.height)?;
    let out_format = p.out_format.unwrap_or(in_format);
    let src = (src_width, src_height);
    let factors = (
        integer_factor(src_width, p.width),
        integer_factor(src_height, p.height),
    );
    let blocks = match factors {
        (Some(kx), Some(ky)) if p.sampling == Sampling::OpenCv => Some((kx, ky)),
        _ => None,
    };
    let (kernel, table) = match p.mode {
        ResizeMode::Linear => match blocks {
            // OpenCV: INTER_LINEAR at exactly 2× in both directions is computed as INTER_AREA.
            Some((2, 2)) => area_plan(src, in_format, out_format, p, blocks),
            _ => linear_plan(src, in_format, out_format, p),
        },
        ResizeMode::Area => {
            if p.width > src_width || p.height > src_height {
                return Err(Error::InvalidParams(format!(
                    "area averaging shrinks: output {}x{} must not exceed the input {src_width}x{src_height} \
                     in either direction (use linear to enlarge)",
                    p.width, p.height
                )));
            }
            area_plan(src, in_format, out_format, p, blocks)
        }
    };
    let sx = f64::from(src_width) / f64::from(p.width);
    let sy = f64::from(src_height) / f64::from(p.height);
    let map = [
        [sx, 0.0, 0.5 * sx - 0.5],
        [0.0, sy, 0.5 * sy - 0.5],
        [0.0, 0.0, 1.0],
    ];
    Ok(Plan {
        kernel,
        table,
        out_format,
        geometry: warp_geometry(geometry, &map),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::image::{HostImage, Pixels};
    use crate::ops::resize::{ResizeMode, reference};

    #[test]
    fn params_blocks_match_the_shader_sizes() {
        assert_eq!(std::mem::size_of::<LinearParams>(), 32);
        assert_eq!(std::mem::size_of::<AreaParams>(), 64);
    }

    #[test]
    fn linear_uses_half_pixel_centres_and_clamps() {
        // 4 → 8: output 0 sits at −0.25 (clamped to 0), output 1 at 0.25.
        let t = exact_linear_axis(4, 8);
        assert_eq!((t[0][0], t[0][1], f32::from_bits(t[0][3])), (0, 0, 0.0));
        assert_eq!((t[1][0], t[1][1], f32::from_bits(t[1][3])), (0, 1, 0.25));
        assert_eq!((t[7][0], t[7][1]), (3, 3));
        let img = HostImage::new(2, 1, Pixels::U8(vec![0, 100])).expect("image");
        let out = reference(&img, &ResizeParams::new(4, 1)).expect("resize");
        assert_eq!(out.pixels, Pixels::U8(vec![0, 25, 75, 100]));
    }

    #[test]
    fn area_weights_cover_each_footprint_once() {
        for (src, dst) in [(10, 3), (7, 7), (100, 37), (9, 1)] {
            for axis in [exact_area_axis(src, dst), opencv_area_axis(src, dst)] {
                for run in &axis {
                    let total: f32 = run.iter().map(|&(_, w)| w).sum();
                    assert!((total - 1.0).abs() < 1e-5, "{src}->{dst}: {run:?}");
                }
            }
        }
        let img = HostImage::new(4, 2, Pixels::U16(vec![1, 3, 10, 20, 5, 7, 30, 40])).expect("img");
        let mut p = ResizeParams::new(2, 1);
        p.mode = ResizeMode::Area;
        let out = reference(&img, &p).expect("area");
        assert_eq!(out.pixels, Pixels::U16(vec![4, 25]));
        p.width = 5;
        assert!(matches!(reference(&img, &p), Err(Error::InvalidParams(_))));
    }
}
