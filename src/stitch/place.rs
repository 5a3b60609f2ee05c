//! The layout a stitch ends with, decided on the GPU (`shaders/stitch_layout.wgsl`): each station's
//! final offset (its nominal offset plus the correction its registration stored — zero without
//! registration or when refused), the shift that starts the canvas at pixel 0, the canvas size, and
//! every station's blend record with its ramps, written into the plan ([`super::plan`]) and the
//! record table the blend kernels read ([`super::blend`]).
//!
//! Why on the GPU: registration moves the stations, and the canvas, the overlaps the gains are solved
//! over and the ramps all follow from where they end up; decided on the host that is a round trip in
//! the middle of the pipeline. [`reference_place`] is the same step on the CPU, in the same f32
//! arithmetic.

use super::atlas::{TableStation, box_overlap};
use super::blend::{BlendMode, RECORD_WORDS};
use super::layout::MAX_CANVAS_SIDE;
use super::plan::{
    self, CANVAS, CANVAS_SHIFT, GAIN, LAYOUT_STATUS, MAX_STATIONS, OFFSET, SEARCH_WORDS, at, global,
};
use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{Geometry, PixelFormat};
use crate::pipeline::{Bind, Recorder, Table};
use crate::{Error, Result};

/// The canvas the blend runs on: the nominal canvas grown by twice the search's reach (an accepted
/// correction moves a station by less: its integer best lies inside the reach, plus at most ½ px) and
/// the rounding of the shift.
pub fn canvas_bound(nominal: [u32; 2], max_shift: f64) -> Result<[u32; 2]> {
    let reach = max_shift.max(0.0).ceil() as u64 + 1;
    let grow = |side: u32| u64::from(side) + 2 * reach + 4;
    let size = [grow(nominal[0]), grow(nominal[1])];
    if size.iter().any(|&s| s > u64::from(MAX_CANVAS_SIDE)) {
        return Err(Error::InvalidParams(format!(
            "stitched canvas up to {}x{} after registration is too large (at most {} per side)",
            size[0], size[1], MAX_CANVAS_SIDE
        )));
    }
    Ok([size[0] as u32, size[1] as u32])
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_layout.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct PlaceUniform = STITCH_LAYOUT_PARAMS {
        count: u32,
        feather: u32,
        feather_ramp: f32,
        max_w: u32,
        max_h: u32,
        _p: [u32; 3],
    }
}

/// How the blend ramps are laid: `Some(length)` for FeatherBlender's constant ramp, `None` for linear
/// ramps over each overlap (linear and multi-band).
pub fn feather_ramp(mode: BlendMode, sharpness: f64) -> Option<f32> {
    (mode == BlendMode::Feather).then(|| (1.0 / sharpness.max(1e-6)) as f32)
}

pub(crate) fn station_count(entries: usize) -> Result<u32> {
    if !(2..=MAX_STATIONS).contains(&entries) {
        return Err(Error::InvalidParams(format!(
            "the GPU layout takes 2 to {MAX_STATIONS} stations, not {entries}"
        )));
    }
    Ok(entries as u32)
}

/// Records the layout: the plan (`BLOCK` words per station plus a global block) and the blend
/// records, both written on the GPU from the search state.
pub fn encode_place(
    rec: &mut Recorder<'_>,
    table: &Table,
    search: &GpuImage,
    count: usize,
    ramp: Option<f32>,
    max_canvas: [u32; 2],
) -> Result<(GpuImage, GpuImage)> {
    let n = station_count(count)?;
    let plan = rec.alloc_image(
        plan::plan_words(count) as u32,
        1,
        PixelFormat::F32,
        Geometry::default(),
    )?;
    let records = rec.alloc_image(
        n * RECORD_WORDS as u32,
        1,
        PixelFormat::F32,
        Geometry::default(),
    )?;
    // Pooled buffers come back with old contents: the words no kernel writes (statuses of stages
    // that do not run, spare words) must read 0.
    rec.encoder().clear_buffer(plan.buffer.buffer(), 0, None);
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::STITCH_LAYOUT_PLACE)?;
    let params = rec.uniform(
        &PlaceUniform {
            count: n,
            feather: u32::from(ramp.is_some()),
            feather_ramp: ramp.unwrap_or(0.0),
            max_w: max_canvas[0],
            max_h: max_canvas[1],
            _p: [0; 3],
        },
        "stitch_layout params",
    )?;
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&params)),
            (1, Bind::Table(table)),
            (2, Bind::Image(search)),
            (3, Bind::Image(&plan)),
            (4, Bind::Image(&records)),
        ],
        [1, 1, 1],
    )?;
    Ok((plan, records))
}

/// `shaders/stitch_layout.wgsl` on the CPU: the plan and the blend records from the station table and
/// the search state.
pub fn reference_place(
    table: &[u32],
    search: &[f32],
    count: usize,
    ramp: Option<f32>,
    max_canvas: [u32; 2],
) -> (Vec<f32>, Vec<u32>) {
    let mut plan = vec![0.0f32; plan::plan_words(count)];
    let mut records = vec![0u32; count * RECORD_WORDS];
    let stations: Vec<TableStation> = (0..count).map(|k| TableStation::read(table, k)).collect();
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    let mut offsets = Vec::with_capacity(count);
    for (k, st) in stations.iter().enumerate() {
        let words = at(k, 0)..at(k, SEARCH_WORDS);
        plan[words.clone()].copy_from_slice(&search[words]);
        let off = [
            st.nominal[0] + search[at(k, plan::CORR)],
            st.nominal[1] + search[at(k, plan::CORR + 1)],
        ];
        let bb = st.bbox(off);
        lo = [lo[0].min(bb[0]), lo[1].min(bb[1])];
        hi = [hi[0].max(bb[2]), hi[1].max(bb[3])];
        offsets.push(off);
        plan[at(k, GAIN)] = 1.0;
    }
    let shift = [-(lo[0].floor() + 1.0), -(lo[1].floor() + 1.0)];
    let size = [(hi[0] + shift[0]).ceil(), (hi[1] + shift[1]).ceil()];
    let fits = size[0] >= 1.0
        && size[1] >= 1.0
        && size[0] <= max_canvas[0] as f32
        && size[1] <= max_canvas[1] as f32;
    plan[global(count, CANVAS)] = size[0];
    plan[global(count, CANVAS + 1)] = size[1];
    plan[global(count, CANVAS_SHIFT)] = shift[0];
    plan[global(count, CANVAS_SHIFT + 1)] = shift[1];
    plan[global(count, LAYOUT_STATUS)] = if fits { 1.0 } else { 2.0 };
    for (k, st) in stations.iter().enumerate() {
        let off = [offsets[k][0] + shift[0], offsets[k][1] + shift[1]];
        offsets[k] = off;
        plan[at(k, OFFSET)] = off[0];
        plan[at(k, OFFSET + 1)] = off[1];
        let c = st.centre();
        let t = [off[0] + c[0], off[1] + c[1]];
        let r = &mut records[k * RECORD_WORDS..(k + 1) * RECORD_WORDS];
        r[0] = st.atlas;
        r[1] = st.size[0];
        r[2] = st.size[1];
        let map = [
            st.cos,
            st.sin,
            c[0] - st.cos * t[0] - st.sin * t[1],
            -st.sin,
            st.cos,
            c[1] + st.sin * t[0] - st.cos * t[1],
        ];
        for (w, v) in r[4..10].iter_mut().zip(map) {
            *w = v.to_bits();
        }
        for w in &mut r[10..14] {
            *w = ramp.unwrap_or(0.0).to_bits();
        }
    }
    if ramp.is_none() {
        let mut set = |k: usize, side: usize, length: f32| {
            let w = &mut records[k * RECORD_WORDS + 10 + side];
            *w = f32::from_bits(*w).max(length).to_bits();
        };
        for i in 0..count {
            for j in i + 1..count {
                let (a, bb) = (stations[i].bbox(offsets[i]), stations[j].bbox(offsets[j]));
                let Some(r) = box_overlap(a, bb) else {
                    continue;
                };
                let (ow, oh) = (r[2] - r[0], r[3] - r[1]);
                if oh <= ow {
                    let (up, down) = if a[1] <= bb[1] { (i, j) } else { (j, i) };
                    set(up, 3, oh);
                    set(down, 2, oh);
                } else {
                    let (left, right) = if a[0] <= bb[0] { (i, j) } else { (j, i) };
                    set(left, 1, ow);
                    set(right, 0, ow);
                }
            }
        }
    }
    (plan, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canvas_bound_holds_every_accepted_correction_and_refuses_oversize() {
        // For ±20 px the search's reach is 21 and an accepted integer best lies within ±20, so a
        // station moves at most 20.5 px per axis: the layout grows by at most 41 px plus 2 of
        // rounding; the bound allows 2 · 21 + 4 = 46.
        assert_eq!(
            canvas_bound([1000, 3000], 20.0).expect("bound"),
            [1046, 3046]
        );
        let err = canvas_bound([65_500, 100], 20.0)
            .expect_err("too large")
            .to_string();
        assert!(err.contains("too large"), "{err}");
    }
}
