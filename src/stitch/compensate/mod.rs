//! Exposure compensation: stations exposed differently get matched before blending, on 16-bit data.
//!
//! - `gain`: OpenCV GainCompensator's model. For stations i, j overlapping in N_ij pixels with mean
//!   intensities I_ij (of i) and I_ji (of j), minimise
//!   Σ N_ij·[(g_i·I_ij − g_j·I_ji)²/σ_N² + (1 − g_i)²/σ_g²], N_ii being station i's area — the normal
//!   equations OpenCV builds (`A(i,i) += β·N_ij + 2α·I_ij²·N_ij`, `A(i,j) −= 2α·I_ij·I_ji·N_ij`,
//!   `b(i) += β·N_ij`). Intensities are expressed in 8-bit units of the data's range so σ_N = 10 means
//!   what it means in OpenCV. Two deliberate departures, both because a radiologist measures on the
//!   result: the default σ_g is 10 instead of 0.1 (OpenCV's prior pulls gains toward 1 as hard as the
//!   data pulls them apart, which leaves a visible step on 16-bit radiographs), and the gains are
//!   divided by the first station's so it keeps its modality values.
//! - `blocks`: BlocksGainCompensator's idea on top of the global gains: every block (default 128 px)
//!   of every station is a node of the same model (with OpenCV's σ_g = 0.1 pulling each block toward
//!   its station's gain), the block gains are smoothed with [1 2 1]/4 twice, and the kernel interpolates
//!   them bilinearly between block centres.
//! - `histogram`: each station's values are mapped so its histogram over the overlap matches its
//!   (already matched) neighbour's there ([`crate::ops::histmatch::reference_lut`]); beyond the values
//!   seen in the overlap the table continues with the overlap's mean ratio instead of clipping.
//!
//! The statistics are gathered and the models solved on the GPU, over the overlaps where the layout
//! put the stations ([`gains`], [`blocks`], [`histogram`]). This file holds what the models share: their parameters, the
//! kernel that fills the atlas (`shaders/stitch_gain.wgsl`), and the pieces of their CPU references
//! (the f64 solve, the smoothing, the table rule).

pub mod blocks;
pub mod gains;
pub mod histogram;

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::gpu::workgroups_1d;
use crate::image::{HostImage, PixelFormat};
use crate::ops::histmatch::reference_lut;
use crate::ops::histogram::reference_cdf;
use crate::pipeline::{Bind, Recorder};
use crate::stitch::atlas::AtlasEntry;
use crate::{Error, Result};

/// Which exposure compensation to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compensation {
    /// Stations as they are.
    None,
    /// One gain per station (least squares over overlap means).
    #[default]
    Gain,
    /// Per-block gains, smoothed.
    Blocks,
    /// Histogram matching in the overlap.
    Histogram,
}

impl std::str::FromStr for Compensation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Compensation::None),
            "gain" => Ok(Compensation::Gain),
            "blocks" => Ok(Compensation::Blocks),
            "histogram" => Ok(Compensation::Histogram),
            _ => Err(Error::InvalidParams(format!(
                "--compensate '{s}': use none, gain, blocks or histogram"
            ))),
        }
    }
}

/// The gain model's parameters (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GainModel {
    /// Intensity noise σ_N in 8-bit units of the data range (OpenCV: 10).
    pub sigma_n: f64,
    /// Prior σ_g of the station gains around 1 (OpenCV: 0.1; radpipe default 10).
    pub sigma_g: f64,
    /// Prior σ_g of the block gains around their station's gain (OpenCV: 0.1).
    pub block_sigma_g: f64,
    /// Block side in station pixels.
    pub block_size: u32,
}

impl Default for GainModel {
    fn default() -> Self {
        GainModel {
            sigma_n: 10.0,
            sigma_g: 10.0,
            block_sigma_g: 0.1,
            block_size: 128,
        }
    }
}

/// What the gain kernel applies to one station.
#[derive(Debug, Clone, PartialEq)]
pub enum Correction {
    /// Gains at block centres (`blocks_x`×`blocks_y`, row-major), bilinear in between.
    Gain {
        /// Blocks per row.
        blocks_x: u32,
        /// Block rows.
        blocks_y: u32,
        /// Gains.
        gains: Vec<f32>,
    },
    /// A value table: output = `table[sample + offset]`.
    Lut {
        /// Added to the sample (32768 for i16).
        offset: i32,
        /// The table.
        table: Vec<f32>,
    },
}

impl Correction {
    /// One gain for the whole station.
    pub fn gain(g: f64) -> Self {
        Correction::Gain {
            blocks_x: 1,
            blocks_y: 1,
            gains: vec![g as f32],
        }
    }
}

/// Solves the gain model's normal equations for `count` nodes: `area[i]` = N_ii, `pairs` =
/// (i, j, N_ij, I_ij, I_ji) with intensities already in 8-bit units.
pub fn solve_gains(
    area: &[f64],
    pairs: &[(usize, usize, f64, f64, f64)],
    sigma_n: f64,
    sigma_g: f64,
) -> Result<Vec<f64>> {
    let n = area.len();
    let alpha = 1.0 / (sigma_n * sigma_n);
    let beta = 1.0 / (sigma_g * sigma_g);
    let mut a = vec![vec![0.0f64; n]; n];
    let mut b = vec![0.0f64; n];
    for i in 0..n {
        b[i] += beta * area[i];
        a[i][i] += beta * area[i];
    }
    for &(i, j, nij, iij, iji) in pairs {
        // Both orderings, as OpenCV's loop over all (i, j) does.
        for (p, q, ip, iq) in [(i, j, iij, iji), (j, i, iji, iij)] {
            b[p] += beta * nij;
            a[p][p] += beta * nij + 2.0 * alpha * ip * ip * nij;
            a[p][q] -= 2.0 * alpha * ip * iq * nij;
        }
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))
            .unwrap_or(col);
        if a[pivot][col].abs() < 1e-300 {
            return Err(Error::InvalidParams(
                "gain compensation: singular system (stations without overlap?)".into(),
            ));
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            if f != 0.0 {
                let (upper, lower) = a.split_at_mut(row);
                for (x, p) in lower[0][col..].iter_mut().zip(&upper[col][col..]) {
                    *x -= f * p;
                }
                b[row] -= f * b[col];
            }
        }
    }
    let mut g = vec![0.0f64; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * g[k]).sum();
        g[row] = (b[row] - s) / a[row][row];
    }
    Ok(g)
}

/// Blocks per row and column of a station for `block_size`.
pub fn block_grid(width: u32, height: u32, block_size: u32) -> (u32, u32) {
    let b = f64::from(block_size.max(1));
    (
        ((f64::from(width) / b).round() as u32).max(1),
        ((f64::from(height) / b).round() as u32).max(1),
    )
}

/// [1 2 1]/4 in x then y, edges replicated (OpenCV smooths block gain maps this way).
pub fn smooth(g: &[f64], w: usize, h: usize) -> Vec<f64> {
    let at = |v: &[f64], x: i64, y: i64| {
        v[(y.clamp(0, h as i64 - 1) as usize) * w + x.clamp(0, w as i64 - 1) as usize]
    };
    let mut t = vec![0.0; g.len()];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            t[y as usize * w + x as usize] =
                (at(g, x - 1, y) + 2.0 * at(g, x, y) + at(g, x + 1, y)) / 4.0;
        }
    }
    let mut o = vec![0.0; g.len()];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            o[y as usize * w + x as usize] =
                (at(&t, x, y - 1) + 2.0 * at(&t, x, y) + at(&t, x, y + 1)) / 4.0;
        }
    }
    o
}

/// Table domain of a format: (offset added to a sample, length).
pub fn lut_domain(format: PixelFormat) -> Result<(i32, usize)> {
    match format {
        PixelFormat::U8 => Ok((0, 256)),
        PixelFormat::U16 => Ok((0, 65536)),
        PixelFormat::I16 => Ok((32768, 65536)),
        PixelFormat::F32 => Err(Error::InvalidParams(
            "histogram compensation needs integer samples (u8, u16, i16)".into(),
        )),
    }
}

/// A station's table from its overlap histogram `h_img`, its neighbour's mapped values' histogram
/// `h_ref` and both overlap sums: the matching table ([`reference_lut`]) over the occupied bins, and
/// beyond them lines of the overlap's mean ratio through the first and last occupied bin's values;
/// the identity when the overlap is empty. The table rule of the histogram model's CPU reference
/// ([`histogram::reference_histogram`]; the tests' f64 oracle uses it too).
pub fn reference_matched_table(
    h_img: &[u32],
    h_ref: &[u32],
    sum_img: f64,
    sum_ref: f64,
    offset: i32,
) -> Vec<f32> {
    let lut = reference_lut(&reference_cdf(h_img), &reference_cdf(h_ref), 0);
    let ratio = if sum_img > 0.0 {
        sum_ref / sum_img
    } else {
        1.0
    };
    let lo = h_img.iter().position(|&c| c > 0);
    let hi = h_img.iter().rposition(|&c| c > 0);
    let value = |k: usize| lut[k] as f64 - f64::from(offset);
    (0..h_img.len())
        .map(|k| {
            let v = k as f64 - f64::from(offset);
            let out = match (lo, hi) {
                (Some(lo), _) if k < lo => {
                    value(lo) + (v - (lo as f64 - f64::from(offset))) * ratio
                }
                (_, Some(hi)) if k > hi => {
                    value(hi) + (v - (hi as f64 - f64::from(offset))) * ratio
                }
                (Some(_), Some(_)) => value(k),
                _ => v,
            };
            out as f32
        })
        .collect()
}

/// 255 / the largest |sample| over all stations (the largest at least 1): the factor that puts
/// intensities in the 8-bit units the gain model's σ_N is stated in.
pub fn eight_bit_unit<'a>(stations: impl IntoIterator<Item = &'a [f32]>) -> f64 {
    let max = stations
        .into_iter()
        .flat_map(|v| v.iter())
        .fold(0.0f32, |m, &v| m.max(v.abs()));
    255.0 / f64::from(max.max(1.0))
}

/// A table's effective gain for the report: the mean ratio of mapped to stored values over every
/// 7th sample (1 for a gain correction or an all-zero station).
pub fn effective_gain(values: &[f32], c: &Correction) -> f64 {
    let Correction::Lut { offset, table } = c else {
        return 1.0;
    };
    let (mut a, mut b) = (0.0f64, 0.0f64);
    for &v in values.iter().step_by(7) {
        let k = (v as i64 + i64::from(*offset)).clamp(0, table.len() as i64 - 1) as usize;
        a += f64::from(v);
        b += f64::from(table[k]);
    }
    if a > 0.0 { b / a } else { 1.0 }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_gain.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct GainUniform = STITCH_GAIN_PARAMS {
        width: u32,
        height: u32,
        in_format: u32,
        dst_offset: u32,
        blocks_x: u32,
        blocks_y: u32,
        lut_offset: i32,
        lut_len: u32,
    }
}

/// Records `station` (packed samples) → f32 into `atlas` at word `dst_offset`, corrected.
pub fn encode_apply(
    rec: &mut Recorder<'_>,
    station: &GpuImage,
    correction: &Correction,
    atlas: &GpuImage,
    dst_offset: u32,
) -> Result<()> {
    if atlas.format != PixelFormat::F32
        || u64::from(dst_offset) + station.pixel_count() as u64 > atlas.pixel_count() as u64
    {
        return Err(Error::InvalidParams(
            "stitch atlas too small or not f32".into(),
        ));
    }
    let (entry, u, words) = match correction {
        Correction::Gain {
            blocks_x,
            blocks_y,
            gains,
        } => {
            if gains.len() != (*blocks_x as usize) * (*blocks_y as usize) || gains.is_empty() {
                return Err(Error::InvalidParams("gain grid size mismatch".into()));
            }
            (
                kernels::STITCH_GAIN_GAIN,
                GainUniform {
                    width: station.width,
                    height: station.height,
                    in_format: station.format.shader_code(),
                    dst_offset,
                    blocks_x: *blocks_x,
                    blocks_y: *blocks_y,
                    lut_offset: 0,
                    lut_len: 0,
                },
                gains,
            )
        }
        Correction::Lut { offset, table } => (
            kernels::STITCH_GAIN_LUT,
            GainUniform {
                width: station.width,
                height: station.height,
                in_format: station.format.shader_code(),
                dst_offset,
                blocks_x: 1,
                blocks_y: 1,
                lut_offset: *offset,
                lut_len: table.len() as u32,
            },
            table,
        ),
    };
    let bytes: Vec<u8> = words.iter().flat_map(|v| v.to_le_bytes()).collect();
    let kernel = rec.engine().shaders().kernel(entry)?;
    let params = rec.uniform(&u, "stitch_gain params")?;
    let table = rec.storage_table(&bytes, "stitch_gain table")?;
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    let groups = workgroups_1d(station.pixel_count() as u64, 256, max);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&params)),
            (1, Bind::Image(station)),
            (2, Bind::Table(&table)),
            (3, Bind::Image(atlas)),
        ],
        groups,
    )
}

/// Records every station into the atlas, corrected (one gain-apply dispatch per station).
pub fn encode_fill_atlas(
    rec: &mut Recorder<'_>,
    uploaded: &[GpuImage],
    entries: &[AtlasEntry],
    corrections: &[Correction],
    atlas: &GpuImage,
) -> Result<()> {
    for ((img, e), c) in uploaded.iter().zip(entries).zip(corrections) {
        encode_apply(rec, img, c, atlas, e.offset)?;
    }
    Ok(())
}

/// The correction on the CPU, with the shader's f32 arithmetic.
pub fn reference_apply(image: &HostImage, correction: &Correction) -> Vec<f32> {
    let (w, h) = (image.width, image.height);
    (0..image.pixel_count())
        .map(|i| {
            let v = image.pixels.get_f64(i) as f32;
            match correction {
                Correction::Gain {
                    blocks_x,
                    blocks_y,
                    gains,
                } => {
                    let (bx, by) = (*blocks_x, *blocks_y);
                    let (x, y) = ((i as u32) % w, (i as u32) / w);
                    let fx =
                        ((x as f32 + 0.5) * bx as f32 / w as f32 - 0.5).clamp(0.0, (bx - 1) as f32);
                    let fy =
                        ((y as f32 + 0.5) * by as f32 / h as f32 - 0.5).clamp(0.0, (by - 1) as f32);
                    let (x0, y0) = (
                        (fx.floor() as u32).min(bx - 1),
                        (fy.floor() as u32).min(by - 1),
                    );
                    let (x1, y1) = ((x0 + 1).min(bx - 1), (y0 + 1).min(by - 1));
                    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
                    let g = |xx: u32, yy: u32| gains[(yy * bx + xx) as usize];
                    let top = g(x0, y0) + tx * (g(x1, y0) - g(x0, y0));
                    let bottom = g(x0, y1) + tx * (g(x1, y1) - g(x0, y1));
                    v * (top + ty * (bottom - top))
                }
                Correction::Lut { offset, table } => {
                    let k = (v as i32 + offset).clamp(0, table.len() as i32 - 1);
                    table[k as usize]
                }
            }
        })
        .collect()
}
