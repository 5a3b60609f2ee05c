//! Gain compensation decided on the GPU (`shaders/stitch_gain_solve.wgsl`): the overlap sums at the
//! offsets the layout put in the plan, the gain model ([`super`]'s `gain`) solved in one invocation,
//! and every station's atlas samples scaled by its gain.
//!
//! Why on the GPU: the overlaps are only known where the registration put the stations, on the GPU;
//! solving there keeps the stitch to one wait. [`reference_gains`] is the same step on the CPU: the
//! same points in the shader's f32 placement, sums in f64, and the model's one solver
//! ([`super::solve_gains`]).

use std::sync::Arc;

use super::{GainModel, solve_gains};
use crate::Result;
use crate::gpu::GpuImage;
use crate::gpu::buffers::PooledBuffer;
use crate::gpu::shaders::kernels;
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, PixelFormat};
use crate::pipeline::{Bind, Recorder, Table};
use crate::stitch::atlas::{AtlasEntry, TableStation, shared_points};
use crate::stitch::place::station_count;
use crate::stitch::plan::{GAIN, GAIN_STATUS, at, global, plan_offsets};

/// Canvas points sampled for the gain statistics: every `STRIDE`-th in each direction.
const STRIDE: i64 = 2;

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_gain_solve.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct SolveUniform = STITCH_GAIN_SOLVE_PARAMS {
        count: u32,
        station: u32,
        unit: f32,
        alpha: f32,
        beta: f32,
        _p: [u32; 3],
    }
}

/// Records the gain compensation: overlap sums, the solve, and every station's atlas samples scaled
/// by its gain. `unit` turns samples into 8-bit units (255 / the largest |sample|).
pub fn encode_gains(
    rec: &mut Recorder<'_>,
    table: &Table,
    plan: &GpuImage,
    atlas: &GpuImage,
    entries: &[AtlasEntry],
    unit: f64,
    model: &GainModel,
) -> Result<()> {
    let n = station_count(entries.len())?;
    let pairs = n * (n - 1) / 2;
    let sums = rec.alloc_image(pairs * 4, 1, PixelFormat::F32, Geometry::default())?;
    let uniform = |station: u32| SolveUniform {
        count: n,
        station,
        unit: unit as f32,
        alpha: (1.0 / (model.sigma_n * model.sigma_n)) as f32,
        beta: (1.0 / (model.sigma_g * model.sigma_g)) as f32,
        _p: [0; 3],
    };
    // `solve` reads no atlas, `scale` no sums: each passes only what its entry point reaches.
    fn binds<'a>(
        params: &'a Arc<PooledBuffer>,
        table: &'a Table,
        plan: &'a GpuImage,
        atlas: Option<&'a GpuImage>,
        sums: Option<&'a GpuImage>,
    ) -> Vec<(u32, Bind<'a>)> {
        let mut binds = vec![
            (0, Bind::Pooled(params)),
            (1, Bind::Table(table)),
            (2, Bind::Image(plan)),
        ];
        binds.extend(atlas.map(|a| (3, Bind::Image(a))));
        binds.extend(sums.map(|s| (4, Bind::Image(s))));
        binds
    }
    let shaders = rec.engine().shaders();
    let params = rec.uniform(&uniform(0), "stitch_gain_solve params")?;
    let kernel = shaders.kernel(kernels::STITCH_GAIN_SOLVE_OVERLAP_SUMS)?;
    rec.dispatch(
        &kernel,
        &binds(&params, table, plan, Some(atlas), Some(&sums)),
        [pairs, 1, 1],
    )?;
    let kernel = shaders.kernel(kernels::STITCH_GAIN_SOLVE_SOLVE)?;
    rec.dispatch(
        &kernel,
        &binds(&params, table, plan, None, Some(&sums)),
        [1, 1, 1],
    )?;
    let kernel = shaders.kernel(kernels::STITCH_GAIN_SOLVE_SCALE)?;
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    for (k, e) in entries.iter().enumerate() {
        let params = rec.uniform(&uniform(k as u32), "stitch_gain_solve params")?;
        let pixels = u64::from(e.placement.width) * u64::from(e.placement.height);
        rec.dispatch(
            &kernel,
            &binds(&params, table, plan, Some(atlas), None),
            workgroups_1d(pixels, 256, max),
        )?;
    }
    Ok(())
}

/// `shaders/stitch_gain_solve.wgsl` on the CPU (sums in f64 rounded to the shader's f32 means, the
/// solve exact in f64 by [`solve_gains`]): the plan with its gains and gain status, and the atlas
/// scaled.
pub fn reference_gains(
    table: &[u32],
    plan: &mut [f32],
    atlas: &mut [f32],
    count: usize,
    unit: f64,
    model: &GainModel,
) {
    let stations: Vec<TableStation> = (0..count).map(|k| TableStation::read(table, k)).collect();
    let offsets = plan_offsets(plan, count);
    let mut sums = Vec::new();
    for i in 0..count {
        for j in i + 1..count {
            let (si, sj) = (&stations[i], &stations[j]);
            let (mut n, mut a, mut c) = (0.0f64, 0.0f64, 0.0f64);
            for (s, t) in shared_points((si, offsets[i]), (sj, offsets[j]), STRIDE as usize) {
                n += 1.0;
                a += f64::from(si.sample(atlas, s));
                c += f64::from(sj.sample(atlas, t));
            }
            sums.push((i, j, n as f32, a as f32, c as f32));
        }
    }
    // The shader's f32 means, solved exactly (f64) by the model's one solver.
    let area: Vec<f64> = stations
        .iter()
        .map(|st| f64::from(st.size[0] as f32 * st.size[1] as f32))
        .collect();
    let pairs: Vec<(usize, usize, f64, f64, f64)> = sums
        .iter()
        .filter(|s| s.2 > 0.0)
        .map(|&(i, j, n, a, c)| {
            let nij = n * (STRIDE * STRIDE) as f32;
            let unit = unit as f32;
            (
                i,
                j,
                f64::from(nij),
                f64::from(a / n * unit),
                f64::from(c / n * unit),
            )
        })
        .collect();
    let (status, g) = match solve_gains(&area, &pairs, model.sigma_n, model.sigma_g) {
        Err(_) => (2.0f32, vec![1.0f32; count]),
        Ok(g) => {
            let g: Vec<f32> = g.iter().map(|v| (v / g[0]) as f32).collect();
            let valid = g.iter().all(|&x| x > 0.0 && x <= 3.0e38);
            (if valid { 1.0 } else { 3.0 }, g)
        }
    };
    for (k, st) in stations.iter().enumerate() {
        let gain = if status == 1.0 { g[k] } else { 1.0 };
        plan[at(k, GAIN)] = gain;
        let start = st.atlas as usize;
        let len = st.size[0] as usize * st.size[1] as usize;
        for x in &mut atlas[start..start + len] {
            *x *= gain;
        }
    }
    plan[global(count, GAIN_STATUS)] = status;
}
