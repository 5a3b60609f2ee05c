//! What the shader and the CPU reference share: the uniform block of `shaders/warp_bilinear.wgsl`,
//! the per-column and per-row coordinate tables the host computes in f64, and the validated plan.

use super::map::{dst_to_src, warp_geometry};
use super::{Border, Mat3, Sampling, WarpParams};
use crate::image::{Geometry, PixelFormat};
use crate::ops::resample::{check_size, cv_round_i32, to_format, wrap_i64};
use crate::{Error, Result};

crate::wgsl_struct! {
    /// Uniform block of `shaders/warp_bilinear.wgsl` (same field order and sizes).
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    pub(super) struct Params = WARP_BILINEAR_PARAMS {
        pub(super) src_width: u32,
        pub(super) src_height: u32,
        pub(super) dst_width: u32,
        pub(super) dst_height: u32,
        pub(super) in_format: u32,
        pub(super) out_format: u32,
        pub(super) mode: u32,
        pub(super) border: u32,
        pub(super) border_value: f32,
        pub(super) row_table: u32,
        pub(super) col_stride: u32,
        pub(super) row_stride: u32,
    }
}

pub(super) const MODE_EXACT_AFFINE: u32 = 0;
pub(super) const MODE_EXACT_PERSPECTIVE: u32 = 1;
pub(super) const MODE_OPENCV_AFFINE: u32 = 2;
const MODE_OPENCV_PERSPECTIVE: u32 = 3;

/// Everything the shader and the reference share: the uniform, the coordinate tables, the output.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) params: Params,
    pub(super) table: Vec<u32>,
    pub(super) out_format: PixelFormat,
    pub(super) geometry: Geometry,
}

fn f32_word(v: f64) -> u32 {
    (v as f32).to_bits()
}

fn i64_words(v: i64) -> [u32; 2] {
    let bits = v as u64;
    [bits as u32, (bits >> 32) as u32]
}

/// The per-column and per-row tables of one mode; columns first, then rows.
fn tables(mode: u32, m: &Mat3, width: u32, height: u32) -> (Vec<u32>, u32, u32) {
    let xs = (0..width).map(f64::from);
    let ys = (0..height).map(f64::from);
    let mut t = Vec::new();
    match mode {
        MODE_EXACT_AFFINE => {
            for x in xs {
                t.extend([f32_word(m[0][0] * x), f32_word(m[1][0] * x)]);
            }
            for y in ys {
                t.extend([
                    f32_word(m[0][1] * y + m[0][2]),
                    f32_word(m[1][1] * y + m[1][2]),
                ]);
            }
            (t, 2, 2)
        }
        MODE_EXACT_PERSPECTIVE => {
            for x in xs {
                t.extend(m.iter().map(|row| f32_word(row[0] * x)));
            }
            for y in ys {
                t.extend(m.iter().map(|row| f32_word(row[1] * y + row[2])));
            }
            (t, 3, 3)
        }
        MODE_OPENCV_AFFINE => {
            // OpenCV warpAffine: AB_SCALE = 1024, round_delta = AB_SCALE / INTER_TAB_SIZE / 2 = 16.
            for x in xs {
                t.extend([
                    cv_round_i32(m[0][0] * x * 1024.0) as u32,
                    cv_round_i32(m[1][0] * x * 1024.0) as u32,
                ]);
            }
            for y in ys {
                t.extend([
                    cv_round_i32((m[0][1] * y + m[0][2]) * 1024.0).wrapping_add(16) as u32,
                    cv_round_i32((m[1][1] * y + m[1][2]) * 1024.0).wrapping_add(16) as u32,
                ]);
            }
            (t, 2, 2)
        }
        _ => {
            // Fixed point with 2^k units, k chosen so |W| < 2^40 over the output: then every product
            // the shader forms near a rounding decision stays far below 2^63.
            let (wx, wy) = (f64::from(width - 1), f64::from(height - 1));
            let w_max = [(0.0, 0.0), (wx, 0.0), (0.0, wy), (wx, wy)]
                .iter()
                .map(|&(x, y)| (m[2][0] * x + m[2][1] * y + m[2][2]).abs())
                .fold(0.0, f64::max);
            let k = if w_max > 0.0 {
                (40 - w_max.log2().ceil() as i32).clamp(-60, 60)
            } else {
                0
            };
            let unit = 2f64.powi(k);
            let fixed = |v: f64| i64_words(wrap_i64((v * unit).round_ties_even()));
            for x in xs {
                for row in m {
                    t.extend(fixed(row[0] * x));
                }
                t.extend(m.iter().map(|row| f32_word(row[0] * x)));
            }
            for y in ys {
                for row in m {
                    t.extend(fixed(row[1] * y + row[2]));
                }
                t.extend(m.iter().map(|row| f32_word(row[1] * y + row[2])));
            }
            (t, 9, 9)
        }
    }
}

pub(super) fn plan(
    src_width: u32,
    src_height: u32,
    in_format: PixelFormat,
    geometry: &Geometry,
    p: &WarpParams,
) -> Result<Plan> {
    check_size("warp", p.width, p.height)?;
    let map = dst_to_src(&p.transform, p.inverse)?;
    let border_value = match p.border {
        Border::Constant(v) if !v.is_finite() => {
            return Err(Error::InvalidParams(format!(
                "border value {v} must be a finite number"
            )));
        }
        Border::Constant(v) => to_format(v, in_format),
        _ => 0.0,
    };
    let mode = match (p.sampling, map.perspective) {
        (Sampling::Exact, false) => MODE_EXACT_AFFINE,
        (Sampling::Exact, true) => MODE_EXACT_PERSPECTIVE,
        (Sampling::OpenCv, false) => MODE_OPENCV_AFFINE,
        (Sampling::OpenCv, true) => MODE_OPENCV_PERSPECTIVE,
    };
    let (table, col_stride, row_stride) = tables(mode, &map.matrix, p.width, p.height);
    let out_format = p.out_format.unwrap_or(in_format);
    Ok(Plan {
        params: Params {
            src_width,
            src_height,
            dst_width: p.width,
            dst_height: p.height,
            in_format: in_format.shader_code(),
            out_format: out_format.shader_code(),
            mode,
            border: p.border.code(),
            border_value,
            row_table: p.width * col_stride,
            col_stride,
            row_stride,
        },
        table,
        out_format,
        geometry: warp_geometry(geometry, &map.matrix),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_block_matches_the_shader_size() {
        assert_eq!(std::mem::size_of::<Params>(), 48);
    }
}
