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
//! silently.

use super::compose::{AtlasEntry, atlas_sample};
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, GpuImage, PixelFormat, Pixels};
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Error, Result};

/// Uniform block of `shaders/stitch_ncc.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct NccUniform {
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
    _p0: [f32; 3],
    a_off: u32,
    a_w: u32,
    a_h: u32,
    _p3: u32,
    a_m0: [f32; 4],
    a_m1: [f32; 4],
    b_off: u32,
    b_w: u32,
    b_h: u32,
    _p4: u32,
    b_m0: [f32; 4],
    b_m1: [f32; 4],
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

/// Records the NCC score of every candidate into an f32 image of `nx`×`ny` scores.
pub fn encode_scores(
    rec: &mut Recorder<'_>,
    atlas: &GpuImage,
    pair: &NccPair<'_>,
    t: &Template,
    c: &Candidates,
) -> Result<GpuImage> {
    if t.nx == 0 || t.ny == 0 || c.nx == 0 || c.ny == 0 {
        return Err(Error::InvalidParams(
            "NCC needs a non-empty template and candidate grid".into(),
        ));
    }
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
        _p0: [0.0; 3],
        a_off: pair.a.offset,
        a_w: pair.a.placement.width,
        a_h: pair.a.placement.height,
        _p3: 0,
        a_m0,
        a_m1,
        b_off: pair.b.offset,
        b_w: pair.b.placement.width,
        b_h: pair.b.placement.height,
        _p4: 0,
        b_m0,
        b_m1,
    };
    let kernel = rec.engine().shaders().kernel("stitch_ncc", "ncc")?;
    let params = rec.uniform(&u, "stitch_ncc params")?;
    let scores = rec.alloc_image(c.nx, c.ny, PixelFormat::F32, Geometry::default())?;
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    let groups = workgroups_1d(c.count() as u64, 1, max);
    rec.dispatch(
        &kernel,
        &[
            Bind::Pooled(&params),
            Bind::Image(atlas),
            Bind::Image(&scores),
        ],
        groups,
    )?;
    Ok(scores)
}

/// The scores on the CPU: the shader's sampling (f32, [`atlas_sample`]) and sums in f64.
pub fn reference_scores(
    atlas: &[f32],
    pair: &NccPair<'_>,
    t: &Template,
    c: &Candidates,
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
                    let (ax, ay) = (
                        ma[0] * px + ma[1] * py + ma[2],
                        ma[3] * px + ma[4] * py + ma[5],
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

fn run_scores(
    engine: &Engine,
    atlas: &GpuImage,
    pair: &NccPair<'_>,
    t: &Template,
    c: &Candidates,
) -> Result<Vec<f32>> {
    let mut rec = Recorder::new(engine);
    let scores = encode_scores(&mut rec, atlas, pair, t, c)?;
    let download = rec.download(&scores)?;
    rec.submit()?;
    match download.wait()?.pixels {
        Pixels::F32(v) => Ok(v),
        _ => Err(Error::Gpu("NCC scores came back in another format".into())),
    }
}

/// The outcome of refining one station.
#[derive(Debug, Clone, PartialEq)]
pub struct Refined {
    /// Shift to add to the second station's offset (zero when not accepted).
    pub shift: [f64; 2],
    /// NCC at the refined shift.
    pub score: f64,
    /// False when the match was refused (score below threshold or peak at the search limit).
    pub accepted: bool,
    /// Why it was refused.
    pub reason: Option<String>,
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

/// Vertex offset of the parabola through (−1, l), (0, c), (1, r), within ±½.
pub fn parabolic_peak(l: f64, c: f64, r: f64) -> f64 {
    let denom = l - 2.0 * c + r;
    if denom >= 0.0 {
        return 0.0;
    }
    (0.5 * (l - r) / denom).clamp(-0.5, 0.5)
}

/// Refines `pair.b`'s offset against `pair.a` within ±`max_shift` canvas pixels.
pub fn refine(
    engine: &Engine,
    atlas: &GpuImage,
    pair: &NccPair<'_>,
    overlap: [f64; 4],
    max_shift: f64,
    min_score: f64,
) -> Result<Refined> {
    // One pixel beyond the asked range, so a peak at the limit still has neighbours for the parabola;
    // a peak on that extra ring is refused as out of range.
    let reach = max_shift.max(0.0).ceil() as i64 + 1;
    let refuse = |score: f64, reason: String| Refined {
        shift: [0.0, 0.0],
        score,
        accepted: false,
        reason: Some(reason),
    };
    let Some(fine) = template(overlap, reach as f64, 1.0) else {
        return Ok(refuse(0.0, "overlap too small to register".into()));
    };
    // Coarse to fine, so the cost stays small on large overlaps: every second shift on a template of
    // at most ~20k points, then every shift within ±2 of the best on ≤ 80k points, then the 3×3
    // neighbourhood of that best on ≤ 1M points for the parabola.
    let capped = |stride0: f64, cap: f64| {
        let mut stride = stride0;
        loop {
            match template(overlap, reach as f64, stride) {
                Some(t) if f64::from(t.nx) * f64::from(t.ny) > cap => stride += 1.0,
                Some(t) => return t,
                None => return fine,
            }
        }
    };
    let best_of = |scores: &[f32], grid: &Candidates| {
        let k = scores
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_finite())
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(k, _)| k)
            .unwrap_or(0);
        grid.shift(k)
    };
    let half = (reach as f64 / 2.0).ceil();
    let coarse_grid = Candidates {
        x0: -2.0 * half,
        y0: -2.0 * half,
        step: 2.0,
        nx: 2 * half as u32 + 1,
        ny: 2 * half as u32 + 1,
    };
    let coarse = capped(2.0, 20_000.0);
    let [cx, cy] = best_of(
        &run_scores(engine, atlas, pair, &coarse, &coarse_grid)?,
        &coarse_grid,
    );
    let mid_grid = Candidates {
        x0: cx - 2.0,
        y0: cy - 2.0,
        step: 1.0,
        nx: 5,
        ny: 5,
    };
    let mid = capped(1.0, 80_000.0);
    let [bx, by] = best_of(
        &run_scores(engine, atlas, pair, &mid, &mid_grid)?,
        &mid_grid,
    );
    let local = Candidates {
        x0: bx - 1.0,
        y0: by - 1.0,
        step: 1.0,
        nx: 3,
        ny: 3,
    };
    let fine = capped(1.0, 1_000_000.0);
    let s = run_scores(engine, atlas, pair, &fine, &local)?;
    let s = |i: usize, j: usize| f64::from(s[j * 3 + i]);
    let centre = s(1, 1);
    let dx = parabolic_peak(s(0, 1), centre, s(2, 1));
    let dy = parabolic_peak(s(1, 0), centre, s(1, 2));
    let shift = [bx + dx, by + dy];
    if bx.abs() as i64 >= reach || by.abs() as i64 >= reach {
        return Ok(refuse(
            centre,
            format!("best match ({bx}, {by}) outside the ±{max_shift} px search range"),
        ));
    }
    if centre.is_nan() || centre < min_score {
        return Ok(refuse(
            centre,
            format!("NCC {centre:.3} below the threshold {min_score}"),
        ));
    }
    Ok(Refined {
        shift,
        score: centre,
        accepted: true,
        reason: None,
    })
}
