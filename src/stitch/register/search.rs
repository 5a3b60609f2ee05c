//! Registration of every neighbour pair recorded as one submission, with one readback and one CPU
//! wait for the whole stitch instead of one per search level and pair.
//!
//! Why: the coarse-to-fine NCC search ([`super::ncc`]) centres each level on the previous level's
//! best shift, and a pair's fixed station carries the correction its own pair found; read back on the
//! host, that is three waits per pair. Here the choice stays on the GPU: `stitch_ncc_pick.wgsl` writes
//! each level's best shift into a small state buffer, the next level's grid (`stitch_ncc.wgsl`) takes
//! its origin from there, `stitch_ncc_finish.wgsl` fits the sub-pixel peak, accepts or refuses the match
//! and stores the station's correction, and the next pair samples its fixed station through that
//! correction. The host records everything up front from the nominal placements (the templates lie in
//! the nominal overlap shrunk by the search reach, so they stay inside both stations whatever the
//! corrections) and reads the state back once.
//!
//! [`reference_search`] is the same search on the CPU (f64 sums, f32 decisions as on the GPU).

use super::ncc::{
    Candidates, NccPair, StateSlots, Template, encode_scores_chained, parabolic_peak,
    reference_scores_chained, slot_word, template,
};
use crate::gpu::GpuImage;
use crate::gpu::shaders::{KernelId, kernels};
use crate::image::{Geometry, PixelFormat};
use crate::pipeline::{Bind, Recorder};
use crate::stitch::atlas::AtlasEntry;
use crate::stitch::plan::{BLOCK, COARSE, CORR, MID, REFINED, SCORE, SEARCH_STATUS};
use crate::{Error, Result};

/// One pair to register: station `b` against its neighbour `a` (indices into the atlas entries).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairSpec {
    /// The fixed station (moved by its own correction when an earlier pair found one).
    pub a: usize,
    /// The station whose shift is searched.
    pub b: usize,
    /// Their nominal overlap on the canvas `[x0, y0, x1, y1]`.
    pub overlap: [f64; 4],
    /// Subtracted from A's samples.
    pub mean_a: f32,
    /// Subtracted from B's samples.
    pub mean_b: f32,
    /// Multiplies both after centring.
    pub scale: f32,
}

/// Search range and acceptance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchParams {
    /// Search range (canvas pixels, each direction).
    pub max_shift: f64,
    /// Lowest NCC accepted.
    pub min_score: f64,
}

/// The outcome of refining one station.
#[derive(Debug, Clone, PartialEq)]
pub struct Refined {
    /// Shift to add to the second station's offset (zero when not accepted).
    pub shift: [f64; 2],
    /// NCC at the best shift.
    pub score: f64,
    /// False when the match was refused (score below threshold, peak at the search limit, overlap
    /// too small).
    pub accepted: bool,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// The three levels of one pair's search: templates and candidate grids (the middle and fine grids
/// relative to the previous level's best shift).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// One pixel beyond the asked range, so a peak at the limit still has neighbours for the
    /// parabola; a best shift on that ring is refused as out of range.
    pub reach: i64,
    /// Every second shift within the reach, on a template of at most ~20k points.
    pub coarse: (Template, Candidates),
    /// Every shift within ±2 of the coarse best, on at most ~80k points.
    pub mid: (Template, Candidates),
    /// The 3×3 around the middle best, on at most ~1M points.
    pub fine: (Template, Candidates),
}

/// The levels for a pair, `None` when the overlap is too small to register.
pub fn levels(overlap: [f64; 4], max_shift: f64) -> Option<Levels> {
    let reach = max_shift.max(0.0).ceil() as i64 + 1;
    let fine = template(overlap, reach as f64, 1.0)?;
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
    let half = (reach as f64 / 2.0).ceil();
    let relative = |d: f64, n: u32| Candidates {
        x0: -d,
        y0: -d,
        step: 1.0,
        nx: n,
        ny: n,
    };
    Some(Levels {
        reach,
        coarse: (
            capped(2.0, 20_000.0),
            Candidates {
                x0: -2.0 * half,
                y0: -2.0 * half,
                step: 2.0,
                nx: 2 * half as u32 + 1,
                ny: 2 * half as u32 + 1,
            },
        ),
        mid: (capped(1.0, 80_000.0), relative(2.0, 5)),
        fine: (capped(1.0, 1_000_000.0), relative(1.0, 3)),
    })
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_ncc_pick.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct PickUniform = STITCH_NCC_PICK_PICK_PARAMS {
        c_x0: f32,
        c_y0: f32,
        c_step: f32,
        origin_slot: i32,
        c_nx: u32,
        c_ny: u32,
        out_slot: u32,
        _p0: u32,
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_ncc_finish.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct FinishUniform = STITCH_NCC_FINISH_FINISH_PARAMS {
        reach: f32,
        min_score: f32,
        slot: u32,
        _p0: u32,
    }
}

fn encode_pick(
    rec: &mut Recorder<'_>,
    scores: &GpuImage,
    state: &GpuImage,
    grid: &Candidates,
    origin: Option<u32>,
    out: u32,
) -> Result<()> {
    let u = PickUniform {
        c_x0: grid.x0 as f32,
        c_y0: grid.y0 as f32,
        c_step: grid.step as f32,
        origin_slot: slot_word(origin)?,
        c_nx: grid.nx,
        c_ny: grid.ny,
        out_slot: out,
        _p0: 0,
    };
    dispatch_one(rec, kernels::STITCH_NCC_PICK_PICK, &u, scores, state)
}

fn encode_finish(
    rec: &mut Recorder<'_>,
    scores: &GpuImage,
    state: &GpuImage,
    levels: &Levels,
    params: &SearchParams,
    block: u32,
) -> Result<()> {
    let u = FinishUniform {
        reach: levels.reach as f32,
        min_score: params.min_score as f32,
        slot: block,
        _p0: 0,
    };
    dispatch_one(rec, kernels::STITCH_NCC_FINISH_FINISH, &u, scores, state)
}

/// One workgroup of a search step: (uniform, a level's scores, the state), as both step shaders
/// bind them.
fn dispatch_one<T: bytemuck::Pod>(
    rec: &mut Recorder<'_>,
    id: KernelId,
    uniform: &T,
    scores: &GpuImage,
    state: &GpuImage,
) -> Result<()> {
    let kernel = rec.engine().shaders().kernel(id)?;
    let params = rec.uniform(uniform, &format!("{} params", id.info().shader().name))?;
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&params)),
            (1, Bind::Image(scores)),
            (2, Bind::Image(state)),
        ],
        [1, 1, 1],
    )
}

fn block_of(station: usize) -> Result<u32> {
    u32::try_from(station)
        .ok()
        .and_then(|s| s.checked_mul(BLOCK))
        .ok_or_else(|| Error::InvalidParams(format!("station index {station} out of range")))
}

fn ncc_pair<'a>(entries: &'a [AtlasEntry], p: &PairSpec) -> Result<NccPair<'a>> {
    let get = |i: usize| {
        entries.get(i).ok_or_else(|| {
            Error::InvalidParams(format!(
                "registration pair names station {i} of {}",
                entries.len()
            ))
        })
    };
    Ok(NccPair {
        a: get(p.a)?,
        b: get(p.b)?,
        mean_a: p.mean_a,
        mean_b: p.mean_b,
        scale: p.scale,
    })
}

/// Records the search of every pair, in order, into `rec`; returns the state buffer
/// (`BLOCK` f32 words per atlas entry) for [`decode`]. Nothing is read back here.
pub fn encode_search(
    rec: &mut Recorder<'_>,
    atlas: &GpuImage,
    entries: &[AtlasEntry],
    pairs: &[PairSpec],
    params: &SearchParams,
) -> Result<GpuImage> {
    let words = block_of(entries.len())?;
    let state = rec.alloc_image(words.max(1), 1, PixelFormat::F32, Geometry::default())?;
    rec.encoder().clear_buffer(state.buffer.buffer(), 0, None);
    for p in pairs {
        let Some(lv) = levels(p.overlap, params.max_shift) else {
            continue;
        };
        let pair = ncc_pair(entries, p)?;
        let block = block_of(p.b)?;
        let a_corr = Some(block_of(p.a)? + CORR);
        let slots = |origin: Option<u32>| {
            Some(StateSlots {
                state: &state,
                origin,
                a_corr,
            })
        };
        let s = encode_scores_chained(rec, atlas, &pair, &lv.coarse.0, &lv.coarse.1, slots(None))?;
        encode_pick(rec, &s, &state, &lv.coarse.1, None, block + COARSE)?;
        let origin = Some(block + COARSE);
        let s = encode_scores_chained(rec, atlas, &pair, &lv.mid.0, &lv.mid.1, slots(origin))?;
        encode_pick(rec, &s, &state, &lv.mid.1, origin, block + MID)?;
        let origin = Some(block + MID);
        let s = encode_scores_chained(rec, atlas, &pair, &lv.fine.0, &lv.fine.1, slots(origin))?;
        encode_finish(rec, &s, &state, &lv, params, block)?;
    }
    Ok(state)
}

/// Each pair's outcome from the search state.
pub fn decode(state: &[f32], pairs: &[PairSpec], params: &SearchParams) -> Result<Vec<Refined>> {
    pairs
        .iter()
        .map(|p| {
            if levels(p.overlap, params.max_shift).is_none() {
                return Ok(Refined {
                    shift: [0.0, 0.0],
                    score: 0.0,
                    accepted: false,
                    reason: Some("overlap too small to register".into()),
                });
            }
            let base = block_of(p.b)? as usize;
            let word = |w: u32| {
                state
                    .get(base + w as usize)
                    .map(|&v| f64::from(v))
                    .ok_or_else(|| {
                        Error::Gpu(format!("registration state too short for station {}", p.b))
                    })
            };
            let score = word(SCORE)?;
            let (bx, by) = (word(MID)?, word(MID + 1)?);
            let refuse = |reason: String| Refined {
                shift: [0.0, 0.0],
                score,
                accepted: false,
                reason: Some(reason),
            };
            match word(SEARCH_STATUS)? as u32 {
                1 => Ok(Refined {
                    shift: [word(REFINED)?, word(REFINED + 1)?],
                    score,
                    accepted: true,
                    reason: None,
                }),
                2 => Ok(refuse(format!(
                    "best match ({bx}, {by}) outside the ±{} px search range",
                    params.max_shift
                ))),
                3 => Ok(refuse(format!(
                    "NCC {score:.3} below the threshold {}",
                    params.min_score
                ))),
                s => Err(Error::Gpu(format!(
                    "registration of station {} did not finish (status {s})",
                    p.b
                ))),
            }
        })
        .collect()
}

/// The best candidate of a level as `stitch_ncc_pick.wgsl` chooses it: the greatest finite score,
/// ties to the higher index, candidate 0 when none is finite.
pub fn reference_pick(scores: &[f32]) -> usize {
    let mut best: Option<(f32, usize)> = None;
    for (k, &v) in scores.iter().enumerate() {
        if v.is_finite() && best.is_none_or(|(bv, _)| v >= bv) {
            best = Some((v, k));
        }
    }
    best.map_or(0, |(_, k)| k)
}

/// The search on the CPU, returning the state buffer [`encode_search`] would leave (scores summed in
/// f64 by [`reference_scores_chained`] and rounded to f32, then the shaders' f32 decisions).
pub fn reference_search(
    atlas: &[f32],
    entries: &[AtlasEntry],
    pairs: &[PairSpec],
    params: &SearchParams,
) -> Result<Vec<f32>> {
    let mut state = vec![0.0f32; block_of(entries.len())?.max(1) as usize];
    for p in pairs {
        let Some(lv) = levels(p.overlap, params.max_shift) else {
            continue;
        };
        let pair = ncc_pair(entries, p)?;
        let (a, b) = (block_of(p.a)? as usize, block_of(p.b)? as usize);
        let corr_a = [state[a + CORR as usize], state[a + CORR as usize + 1]];
        let scores = |(t, c): &(Template, Candidates), origin: [f32; 2]| {
            let c = Candidates {
                x0: f64::from(c.x0 as f32 + origin[0]),
                y0: f64::from(c.y0 as f32 + origin[1]),
                ..*c
            };
            let s: Vec<f32> = reference_scores_chained(atlas, &pair, t, &c, corr_a)
                .iter()
                .map(|&v| v as f32)
                .collect();
            (s, c)
        };
        let best = |(s, c): (Vec<f32>, Candidates)| c.shift(reference_pick(&s)).map(|v| v as f32);
        let coarse = best(scores(&lv.coarse, [0.0, 0.0]));
        let mid = best(scores(&lv.mid, coarse));
        let (s, _) = scores(&lv.fine, mid);
        let centre = s[4];
        let shift = [
            mid[0] + parabolic_peak(s[3], centre, s[5]),
            mid[1] + parabolic_peak(s[1], centre, s[7]),
        ];
        let reach = lv.reach as f32;
        let status = if mid[0].abs() >= reach || mid[1].abs() >= reach {
            2.0
        } else if centre >= params.min_score as f32 {
            1.0
        } else {
            3.0
        };
        let corr = if status == 1.0 { shift } else { [0.0, 0.0] };
        state[b + CORR as usize..b + CORR as usize + 2].copy_from_slice(&corr);
        state[b + COARSE as usize..b + COARSE as usize + 2].copy_from_slice(&coarse);
        state[b + MID as usize..b + MID as usize + 2].copy_from_slice(&mid);
        state[b + REFINED as usize..b + REFINED as usize + 2].copy_from_slice(&shift);
        state[b + SCORE as usize] = centre;
        state[b + SEARCH_STATUS as usize] = status;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_takes_the_greatest_finite_score_and_the_later_of_ties() {
        assert_eq!(reference_pick(&[0.1, 0.5, 0.2]), 1);
        assert_eq!(reference_pick(&[0.5, 0.1, 0.5]), 2);
        assert_eq!(reference_pick(&[f32::NAN, 0.3, f32::INFINITY]), 1);
        assert_eq!(reference_pick(&[f32::NAN, f32::NAN]), 0);
        assert_eq!(reference_pick(&[-0.7, -0.2, -0.9]), 1);
    }

    #[test]
    fn levels_cover_the_reach_and_refuse_thin_overlaps() {
        let lv = levels([0.0, 100.0, 400.0, 180.0], 20.0).expect("levels");
        assert_eq!(lv.reach, 21);
        let c = lv.coarse.1;
        assert_eq!(c.shift(0), [-22.0, -22.0]);
        assert_eq!(c.shift(c.nx as usize * c.ny as usize - 1), [22.0, 22.0]);
        assert_eq!((lv.mid.1.nx, lv.fine.1.nx), (5, 3));
        assert!(levels([0.0, 0.0, 400.0, 0.5], 20.0).is_none());
    }
}
