//! Histogram compensation decided on the GPU, so `--compensate histogram` is part of the stitch that
//! waits for the host once.
//!
//! Why: the tables depend on where registration put the stations (the overlaps they are matched
//! over), so on the host they cost a round trip in the middle of the pipeline. Here
//! `shaders/stitch_hist_match.wgsl` counts each station's overlap with its neighbour at the offsets in
//! the GPU plan, turns the counts into CDFs and the matching table, and applies the tables to the
//! atlas — stations in order, each after the neighbour whose matched values it is matched to. The
//! model is [`super`]'s `histogram` (the same neighbours, nearest samples, table rules);
//! [`reference_histogram`] is the same steps on the CPU with the shader's f32 placement arithmetic.

use super::{Correction, effective_gain, lut_domain, reference_matched_table};
use crate::stitch::atlas::{AtlasEntry, TableStation, shared_points};
use crate::stitch::layout::overlap;
use crate::stitch::plan::{GAIN, at, plan_offsets};
use std::sync::Arc;

use crate::gpu::GpuImage;
use crate::gpu::buffers::PooledBuffer;
use crate::gpu::shaders::kernels;
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, PixelFormat};
use crate::pipeline::{Bind, Recorder, Table};
use crate::{Error, Result};

/// The shader's "no neighbour".
const NONE: u32 = u32::MAX;
/// Stats words after the three histograms.
const STATS_WORDS: u32 = 16;
/// Most workgroups one `count` dispatch uses (it strides over larger overlaps).
const MAX_COUNT_GROUPS: u64 = 4096;

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_hist_match.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct HistUniform = STITCH_HIST_MATCH_PARAMS {
        count: u32,
        station: u32,
        neighbour: u32,
        lut_offset: i32,
        lut_len: u32,
        _p: [u32; 3],
    }
}

/// Refuses neighbour lists the chain cannot run: one entry per station, each neighbour earlier.
fn check_neighbours(neighbours: &[Option<usize>], count: usize) -> Result<()> {
    if neighbours.len() != count {
        return Err(Error::InvalidParams(format!(
            "histogram compensation: {} neighbour entries for {count} stations",
            neighbours.len()
        )));
    }
    for (i, nb) in neighbours.iter().enumerate() {
        if let Some(j) = *nb
            && j >= i
        {
            return Err(Error::InvalidParams(format!(
                "histogram compensation: station {i}'s neighbour {j} is not matched before it"
            )));
        }
    }
    Ok(())
}

/// Records the histogram compensation: every station's table (the first, and any without a
/// neighbour, keep the identity), the effective gains into the plan's gain words, and the atlas
/// mapped through the tables. `reach` is the search's reach in pixels (the overlaps can grow by it).
/// Returns the tables (`lut_len` values per station, one after another).
#[allow(clippy::too_many_arguments)]
pub fn encode_histogram(
    rec: &mut Recorder<'_>,
    table: &Table,
    plan: &GpuImage,
    atlas: &GpuImage,
    entries: &[AtlasEntry],
    neighbours: &[Option<usize>],
    format: PixelFormat,
    reach: f64,
) -> Result<GpuImage> {
    let (lut_offset, len) = lut_domain(format)?;
    let count = entries.len();
    check_neighbours(neighbours, count)?;
    let len = len as u32;
    let hist = rec.alloc_image(
        3 * len + STATS_WORDS,
        1,
        PixelFormat::F32,
        Geometry::default(),
    )?;
    let tables = rec.alloc_image(count as u32 * len, 1, PixelFormat::F32, Geometry::default())?;
    let shaders = rec.engine().shaders();
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    let uniform = |station: usize, neighbour: Option<usize>| HistUniform {
        count: count as u32,
        station: station as u32,
        neighbour: neighbour.map_or(NONE, |j| j as u32),
        lut_offset,
        lut_len: len,
        _p: [0; 3],
    };
    let table_groups = [len.div_ceil(256), 1, 1];
    fn binds<'a>(
        params: &'a Arc<PooledBuffer>,
        buffers: (
            &'a Table,
            &'a GpuImage,
            &'a GpuImage,
            &'a GpuImage,
            &'a GpuImage,
        ),
        used: &[u32],
    ) -> Vec<(u32, Bind<'a>)> {
        let (table, plan, atlas, hist, tables) = buffers;
        let all = [
            Bind::Pooled(params),
            Bind::Table(table),
            Bind::Image(plan),
            Bind::Image(atlas),
            Bind::Image(hist),
            Bind::Image(tables),
        ];
        // Each entry point binds the ones it reaches (a dispatch refuses any other).
        used.iter().map(|&n| (n, all[n as usize])).collect()
    }
    let buffers = (table, plan, atlas, &hist, &tables);
    for (i, &nb) in neighbours.iter().enumerate() {
        let params = rec.uniform(&uniform(i, nb), "stitch_hist_match params")?;
        if let Some(j) = nb {
            rec.encoder().clear_buffer(hist.buffer.buffer(), 0, None);
            // Enough invocations for the nominal overlap grown by the search's reach; the kernel
            // strides over whatever the registered overlap turns out to be.
            let grow = 2.0 * reach.max(0.0).ceil() + 4.0;
            let points = overlap(&entries[j].placement, &entries[i].placement).map_or(
                u64::from(entries[i].placement.width) * u64::from(entries[i].placement.height),
                |r| ((r[2] - r[0] + grow) * (r[3] - r[1] + grow)) as u64,
            );
            let groups = points.div_ceil(256).clamp(1, MAX_COUNT_GROUPS) as u32;
            let count_kernel = shaders.kernel(kernels::STITCH_HIST_MATCH_COUNT)?;
            rec.dispatch(
                &count_kernel,
                &binds(&params, buffers, &[0, 1, 2, 3, 4, 5]),
                [groups, 1, 1],
            )?;
            let cdf = shaders.kernel(kernels::STITCH_HIST_MATCH_CDF)?;
            rec.dispatch(&cdf, &binds(&params, buffers, &[0, 4, 5]), [1, 1, 1])?;
        }
        let map = shaders.kernel(kernels::STITCH_HIST_MATCH_MAP)?;
        rec.dispatch(&map, &binds(&params, buffers, &[0, 4, 5]), table_groups)?;
    }
    let params = rec.uniform(&uniform(0, None), "stitch_hist_match params")?;
    let gain_of = shaders.kernel(kernels::STITCH_HIST_MATCH_GAIN_OF)?;
    rec.dispatch(
        &gain_of,
        &binds(&params, buffers, &[0, 1, 2, 3, 5]),
        [count as u32, 1, 1],
    )?;
    let apply = shaders.kernel(kernels::STITCH_HIST_MATCH_APPLY)?;
    for (k, e) in entries.iter().enumerate() {
        let params = rec.uniform(&uniform(k, None), "stitch_hist_match params")?;
        let pixels = u64::from(e.placement.width) * u64::from(e.placement.height);
        rec.dispatch(
            &apply,
            &binds(&params, buffers, &[0, 1, 3, 5]),
            workgroups_1d(pixels, 256, max),
        )?;
    }
    Ok(tables)
}

/// The station's stored sample nearest to station pixel coordinates `s`, as the shader picks it.
fn nearest(st: &TableStation, s: [f32; 2], atlas: &[f32]) -> f32 {
    let x = (s[0].round().max(0.0) as u32).min(st.size[0] - 1);
    let y = (s[1].round().max(0.0) as u32).min(st.size[1] - 1);
    atlas[(st.atlas + y * st.size[0] + x) as usize]
}

/// `shaders/stitch_hist_match.wgsl` on the CPU: the tables (returned, one per station), the effective
/// gains written into the plan's gain words, and the atlas mapped through the tables. Placement in
/// the shader's f32 arithmetic; sums in f64 (the shader's are f32).
pub fn reference_histogram(
    table: &[u32],
    plan: &mut [f32],
    atlas: &mut [f32],
    neighbours: &[Option<usize>],
    format: PixelFormat,
) -> Result<Vec<Vec<f32>>> {
    let (offset, len) = lut_domain(format)?;
    let count = neighbours.len();
    check_neighbours(neighbours, count)?;
    let stations: Vec<TableStation> = (0..count).map(|k| TableStation::read(table, k)).collect();
    let offsets = plan_offsets(plan, count);
    let bin = |v: f32| (v as i64 + i64::from(offset)).clamp(0, len as i64 - 1) as usize;
    let identity: Vec<f32> = (0..len)
        .map(|k| (k as i64 - i64::from(offset)) as f32)
        .collect();
    let mut tables: Vec<Vec<f32>> = Vec::with_capacity(count);
    for (i, nb) in neighbours.iter().enumerate() {
        let Some(j) = *nb else {
            tables.push(identity.clone());
            continue;
        };
        let (si, sj) = (&stations[i], &stations[j]);
        let (mut h_img, mut h_ref) = (vec![0u32; len], vec![0u32; len]);
        let (mut sum_img, mut sum_ref) = (0.0f64, 0.0f64);
        for (s, t) in shared_points((si, offsets[i]), (sj, offsets[j]), 1) {
            let a = nearest(si, s, atlas);
            let mapped = tables[j][bin(nearest(sj, t, atlas))];
            h_img[bin(a)] += 1;
            h_ref[bin(mapped.round())] += 1;
            sum_img += f64::from(a);
            sum_ref += f64::from(mapped);
        }
        tables.push(reference_matched_table(
            &h_img, &h_ref, sum_img, sum_ref, offset,
        ));
    }
    for (k, st) in stations.iter().enumerate() {
        let start = st.atlas as usize;
        let samples = &mut atlas[start..start + st.size[0] as usize * st.size[1] as usize];
        let lut = Correction::Lut {
            offset,
            table: tables[k].clone(),
        };
        plan[at(k, GAIN)] = effective_gain(samples, &lut) as f32;
        for x in samples {
            *x = tables[k][bin(*x)];
        }
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_neighbour_list_the_chain_cannot_run_is_refused() {
        assert!(check_neighbours(&[None, Some(0), Some(1)], 3).is_ok());
        let later = check_neighbours(&[None, Some(2), Some(0)], 3)
            .expect_err("a later neighbour")
            .to_string();
        assert!(later.contains("not matched before it"), "{later}");
        let short = check_neighbours(&[None], 3)
            .expect_err("too few entries")
            .to_string();
        assert!(short.contains("1 neighbour entries for 3"), "{short}");
    }
}
