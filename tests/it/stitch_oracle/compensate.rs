//! The host path's exposure compensation, in f64 from the stations' host copies: overlap statistics
//! gathered on the CPU at f64 placements and the gain, block-gain and histogram models solved there.
//! Production decides all of it on the GPU (`src/stitch/compensate/`); this is the oracle the
//! single path is compared against (`stitch_sim.rs`), so it shares only the solvers and the table
//! rule with it.

use std::collections::HashMap;

use radpipe::image::PixelFormat;
use radpipe::stitch::compensate::{
    Compensation, Correction, GainModel, block_grid, effective_gain, eight_bit_unit, lut_domain,
    reference_matched_table, smooth, solve_gains,
};
use radpipe::stitch::layout::{Placement, overlap};
use radpipe::{Error, Result};

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
        tables.push(reference_matched_table(
            &h_img, &h_ref, sum_img, sum_ref, offset,
        ));
    }
    Ok(tables
        .into_iter()
        .map(|table| Correction::Lut { offset, table })
        .collect())
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
