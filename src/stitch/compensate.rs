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
//! Statistics are gathered on the host from the stations' samples (a few hundred thousand overlap
//! pixels); the correction is applied on the GPU while filling the atlas (`shaders/stitch_gain.wgsl`).
//! A registered stitch gathers and solves them on the GPU instead ([`super::resident`],
//! [`super::resident_histogram`], [`super::resident_blocks`]), where the offsets are only known there.

use std::collections::HashMap;

use super::layout::{Placement, overlap};
use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::gpu::workgroups_1d;
use crate::image::{HostImage, PixelFormat};
use crate::ops::histmatch::reference_lut;
use crate::ops::histogram::reference_cdf;
use crate::pipeline::{Bind, Recorder};
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

/// A station's samples (as f32) and placement, for gathering statistics.
#[derive(Debug, Clone, Copy)]
pub struct StationSamples<'a> {
    /// Row-major samples.
    pub values: &'a [f32],
    /// Where it sits.
    pub placement: &'a Placement,
}

impl StationSamples<'_> {
    /// Bilinear sample at canvas point `p` (None outside the station).
    fn at(&self, p: [f64; 2]) -> Option<(f64, [f64; 2])> {
        if !self.placement.covers(p) {
            return None;
        }
        let s = self.placement.to_station(p);
        let (w, h) = (
            self.placement.width as usize,
            self.placement.height as usize,
        );
        let x = s[0].clamp(0.0, (w - 1) as f64);
        let y = s[1].clamp(0.0, (h - 1) as f64);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (tx, ty) = (x - x0 as f64, y - y0 as f64);
        let v = |xx: usize, yy: usize| f64::from(self.values[yy * w + xx]);
        let top = v(x0, y0) + tx * (v(x1, y0) - v(x0, y0));
        let bottom = v(x0, y1) + tx * (v(x1, y1) - v(x0, y1));
        Some((top + ty * (bottom - top), s))
    }

    /// Nearest stored sample at canvas point `p`.
    fn nearest(&self, p: [f64; 2]) -> Option<f32> {
        if !self.placement.covers(p) {
            return None;
        }
        let s = self.placement.to_station(p);
        let (w, h) = (self.placement.width, self.placement.height);
        let x = (s[0].round().max(0.0) as u32).min(w - 1);
        let y = (s[1].round().max(0.0) as u32).min(h - 1);
        Some(self.values[(y * w + x) as usize])
    }
}

/// Canvas points of an overlap rectangle at `stride`.
fn overlap_points(r: [f64; 4], stride: f64) -> impl Iterator<Item = [f64; 2]> {
    let xs = (r[0].ceil() as i64)..=(r[2].floor() as i64);
    let ys = (r[1].ceil() as i64)..=(r[3].floor() as i64);
    let step = stride.max(1.0) as usize;
    ys.step_by(step)
        .flat_map(move |y| xs.clone().step_by(step).map(move |x| [x as f64, y as f64]))
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

/// Statistics stride: every other canvas pixel in each direction.
const STRIDE: f64 = 2.0;

/// Per-station global gains (first station = 1) and the 8-bit unit factor.
fn global_gains(stations: &[StationSamples<'_>], unit: f64, model: &GainModel) -> Result<Vec<f64>> {
    let area: Vec<f64> = stations
        .iter()
        .map(|s| f64::from(s.placement.width) * f64::from(s.placement.height))
        .collect();
    let mut pairs = Vec::new();
    for i in 0..stations.len() {
        for j in i + 1..stations.len() {
            let Some(r) = overlap(stations[i].placement, stations[j].placement) else {
                continue;
            };
            let (mut n, mut si, mut sj) = (0.0, 0.0, 0.0);
            for p in overlap_points(r, STRIDE) {
                if let (Some((a, _)), Some((b, _))) = (stations[i].at(p), stations[j].at(p)) {
                    n += 1.0;
                    si += a;
                    sj += b;
                }
            }
            if n > 0.0 {
                pairs.push((i, j, n * STRIDE * STRIDE, si / n * unit, sj / n * unit));
            }
        }
    }
    let g = solve_gains(&area, &pairs, model.sigma_n, model.sigma_g)?;
    let g0 = g[0];
    if g0.is_nan() || g0 <= 0.0 || g.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidParams(
            "gain compensation found no valid gains".into(),
        ));
    }
    Ok(g.iter().map(|v| v / g0).collect())
}

/// Blocks per row and column of a station for `block_size`.
pub fn block_grid(width: u32, height: u32, block_size: u32) -> (u32, u32) {
    let b = f64::from(block_size.max(1));
    (
        ((f64::from(width) / b).round() as u32).max(1),
        ((f64::from(height) / b).round() as u32).max(1),
    )
}

/// A block node: (station, block index).
type Node = (usize, usize);

fn block_gains(
    stations: &[StationSamples<'_>],
    global: &[f64],
    unit: f64,
    model: &GainModel,
) -> Result<Vec<Correction>> {
    let grids: Vec<(u32, u32)> = stations
        .iter()
        .map(|s| block_grid(s.placement.width, s.placement.height, model.block_size))
        .collect();
    let block_of = |k: usize, s: [f64; 2]| -> usize {
        let p = stations[k].placement;
        let (bx, by) = grids[k];
        let ix = (((s[0] + 0.5) * f64::from(bx) / f64::from(p.width)).floor() as i64)
            .clamp(0, i64::from(bx) - 1) as usize;
        let iy = (((s[1] + 0.5) * f64::from(by) / f64::from(p.height)).floor() as i64)
            .clamp(0, i64::from(by) - 1) as usize;
        iy * bx as usize + ix
    };
    // (station, block) → node, only for blocks that take part in an overlap.
    let mut stats: HashMap<(Node, Node), (f64, f64, f64)> = HashMap::new();
    for i in 0..stations.len() {
        for j in i + 1..stations.len() {
            let Some(r) = overlap(stations[i].placement, stations[j].placement) else {
                continue;
            };
            for p in overlap_points(r, STRIDE) {
                if let (Some((a, sa)), Some((b, sb))) = (stations[i].at(p), stations[j].at(p)) {
                    let e = stats
                        .entry(((i, block_of(i, sa)), (j, block_of(j, sb))))
                        .or_insert((0.0, 0.0, 0.0));
                    e.0 += 1.0;
                    e.1 += a * global[i];
                    e.2 += b * global[j];
                }
            }
        }
    }
    let mut nodes: HashMap<(usize, usize), usize> = HashMap::new();
    let mut keys: Vec<_> = stats.keys().copied().collect();
    keys.sort_unstable();
    for (a, b) in &keys {
        for k in [*a, *b] {
            let next = nodes.len();
            nodes.entry(k).or_insert(next);
        }
    }
    let mut area = vec![0.0; nodes.len()];
    for (&(k, _), &idx) in &nodes {
        let p = stations[k].placement;
        let (bx, by) = grids[k];
        area[idx] = f64::from(p.width) * f64::from(p.height) / f64::from(bx * by);
    }
    let pairs: Vec<_> = keys
        .iter()
        .map(|key| {
            let (n, si, sj) = stats[key];
            (
                nodes[&key.0],
                nodes[&key.1],
                n * STRIDE * STRIDE,
                si / n * unit,
                sj / n * unit,
            )
        })
        .collect();
    let residual = if nodes.is_empty() {
        Vec::new()
    } else {
        solve_gains(&area, &pairs, model.sigma_n, model.block_sigma_g)?
    };
    Ok((0..stations.len())
        .map(|k| {
            let (bx, by) = grids[k];
            let mut grid = vec![1.0f64; (bx * by) as usize];
            for (&(station, block), &idx) in &nodes {
                if station == k {
                    grid[block] = residual[idx];
                }
            }
            for _ in 0..2 {
                grid = smooth(&grid, bx as usize, by as usize);
            }
            Correction::Gain {
                blocks_x: bx,
                blocks_y: by,
                gains: grid.iter().map(|r| (r * global[k]) as f32).collect(),
            }
        })
        .collect())
}

/// [1 2 1]/4 in x then y, edges replicated (OpenCV smooths block gain maps this way).
pub(super) fn smooth(g: &[f64], w: usize, h: usize) -> Vec<f64> {
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
pub(super) fn lut_domain(format: PixelFormat) -> Result<(i32, usize)> {
    match format {
        PixelFormat::U8 => Ok((0, 256)),
        PixelFormat::U16 => Ok((0, 65536)),
        PixelFormat::I16 => Ok((32768, 65536)),
        PixelFormat::F32 => Err(Error::InvalidParams(
            "histogram compensation needs integer samples (u8, u16, i16)".into(),
        )),
    }
}

fn histogram_luts(
    stations: &[StationSamples<'_>],
    neighbours: &[Option<usize>],
    format: PixelFormat,
) -> Result<Vec<Correction>> {
    let (offset, len) = lut_domain(format)?;
    let identity: Vec<f32> = (0..len)
        .map(|k| (k as i64 - i64::from(offset)) as f32)
        .collect();
    let mut tables: Vec<Vec<f32>> = Vec::with_capacity(stations.len());
    for (i, nb) in neighbours.iter().enumerate() {
        let Some(j) = *nb else {
            tables.push(identity.clone());
            continue;
        };
        let Some(r) = overlap(stations[j].placement, stations[i].placement) else {
            tables.push(identity.clone());
            continue;
        };
        let mut h_img = vec![0u32; len];
        let mut h_ref = vec![0u32; len];
        let (mut sum_img, mut sum_ref) = (0.0f64, 0.0f64);
        for p in overlap_points(r, 1.0) {
            if let (Some(a), Some(b)) = (stations[i].nearest(p), stations[j].nearest(p)) {
                let ka = (a as i64 + i64::from(offset)).clamp(0, len as i64 - 1) as usize;
                let kb = (b as i64 + i64::from(offset)).clamp(0, len as i64 - 1) as usize;
                let mapped = tables[j][kb];
                let km = (mapped.round() as i64 + i64::from(offset)).clamp(0, len as i64 - 1);
                h_img[ka] += 1;
                h_ref[km as usize] += 1;
                sum_img += f64::from(a);
                sum_ref += f64::from(mapped);
            }
        }
        tables.push(matched_table(&h_img, &h_ref, sum_img, sum_ref, offset));
    }
    Ok(tables
        .into_iter()
        .map(|table| Correction::Lut { offset, table })
        .collect())
}

/// A station's table from its overlap histogram `h_img`, its neighbour's mapped values' histogram
/// `h_ref` and both overlap sums: the matching table ([`reference_lut`]) over the occupied bins, and
/// beyond them lines of the overlap's mean ratio through the first and last occupied bin's values;
/// the identity when the overlap is empty. Shared by the host path and the CPU mirror of the
/// GPU-resident one (`resident_histogram`).
pub(super) fn matched_table(
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

/// The corrections for every station, and each station's effective gain (for the report: the gain, the
/// mean block gain, or the overlap mean ratio of the table).
pub fn corrections(
    kind: Compensation,
    stations: &[StationSamples<'_>],
    neighbours: &[Option<usize>],
    format: PixelFormat,
    model: &GainModel,
) -> Result<(Vec<Correction>, Vec<f64>)> {
    let unit = eight_bit_unit(stations.iter().map(|s| s.values));
    match kind {
        Compensation::None => Ok((
            stations.iter().map(|_| Correction::gain(1.0)).collect(),
            vec![1.0; stations.len()],
        )),
        Compensation::Gain => {
            let g = global_gains(stations, unit, model)?;
            Ok((g.iter().map(|&v| Correction::gain(v)).collect(), g))
        }
        Compensation::Blocks => {
            let g = global_gains(stations, unit, model)?;
            let c = block_gains(stations, &g, unit, model)?;
            let means = c
                .iter()
                .map(|c| match c {
                    Correction::Gain { gains, .. } => {
                        gains.iter().map(|&v| f64::from(v)).sum::<f64>() / gains.len() as f64
                    }
                    Correction::Lut { .. } => 1.0,
                })
                .collect();
            Ok((c, means))
        }
        Compensation::Histogram => {
            let c = histogram_luts(stations, neighbours, format)?;
            let gains = stations
                .iter()
                .zip(&c)
                .map(|(s, c)| effective_gain(s.values, c))
                .collect();
            Ok((c, gains))
        }
    }
}

pub(super) fn effective_gain(values: &[f32], c: &Correction) -> f64 {
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
