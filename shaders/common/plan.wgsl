// The plan buffer of a stitch, the one definition of its words: the build emits these constants for
// Rust too (radpipe::gpu::shaders::common::plan, which src/stitch/plan.rs names), so Rust cannot
// disagree. Shaders reading the plan buffer import plan_read.wgsl, which imports this file. PLAN_BLOCK words per station,
// then one global block of PLAN_BLOCK words after the last station's.
//
// A station's block: words PLAN_CORR..PLAN_SEARCH_WORDS are the registration search's state
// (shaders/stitch_ncc_pick.wgsl and stitch_ncc_finish.wgsl write them into the search state, which
// has the same blocks; shaders/stitch_layout.wgsl copies them into the plan so one readback reports
// both), then the final canvas offset and the gain.

const PLAN_BLOCK: u32 = 16u;
// 0–1: the station's registration correction (zero unless accepted).
const PLAN_CORR: u32 = 0u;
// 2–3: the coarse level's best shift.
const PLAN_COARSE: u32 = 2u;
// 4–5: the middle level's best shift (integer; the centre of the final 3×3).
const PLAN_MID: u32 = 4u;
// 6–7: the refined (sub-pixel) shift.
const PLAN_REFINED: u32 = 6u;
// 8: NCC at the best shift.
const PLAN_SCORE: u32 = 8u;
// 9: 1 accepted, 2 best shift on the edge of the search range, 3 NCC below the threshold (0: not run).
const PLAN_SEARCH_STATUS: u32 = 9u;
// Words of the search state in a block (the layout copies these).
const PLAN_SEARCH_WORDS: u32 = 10u;
// 10–11: the final canvas offset (after the correction and the shift).
const PLAN_OFFSET: u32 = 10u;
// 12: the gain (1 until a compensation writes it; its effective gain for blocks and histogram).
const PLAN_GAIN: u32 = 12u;

// The global block.
// 0–1: canvas width and height.
const PLAN_CANVAS: u32 = 0u;
// 2–3: the shift added to every offset so the canvas starts at pixel 0.
const PLAN_CANVAS_SHIFT: u32 = 2u;
// 4: 1 the layout fits the canvas allocated for it, 2 it does not.
const PLAN_LAYOUT_STATUS: u32 = 4u;
// 5: 0 gains not solved, 1 solved, 2 singular system, 3 gains not finite or not positive.
const PLAN_GAIN_STATUS: u32 = 5u;
// 6: 0 block gains not solved, 1 solved, 2 the iterations did not converge, 3 gains not finite.
const PLAN_BLOCK_STATUS: u32 = 6u;
