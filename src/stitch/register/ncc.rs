//! Registration: refine a station's offset against its neighbour by maximising the normalised
//! cross-correlation (NCC) of the two over their overlap, on the GPU (`shaders/stitch_ncc.wgsl`).
//!
//! Why this shape: the template is a fixed set of canvas points inside the nominal overlap, shrunk by
//! the search range, so every candidate shift is scored on the same pixels of the first station and
//! the scores are comparable (OpenCV `matchTemplate(TM_CCOEFF_NORMED)`'s idea). Both stations are
//! sampled through their canvas → station maps, so a small rotation from the DICOM orientation is
//! honoured. Search, one workgroup per candidate: every second shift within `max_shift` (+1) on a
//! subsampled template, every shift within ±2 of the best on a denser one, the 3×3 neighbourhood of
//! that at full density, and a parabola per axis through the best score and its neighbours for the
//! sub-pixel shift (radiographs correlate over several pixels, so the step-2 coarse grid still lands
//! in the right basin; the tests check it on real content). NCC is invariant to gain and
//! offset, so registration runs before exposure compensation. A score below the threshold, or a peak on
//! the edge of the search range, keeps the nominal offset and says so: a poor match is never accepted
//! silently. The levels, the choice between them and the acceptance are recorded for all pairs at
//! once by [`super::search`]; this file scores one grid.

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, PixelFormat};
use crate::pipeline::{Bind, Recorder};
use crate::stitch::atlas::{AtlasEntry, atlas_sample};
use crate::{Error, Result};

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_ncc.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct NccUniform = STITCH_NCC_PARAMS {
        t_x0: f32,
        t_y0: f32,
        t_stride: f32,
        mean_a: f32,
        t_nx: u32,
        t_ny: u32,
        c_nx: u32,
        c_ny: u32,
        c_x0: f32,
        c_y0: f32,
        c_step: f32,
        mean_b: f32,
        scale: f32,
        origin_slot: i32,
        a_corr_slot: i32,
        _p0: f32,
        a_off: u32,
        a_w: u32,
        a_h: u32,
        chunks: u32,
        a_m0: [f32; 4],
        a_m1: [f32; 4],
        b_off: u32,
        b_w: u32,
        b_h: u32,
        chunk_rows: u32,
        b_m0: [f32; 4],
        b_m1: [f32; 4],
    }
}

/// The canvas points scored: `(x0 + i·stride, y0 + j·stride)` for `i < nx`, `j < ny`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Template {
    /// First point.
    pub x0: f64,
    /// First point.
    pub y0: f64,
    /// Spacing of the points (canvas pixels).
    pub stride: f64,
    /// Points per row.
    pub nx: u32,
    /// Rows.
    pub ny: u32,
}

/// The candidate shifts of the second station: `(x0 + i·step, y0 + j·step)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidates {
    /// First shift.
    pub x0: f64,
    /// First shift.
    pub y0: f64,
    /// Spacing of the shifts (canvas pixels).
    pub step: f64,
    /// Shifts per row.
    pub nx: u32,
    /// Rows.
    pub ny: u32,
}

impl Candidates {
    /// The shift of candidate `k`.
    pub fn shift(&self, k: usize) -> [f64; 2] {
        let (i, j) = (k % self.nx as usize, k / self.nx as usize);
        [
            self.x0 + i as f64 * self.step,
            self.y0 + j as f64 * self.step,
        ]
    }

    fn count(&self) -> usize {
        self.nx as usize * self.ny as usize
    }
}

/// The two stations scored and how their values are centred before summing (any constants work; the
/// stations' means and 1/standard deviation keep f32 sums precise).
#[derive(Debug, Clone, Copy)]
pub struct NccPair<'a> {
    /// The fixed station.
    pub a: &'a AtlasEntry,
    /// The station whose shift is searched.
    pub b: &'a AtlasEntry,
    /// Subtracted from A's samples.
    pub mean_a: f32,
    /// Subtracted from B's samples.
    pub mean_b: f32,
    /// Multiplies both after centring.
    pub scale: f32,
}

fn map_rows(m: [f64; 6]) -> ([f32; 4], [f32; 4]) {
    (
        [m[0] as f32, m[1] as f32, m[2] as f32, 0.0],
        [m[3] as f32, m[4] as f32, m[5] as f32, 0.0],
    )
}

/// Template points one NCC workgroup sums at most (256 invocations, ≤ 256 points each).
const NCC_POINTS_PER_GROUP: u32 = 65_536;

/// Records the NCC score of every candidate into an f32 image of `nx`×`ny` scores.
pub fn encode_scores(
    rec: &mut Recorder<'_>,
    atlas: &GpuImage,
    pair: &NccPair<'_>,
    t: &Template,
    c: &Candidates,
) -> Result<GpuImage> {
    encode_scores_chained(rec, atlas, pair, t, c, None)
}

/// Where a score grid recorded inside a GPU-resident search takes two values from the search's
/// state buffer (see `shaders/stitch_ncc.wgsl`): words of (x, y) pairs, `None` = zero.
#[derive(Debug, Clone, Copy)]
pub struct StateSlots<'a> {
    /// The search's state buffer (f32 words).
    pub state: &'a GpuImage,
    /// Added to the candidate grid's first shift (the previous level's best).
    pub origin: Option<u32>,
    /// Station A's correction: A is sampled at `map_a(p − c_A)`.
    pub a_corr: Option<u32>,
}

/// [`encode_scores`] with the grid origin and station A's correction read from a state buffer.
pub fn encode_scores_chained(
    rec: &mut Recorder<'_>,
    atlas: &GpuImage,
    pair: &NccPair<'_>,
    t: &Template,
    c: &Candidates,
    slots: Option<StateSlots<'_>>,
) -> Result<GpuImage> {
    if t.nx == 0 || t.ny == 0 || c.nx == 0 || c.ny == 0 {
        return Err(Error::InvalidParams(
            "NCC needs a non-empty template and candidate grid".into(),
        ));
    }
    // Rows per workgroup: at most NCC_POINTS_PER_GROUP template points each (one row at least).
    let chunk_rows = (NCC_POINTS_PER_GROUP / t.nx).clamp(1, t.ny);
    let chunks = t.ny.div_ceil(chunk_rows);
    let (a_m0, a_m1) = map_rows(pair.a.placement.canvas_to_station());
    let (b_m0, b_m1) = map_rows(pair.b.placement.canvas_to_station());
    let u = NccUniform {
        t_x0: t.x0 as f32,
        t_y0: t.y0 as f32,
        t_stride: t.stride as f32,
        mean_a: pair.mean_a,
        t_nx: t.nx,
        t_ny: t.ny,
        c_nx: c.nx,
        c_ny: c.ny,
        c_x0: c.x0 as f32,
        c_y0: c.y0 as f32,
        c_step: c.step as f32,
        mean_b: pair.mean_b,
        scale: pair.scale,
        origin_slot: slot_word(slots.and_then(|s| s.origin))?,
        a_corr_slot: slot_word(slots.and_then(|s| s.a_corr))?,
        _p0: 0.0,
        a_off: pair.a.offset,
        a_w: pair.a.placement.width,
        a_h: pair.a.placement.height,
        chunks,
        a_m0,
        a_m1,
        b_off: pair.b.offset,
        b_w: pair.b.placement.width,
        b_h: pair.b.placement.height,
        chunk_rows,
        b_m0,
        b_m1,
    };
    let shaders = rec.engine().shaders();
    let params = rec.uniform(&u, "stitch_ncc params")?;
    let scores = rec.alloc_image(c.nx, c.ny, PixelFormat::F32, Geometry::default())?;
    let groups_total = c.count() as u64 * u64::from(chunks);
    let partials = rec.alloc_image(
        u32::try_from(groups_total * 5).map_err(|_| {
            Error::InvalidParams("NCC template and candidate grid too large".into())
        })?,
        1,
        PixelFormat::F32,
        Geometry::default(),
    )?;
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    let no_state = rec.storage_table(&[], "stitch_ncc without search state")?;
    let state = match slots {
        Some(s) => Bind::Image(s.state),
        None => Bind::Table(&no_state),
    };
    let kernel = shaders.kernel(kernels::STITCH_NCC_NCC)?;
    let binds = [
        (0, Bind::Pooled(&params)),
        (1, Bind::Image(atlas)),
        (3, state),
        (4, Bind::Image(&partials)),
    ];
    rec.dispatch(&kernel, &binds, workgroups_1d(groups_total, 1, max))?;
    let kernel = shaders.kernel(kernels::STITCH_NCC_NCC_REDUCE)?;
    let binds = [
        (0, Bind::Pooled(&params)),
        (2, Bind::Image(&scores)),
        (4, Bind::Image(&partials)),
    ];
    rec.dispatch(&kernel, &binds, workgroups_1d(c.count() as u64, 64, max))?;
    Ok(scores)
}

/// A state word as the shaders take it: −1 for none.
pub fn slot_word(slot: Option<u32>) -> Result<i32> {
    match slot {
        None => Ok(-1),
        Some(w) => i32::try_from(w)
            .map_err(|_| Error::InvalidParams(format!("state word {w} out of range"))),
    }
}

/// The scores on the CPU: the shader's sampling (f32, [`atlas_sample`]) and sums in f64.
pub fn reference_scores(
    atlas: &[f32],
    pair: &NccPair<'_>,
    t: &Template,
    c: &Candidates,
) -> Vec<f64> {
    reference_scores_chained(atlas, pair, t, c, [0.0, 0.0])
}

/// [`reference_scores`] with station A moved by `corr_a` (sampled at `map_a(p − corr_a)`), as
/// [`encode_scores_chained`] does with a correction slot; `c` holds absolute shifts.
pub fn reference_scores_chained(
    atlas: &[f32],
    pair: &NccPair<'_>,
    t: &Template,
    c: &Candidates,
    corr_a: [f32; 2],
) -> Vec<f64> {
    let ma = pair.a.placement.canvas_to_station().map(|v| v as f32);
    let mb = pair.b.placement.canvas_to_station().map(|v| v as f32);
    (0..c.count())
        .map(|k| {
            let [sx, sy] = c.shift(k).map(|v| v as f32);
            let (mut a, mut b, mut aa, mut bb, mut ab) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for j in 0..t.ny {
                let py = t.y0 as f32 + j as f32 * t.stride as f32;
                for i in 0..t.nx {
                    let px = t.x0 as f32 + i as f32 * t.stride as f32;
                    let (pax, pay) = (px - corr_a[0], py - corr_a[1]);
                    let (ax, ay) = (
                        ma[0] * pax + ma[1] * pay + ma[2],
                        ma[3] * pax + ma[4] * pay + ma[5],
                    );
                    let (qx, qy) = (px - sx, py - sy);
                    let (bx, by) = (
                        mb[0] * qx + mb[1] * qy + mb[2],
                        mb[3] * qx + mb[4] * qy + mb[5],
                    );
                    let va =
                        f64::from((atlas_sample(atlas, pair.a, ax, ay) - pair.mean_a) * pair.scale);
                    let vb =
                        f64::from((atlas_sample(atlas, pair.b, bx, by) - pair.mean_b) * pair.scale);
                    a += va;
                    b += vb;
                    aa += va * va;
                    bb += vb * vb;
                    ab += va * vb;
                }
            }
            let n = f64::from(t.nx) * f64::from(t.ny);
            let cov = ab - a * b / n;
            let denom = ((aa - a * a / n).max(0.0) * (bb - b * b / n).max(0.0)).sqrt();
            if denom > 0.0 { cov / denom } else { 0.0 }
        })
        .collect()
}

/// The template for a pair: the overlap of their footprints shrunk by the search range on each side
/// (less where the overlap is too thin, keeping at least 8 points), at `stride`.
pub fn template(overlap: [f64; 4], max_shift: f64, stride: f64) -> Option<Template> {
    let axis = |lo: f64, hi: f64| -> Option<(f64, u32)> {
        let extent = hi - lo;
        let margin = (max_shift + 1.0).min(((extent - 8.0) / 2.0).max(0.5));
        let start = (lo + margin).ceil();
        let end = (hi - margin).floor();
        if end < start {
            return None;
        }
        let n = ((end - start) / stride).floor() as u32 + 1;
        Some((start, n))
    };
    let (x0, nx) = axis(overlap[0], overlap[2])?;
    let (y0, ny) = axis(overlap[1], overlap[3])?;
    Some(Template {
        x0,
        y0,
        stride,
        nx,
        ny,
    })
}

/// Vertex offset of the parabola through (−1, l), (0, c), (1, r), within ±½ (f32, as
/// `shaders/stitch_ncc_finish.wgsl` computes it).
pub fn parabolic_peak(l: f32, c: f32, r: f32) -> f32 {
    let denom = l - 2.0 * c + r;
    if denom >= 0.0 {
        return 0.0;
    }
    (0.5 * (l - r) / denom).clamp(-0.5, 0.5)
}
