//! The plan: the words a stitch decides on the GPU — each station's registration state, final offset
//! and gain, then the canvas size, the shift and the stages' statuses — and how the host reads them
//! back at the end.
//!
//! Why here and why so: every stage after the registration reads or writes the plan (the search
//! state, `shaders/stitch_layout.wgsl`, the gain, block and histogram solves, the blend and pyramid
//! sizes), in Rust and in WGSL. Its layout is written once, as WGSL constants in
//! `shaders/common/plan.wgsl`, which the shaders import; the build emits the same constants for Rust
//! ([`crate::gpu::shaders::common`]) and the names below are those, so a word moved in the shader
//! moves here too and a word renamed there fails the build. This module imports nothing from the
//! stages that use it.

use crate::gpu::shaders::common::plan as wgsl;
use crate::{Error, Result};

/// Words per station block (and of the global block after them).
pub const BLOCK: u32 = wgsl::PLAN_BLOCK;
/// Block words 0–1: the station's registration correction (zero unless accepted).
pub const CORR: u32 = wgsl::PLAN_CORR;
/// Block words: the coarse level's best shift.
pub const COARSE: u32 = wgsl::PLAN_COARSE;
/// Block words: the middle level's best shift (integer; centre of the final 3×3).
pub const MID: u32 = wgsl::PLAN_MID;
/// Block words: the refined (sub-pixel) shift.
pub const REFINED: u32 = wgsl::PLAN_REFINED;
/// Block word: NCC at the best shift.
pub const SCORE: u32 = wgsl::PLAN_SCORE;
/// Block word: 1 accepted, 2 out of range, 3 below the threshold (0: not run).
pub const SEARCH_STATUS: u32 = wgsl::PLAN_SEARCH_STATUS;
/// Block words of the search state (copied into the plan by the layout).
pub const SEARCH_WORDS: u32 = wgsl::PLAN_SEARCH_WORDS;
/// Block words: the station's final canvas offset (after the registration and the shift).
pub const OFFSET: u32 = wgsl::PLAN_OFFSET;
/// Block word: the station's gain.
pub const GAIN: u32 = wgsl::PLAN_GAIN;
/// Global block words: canvas width and height.
pub const CANVAS: u32 = wgsl::PLAN_CANVAS;
/// Global block words: the shift added to every offset.
pub const CANVAS_SHIFT: u32 = wgsl::PLAN_CANVAS_SHIFT;
/// Global block word: 1 the layout fits the canvas allocated for it, 2 it does not.
pub const LAYOUT_STATUS: u32 = wgsl::PLAN_LAYOUT_STATUS;
/// Global block word: 0 gains not solved, 1 solved, 2 singular system, 3 gains not finite or not
/// positive.
pub const GAIN_STATUS: u32 = wgsl::PLAN_GAIN_STATUS;
/// Global block word: 0 block gains not solved, 1 solved, 2 the iterations did not converge, 3 gains
/// not finite.
pub const BLOCK_STATUS: u32 = wgsl::PLAN_BLOCK_STATUS;

// The layout's invariants, checked when the constants are read: the station's own words after the
// search's, and every word inside its block.
const _: () = assert!(SEARCH_STATUS < SEARCH_WORDS && OFFSET >= SEARCH_WORDS && GAIN >= OFFSET + 2);
const _: () = assert!(GAIN < BLOCK && BLOCK_STATUS < BLOCK && CANVAS_SHIFT >= CANVAS + 2);

/// Most stations one stitch takes: the gain solve keeps its normal equations in one invocation's
/// registers (`shaders/stitch_gain_solve.wgsl`), and a long-leg or full-spine study has 2–5.
pub const MAX_STATIONS: usize = 16;

/// Word `w` of station `k`'s block.
pub fn at(k: usize, w: u32) -> usize {
    k * BLOCK as usize + w as usize
}

/// Word `w` of the global block of a plan for `count` stations.
pub fn global(count: usize, w: u32) -> usize {
    at(count, w)
}

/// Words of a plan (or a search state) for `count` stations: their blocks and the global one.
pub fn plan_words(count: usize) -> usize {
    (count + 1) * BLOCK as usize
}

/// What the plan says, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Canvas size.
    pub canvas: [u32; 2],
    /// The shift added to every offset (whole pixels).
    pub shift: [f64; 2],
    /// Each station's registration correction (zero when refused or not searched).
    pub corrections: Vec<[f64; 2]>,
    /// Final offset of every station as the GPU placed it (f32 arithmetic).
    pub offsets: Vec<[f64; 2]>,
    /// Gain of every station (1 when not compensated).
    pub gains: Vec<f64>,
}

/// Reads the plan words, refusing a layout that outgrew its canvas or gains that could not be solved.
pub fn decode_plan(words: &[f32], count: usize) -> Result<Plan> {
    if words.len() < plan_words(count) {
        return Err(Error::Gpu("stitch plan came back too short".into()));
    }
    let g = |w: u32| words[global(count, w)];
    if g(LAYOUT_STATUS) != 1.0 {
        return Err(Error::Gpu(format!(
            "registered layout {}x{} does not fit the canvas allocated for it",
            g(CANVAS),
            g(CANVAS + 1)
        )));
    }
    match g(GAIN_STATUS) as u32 {
        0 | 1 => {}
        2 => {
            return Err(Error::InvalidParams(
                "gain compensation: singular system (stations without overlap?)".into(),
            ));
        }
        _ => {
            return Err(Error::InvalidParams(
                "gain compensation found no valid gains".into(),
            ));
        }
    }
    match g(BLOCK_STATUS) as u32 {
        0 | 1 => {}
        2 => {
            return Err(Error::InvalidParams(
                "block gain compensation: the solve did not converge".into(),
            ));
        }
        _ => {
            return Err(Error::InvalidParams(
                "block gain compensation found no valid gains".into(),
            ));
        }
    }
    let pair = |k: usize, w: u32| [f64::from(words[at(k, w)]), f64::from(words[at(k, w + 1)])];
    Ok(Plan {
        canvas: [g(CANVAS) as u32, g(CANVAS + 1) as u32],
        shift: [f64::from(g(CANVAS_SHIFT)), f64::from(g(CANVAS_SHIFT + 1))],
        corrections: (0..count).map(|k| pair(k, CORR)).collect(),
        offsets: (0..count).map(|k| pair(k, OFFSET)).collect(),
        gains: (0..count).map(|k| f64::from(words[at(k, GAIN)])).collect(),
    })
}

/// Final offsets of the stations as the plan holds them.
pub fn plan_offsets(plan: &[f32], count: usize) -> Vec<[f32; 2]> {
    (0..count)
        .map(|k| [plan[at(k, OFFSET)], plan[at(k, OFFSET + 1)]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(count: usize, layout: f32, gain: f32) -> Vec<f32> {
        let mut w = vec![0.0f32; plan_words(count)];
        for k in 0..count {
            w[at(k, OFFSET)] = 10.0 * k as f32;
            w[at(k, OFFSET + 1)] = 0.5;
            w[at(k, GAIN)] = 1.0 + k as f32 / 10.0;
        }
        w[global(count, CANVAS)] = 300.0;
        w[global(count, CANVAS + 1)] = 200.0;
        w[global(count, CANVAS_SHIFT)] = -3.0;
        w[global(count, LAYOUT_STATUS)] = layout;
        w[global(count, GAIN_STATUS)] = gain;
        w
    }

    #[test]
    fn a_plan_decodes_and_its_failures_are_named() {
        let plan = decode_plan(&plan_of(2, 1.0, 1.0), 2).expect("plan");
        assert_eq!(plan.canvas, [300, 200]);
        assert_eq!(plan.shift, [-3.0, 0.0]);
        assert_eq!(plan.offsets, vec![[0.0, 0.5], [10.0, 0.5]]);
        assert_eq!(plan.gains[0], 1.0);
        assert!((plan.gains[1] - 1.1).abs() < 1e-6);
        let err = |layout, gain| {
            decode_plan(&plan_of(2, layout, gain), 2)
                .expect_err("refused")
                .to_string()
        };
        assert!(err(2.0, 1.0).contains("does not fit"), "{}", err(2.0, 1.0));
        assert!(err(1.0, 2.0).contains("singular"), "{}", err(1.0, 2.0));
        assert!(
            err(1.0, 3.0).contains("no valid gains"),
            "{}",
            err(1.0, 3.0)
        );
        assert!(
            decode_plan(&[0.0; 8], 2).is_err(),
            "a short plan is refused"
        );
    }

    #[test]
    fn the_words_are_the_shader_constants() {
        // The values shaders/common/plan.wgsl states (a change there shows up here as a diff to
        // review).
        assert_eq!(
            [
                BLOCK,
                CORR,
                COARSE,
                MID,
                REFINED,
                SCORE,
                SEARCH_STATUS,
                SEARCH_WORDS
            ],
            [16, 0, 2, 4, 6, 8, 9, 10]
        );
        assert_eq!([OFFSET, GAIN], [10, 12]);
        assert_eq!(
            [
                CANVAS,
                CANVAS_SHIFT,
                LAYOUT_STATUS,
                GAIN_STATUS,
                BLOCK_STATUS
            ],
            [0, 2, 4, 5, 6]
        );
    }
}
