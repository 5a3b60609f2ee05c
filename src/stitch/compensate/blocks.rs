//! Block gain compensation solved on the GPU, so `--compensate blocks` is part of the stitch that
//! waits for the host once.
//!
//! Why: the block statistics are taken over the overlaps where registration put the stations, so on
//! the host they cost a round trip in the middle of the pipeline. A host solve would key its
//! statistics by the pairs of blocks it meets; a GPU cannot grow such a map, so the host lists, before anything
//! runs, every pair of blocks that can meet once registration has moved the stations (the nominal
//! layout with each box grown by what the search can move a station relative to another), and each
//! node's keys. `shaders/stitch_block_gains.wgsl` then sums each key over the points that really
//! fall in both blocks at the GPU's offsets (most candidates stay empty), solves the model by
//! conjugate gradients preconditioned with its diagonal (the system is symmetric positive definite:
//! the block prior plus one semi-definite term per key; Jacobi iterations, tried first, diverge
//! under a weak prior), smooths and applies. Nodes and smoothing are [`super`]'s `blocks`;
//! [`reference_blocks`] is the same steps on the CPU (exact solve in f64).

use super::{Correction, GainModel, block_grid, reference_apply, smooth, solve_gains};
use crate::stitch::atlas::{AtlasEntry, TableStation, shared_points};
use crate::stitch::layout::Placement;
use crate::stitch::plan::{GAIN, at, plan_offsets};
use std::sync::Arc;

use crate::gpu::GpuImage;
use crate::gpu::buffers::PooledBuffer;
use crate::gpu::shaders::kernels;
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, HostImage, PixelFormat, Pixels};
use crate::pipeline::{Bind, Recorder, Table};
use crate::{Error, Result};

/// Statistics stride (every other canvas point), as the host path's.
const STRIDE: usize = 2;
/// Planes of node values the solve and the smoothing use, and the solver's state words after them.
const NODE_PLANES: u32 = 6;
const STATE_WORDS: u32 = 4;
/// `solve_steps` dispatches (8 conjugate-gradient iterations each; the rest return at once once it
/// has converged, typically within 10–30 iterations).
const SOLVE_DISPATCHES: usize = 48;
/// The plane holding the smoothed block gains.
const SMOOTHED: usize = 5;

/// The keys and node lists decided on the host from the nominal layout.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockKeys {
    /// Candidate keys: station i, its block, station j (> i), its block.
    pub keys: Vec<[u32; 4]>,
    /// Per station: blocks across, blocks down, first node.
    pub grids: Vec<[u32; 3]>,
    /// Nodes (blocks of all stations).
    pub nodes: u32,
    /// Per node, where its entries start (`nodes + 1` values).
    pub offsets: Vec<u32>,
    /// Entries: key · 2 + side (0: the node is the key's station i, 1: station j).
    pub entries: Vec<u32>,
}

/// Canvas box of block `b` of a station with `grid` blocks at `p`, grown by `margin`.
fn block_box(p: &Placement, grid: (u32, u32), b: u32, margin: f64) -> [f64; 4] {
    let step = [
        f64::from(p.width) / f64::from(grid.0),
        f64::from(p.height) / f64::from(grid.1),
    ];
    let cell = [f64::from(b % grid.0), f64::from(b / grid.0)];
    let lo = [cell[0] * step[0] - 0.5, cell[1] * step[1] - 0.5];
    let hi = [lo[0] + step[0], lo[1] + step[1]];
    let mut r = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for s in [lo, [hi[0], lo[1]], [lo[0], hi[1]], hi] {
        let c = p.to_canvas(s);
        r = [
            r[0].min(c[0]),
            r[1].min(c[1]),
            r[2].max(c[0]),
            r[3].max(c[1]),
        ];
    }
    [r[0] - margin, r[1] - margin, r[2] + margin, r[3] + margin]
}

fn boxes_meet(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0].max(b[0]) <= a[2].min(b[2]) && a[1].max(b[1]) <= a[3].min(b[3])
}

/// Lists the keys every registered layout can need: for each pair of stations, each block of the
/// first against each block of the second whose boxes meet when grown by `margin` — the most the
/// registration can move one station relative to another — and, per node, its keys.
pub fn block_keys(entries: &[AtlasEntry], block_size: u32, margin: f64) -> Result<BlockKeys> {
    let mut grids = Vec::with_capacity(entries.len());
    let mut nodes: u64 = 0;
    for e in entries {
        let (bx, by) = block_grid(e.placement.width, e.placement.height, block_size);
        grids.push([bx, by, nodes as u32]);
        nodes += u64::from(bx) * u64::from(by);
    }
    let nodes = u32::try_from(nodes)
        .ok()
        .filter(|&n| n < u32::MAX / NODE_PLANES)
        .ok_or_else(|| Error::InvalidParams("block compensation: too many blocks".into()))?;
    let mut keys = Vec::new();
    for i in 0..entries.len() {
        for j in i + 1..entries.len() {
            let (pi, pj) = (&entries[i].placement, &entries[j].placement);
            let grow = |b: [f64; 4]| [b[0] - margin, b[1] - margin, b[2] + margin, b[3] + margin];
            if !boxes_meet(grow(pi.bbox()), grow(pj.bbox())) {
                continue;
            }
            let (gi, gj) = ((grids[i][0], grids[i][1]), (grids[j][0], grids[j][1]));
            let j_boxes: Vec<[f64; 4]> = (0..gj.0 * gj.1)
                .map(|bj| block_box(pj, gj, bj, 0.0))
                .collect();
            for bi in 0..gi.0 * gi.1 {
                let near = block_box(pi, gi, bi, margin);
                if !boxes_meet(near, pj.bbox()) {
                    continue;
                }
                for (bj, jb) in j_boxes.iter().enumerate() {
                    if boxes_meet(near, *jb) {
                        keys.push([i as u32, bi, j as u32, bj as u32]);
                    }
                }
            }
        }
    }
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); nodes as usize];
    for (m, k) in keys.iter().enumerate() {
        let m = m as u32;
        lists[(grids[k[0] as usize][2] + k[1]) as usize].push(m * 2);
        lists[(grids[k[2] as usize][2] + k[3]) as usize].push(m * 2 + 1);
    }
    let mut offsets = Vec::with_capacity(nodes as usize + 1);
    let mut flat = Vec::with_capacity(keys.len() * 2);
    for l in &lists {
        offsets.push(flat.len() as u32);
        flat.extend_from_slice(l);
    }
    offsets.push(flat.len() as u32);
    Ok(BlockKeys {
        keys,
        grids,
        nodes,
        offsets,
        entries: flat,
    })
}

/// How far the registration can move one station relative to another: each station moves by its
/// pair's correction (at most the reach plus ½ px) plus the correction of the station it is chained
/// to, so by at most (stations − 1) · (reach + 1) in all, and two stations twice that.
pub fn relative_reach(stations: usize, max_shift: f64) -> f64 {
    2.0 * (stations.saturating_sub(1)) as f64 * (max_shift.max(0.0).ceil() + 2.0)
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_block_gains.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct BlocksUniform = STITCH_BLOCK_GAINS_PARAMS {
        count: u32,
        station: u32,
        keys: u32,
        nodes: u32,
        grids_at: u32,
        offsets_at: u32,
        entries_at: u32,
        unit: f32,
        alpha: f32,
        beta: f32,
        _p: [u32; 2],
    }
}

/// Records the block compensation on an atlas whose stations already carry their global gains
/// ([`super::gains::encode_gains`]): key sums, the solve, smoothing (each station's reported gain becomes
/// its gain × its mean block gain) and the atlas multiplied by the interpolated block gains.
/// Returns the node planes (the smoothed block gains are plane 5).
#[allow(clippy::too_many_arguments)]
pub fn encode_blocks(
    rec: &mut Recorder<'_>,
    table: &Table,
    plan: &GpuImage,
    atlas: &GpuImage,
    entries: &[AtlasEntry],
    keys: &BlockKeys,
    unit: f64,
    model: &GainModel,
) -> Result<GpuImage> {
    let count = entries.len() as u32;
    let mut words: Vec<u32> = keys.keys.iter().flatten().copied().collect();
    let grids_at = words.len() as u32;
    for g in &keys.grids {
        words.extend([g[0], g[1], g[2], 0]);
    }
    let offsets_at = words.len() as u32;
    words.extend(&keys.offsets);
    let entries_at = words.len() as u32;
    words.extend(&keys.entries);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let blocks = rec.storage_table(&bytes, "stitch_block_gains keys")?;
    let sums = rec.alloc_image(
        (keys.keys.len() as u32).max(1) * 4,
        1,
        PixelFormat::F32,
        Geometry::default(),
    )?;
    let planes = rec.alloc_image(
        keys.nodes * NODE_PLANES + STATE_WORDS,
        1,
        PixelFormat::F32,
        Geometry::default(),
    )?;
    let uniform = |station: u32| BlocksUniform {
        count,
        station,
        keys: keys.keys.len() as u32,
        nodes: keys.nodes,
        grids_at,
        offsets_at,
        entries_at,
        unit: unit as f32,
        alpha: (1.0 / (model.sigma_n * model.sigma_n)) as f32,
        beta: (1.0 / (model.block_sigma_g * model.block_sigma_g)) as f32,
        _p: [0; 2],
    };
    let shaders = rec.engine().shaders();
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    let params = rec.uniform(&uniform(0), "stitch_block_gains params")?;
    fn binds<'a>(
        params: &'a Arc<PooledBuffer>,
        buffers: (&'a Table, &'a GpuImage, &'a GpuImage, &'a Table),
        sums: &'a GpuImage,
        planes: &'a GpuImage,
        used: &[u32],
    ) -> Vec<(u32, Bind<'a>)> {
        let (table, plan, atlas, blocks) = buffers;
        let all = [
            Bind::Pooled(params),
            Bind::Table(table),
            Bind::Image(plan),
            Bind::Image(atlas),
            Bind::Table(blocks),
            Bind::Image(sums),
            Bind::Image(planes),
        ];
        // Each entry point binds the ones it reaches (a dispatch refuses any other).
        used.iter().map(|&n| (n, all[n as usize])).collect()
    }
    let buffers = (table, plan, atlas, &blocks);
    if !keys.keys.is_empty() {
        let kernel = shaders.kernel(kernels::STITCH_BLOCK_GAINS_KEY_SUMS)?;
        // One workgroup per key, laid over two dimensions past the per-dimension limit.
        let groups = workgroups_1d(keys.keys.len() as u64 * 256, 256, max);
        rec.dispatch(
            &kernel,
            &binds(&params, buffers, &sums, &planes, &[0, 1, 2, 3, 4, 5]),
            groups,
        )?;
    }
    let kernel = shaders.kernel(kernels::STITCH_BLOCK_GAINS_SOLVE_INIT)?;
    rec.dispatch(
        &kernel,
        &binds(&params, buffers, &sums, &planes, &[0, 1, 4, 5, 6]),
        [1, 1, 1],
    )?;
    let kernel = shaders.kernel(kernels::STITCH_BLOCK_GAINS_SOLVE_STEPS)?;
    for _ in 0..SOLVE_DISPATCHES {
        rec.dispatch(
            &kernel,
            &binds(&params, buffers, &sums, &planes, &[0, 4, 5, 6]),
            [1, 1, 1],
        )?;
    }
    let kernel = shaders.kernel(kernels::STITCH_BLOCK_GAINS_SOLVE_FINISH)?;
    rec.dispatch(
        &kernel,
        &binds(&params, buffers, &sums, &planes, &[0, 2, 6]),
        [1, 1, 1],
    )?;
    let kernel = shaders.kernel(kernels::STITCH_BLOCK_GAINS_SMOOTH_GRIDS)?;
    rec.dispatch(
        &kernel,
        &binds(&params, buffers, &sums, &planes, &[0, 2, 4, 6]),
        [count, 1, 1],
    )?;
    let kernel = shaders.kernel(kernels::STITCH_BLOCK_GAINS_APPLY)?;
    for (k, e) in entries.iter().enumerate() {
        let params = rec.uniform(&uniform(k as u32), "stitch_block_gains params")?;
        let pixels = u64::from(e.placement.width) * u64::from(e.placement.height);
        rec.dispatch(
            &kernel,
            &binds(&params, buffers, &sums, &planes, &[0, 1, 3, 4, 6]),
            workgroups_1d(pixels, 256, max),
        )?;
    }
    Ok(planes)
}

/// `shaders/stitch_block_gains.wgsl` on the CPU: the key sums over the same points (f32 placement,
/// f64 sums), the model solved exactly (f64 Gaussian elimination over every node), the smoothing,
/// each station's reported gain into its plan block and the atlas multiplied by the interpolated
/// block gains. Returns the smoothed block gains, node-indexed.
pub fn reference_blocks(
    table: &[u32],
    plan: &mut [f32],
    atlas: &mut [f32],
    keys: &BlockKeys,
    unit: f64,
    model: &GainModel,
) -> Result<Vec<f32>> {
    let count = keys.grids.len();
    let stations: Vec<TableStation> = (0..count).map(|k| TableStation::read(table, k)).collect();
    let offsets = plan_offsets(plan, count);
    let block_of = |k: usize, s: [f32; 2]| -> u32 {
        let g = keys.grids[k];
        let size = stations[k].size;
        let ix = (((s[0] + 0.5) * g[0] as f32 / size[0] as f32).floor() as i64)
            .clamp(0, i64::from(g[0]) - 1) as u32;
        let iy = (((s[1] + 0.5) * g[1] as f32 / size[1] as f32).floor() as i64)
            .clamp(0, i64::from(g[1]) - 1) as u32;
        iy * g[0] + ix
    };
    let mut pairs = Vec::new();
    for key in &keys.keys {
        let (i, bi, j, bj) = (key[0] as usize, key[1], key[2] as usize, key[3]);
        let (si, sj) = (&stations[i], &stations[j]);
        let (mut n, mut a, mut c) = (0.0f64, 0.0f64, 0.0f64);
        for (s, t) in shared_points((si, offsets[i]), (sj, offsets[j]), STRIDE) {
            if block_of(i, s) == bi && block_of(j, t) == bj {
                n += 1.0;
                a += f64::from(si.sample(atlas, s));
                c += f64::from(sj.sample(atlas, t));
            }
        }
        if n > 0.0 {
            let p = (keys.grids[i][2] + bi) as usize;
            let q = (keys.grids[j][2] + bj) as usize;
            pairs.push((
                p,
                q,
                n * (STRIDE * STRIDE) as f64,
                a / n * unit,
                c / n * unit,
            ));
        }
    }
    let mut area = vec![0.0; keys.nodes as usize];
    for (k, g) in keys.grids.iter().enumerate() {
        let per = f64::from(stations[k].size[0]) * f64::from(stations[k].size[1])
            / f64::from(g[0] * g[1]);
        for a in &mut area[g[2] as usize..(g[2] + g[0] * g[1]) as usize] {
            *a = per;
        }
    }
    let residual = solve_gains(&area, &pairs, model.sigma_n, model.block_sigma_g)?;
    let mut smoothed = vec![0.0f32; keys.nodes as usize];
    for (k, g) in keys.grids.iter().enumerate() {
        let (w, h, base) = (g[0] as usize, g[1] as usize, g[2] as usize);
        let mut grid = residual[base..base + w * h].to_vec();
        for _ in 0..2 {
            grid = smooth(&grid, w, h);
        }
        let mean = grid.iter().sum::<f64>() / grid.len() as f64;
        plan[at(k, GAIN)] = (f64::from(plan[at(k, GAIN)]) * mean) as f32;
        let gains: Vec<f32> = grid.iter().map(|&v| v as f32).collect();
        smoothed[base..base + w * h].copy_from_slice(&gains);
        let st = &stations[k];
        let start = st.atlas as usize;
        let len = st.size[0] as usize * st.size[1] as usize;
        let image = HostImage::new(
            st.size[0],
            st.size[1],
            Pixels::F32(atlas[start..start + len].to_vec()),
        )?;
        let correction = Correction::Gain {
            blocks_x: g[0],
            blocks_y: g[1],
            gains,
        };
        atlas[start..start + len].copy_from_slice(&reference_apply(&image, &correction));
    }
    Ok(smoothed)
}

/// The smoothed block gains out of the node planes [`encode_blocks`] returns.
pub fn smoothed_plane(planes: &[f32], nodes: u32) -> &[f32] {
    let n = nodes as usize;
    &planes[SMOOTHED * n..(SMOOTHED + 1) * n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: [f64; 2], w: u32, h: u32) -> AtlasEntry {
        AtlasEntry {
            offset: 0,
            placement: Placement::new(offset, w, h),
        }
    }

    #[test]
    fn keys_cover_the_blocks_that_can_meet_and_list_each_node_s_keys() {
        // Two 256×256 stations, 64-px blocks (4×4 each), the second 200 px lower: they overlap in
        // rows 200–255 of the first, i.e. its block row 3 (rows 191.5–255.5) against the second's
        // block row 0; a 10-px margin also reaches the first's row 2 (ends at 191.5) and the
        // second's row 1 (starts at 63.5 + 200).
        let e = [entry([0.0, 0.0], 256, 256), entry([0.0, 200.0], 256, 256)];
        let k = block_keys(&e, 64, 10.0).expect("keys");
        assert_eq!(k.grids, vec![[4, 4, 0], [4, 4, 16]]);
        assert_eq!(k.nodes, 32);
        assert!(k.keys.iter().all(|key| key[0] == 0 && key[2] == 1));
        let rows: std::collections::BTreeSet<(u32, u32)> =
            k.keys.iter().map(|key| (key[1] / 4, key[3] / 4)).collect();
        assert!(rows.contains(&(3, 0)) && rows.contains(&(2, 0)) && rows.contains(&(3, 1)));
        assert!(!rows.iter().any(|&(ri, _)| ri < 2), "{rows:?}");
        // Columns: each block meets its own column and its neighbours (10 px margin), not beyond.
        assert!(
            k.keys
                .iter()
                .all(|key| (key[1] % 4).abs_diff(key[3] % 4) <= 1)
        );
        // Every key appears once on each side.
        assert_eq!(k.offsets.len(), 33);
        assert_eq!(k.entries.len(), 2 * k.keys.len());
        for (m, key) in k.keys.iter().enumerate() {
            let (p, q) = (key[1] as usize, 16 + key[3] as usize);
            let of =
                |node: usize| &k.entries[k.offsets[node] as usize..k.offsets[node + 1] as usize];
            assert!(of(p).contains(&(m as u32 * 2)));
            assert!(of(q).contains(&(m as u32 * 2 + 1)));
        }
        // Far apart: no keys.
        let far = [entry([0.0, 0.0], 256, 256), entry([0.0, 600.0], 256, 256)];
        assert!(block_keys(&far, 64, 10.0).expect("keys").keys.is_empty());
    }

    #[test]
    fn the_relative_reach_grows_with_the_chain() {
        assert_eq!(relative_reach(2, 20.0), 44.0);
        assert_eq!(relative_reach(3, 20.0), 88.0);
        assert_eq!(relative_reach(1, 20.0), 0.0);
    }
}
