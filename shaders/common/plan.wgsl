// The plan of a registered stitch decided on the GPU (src/stitch/resident.rs): PLAN_BLOCK words per
// station — 0–9 the search state, 10–11 the final canvas offset, 12 the gain — then one global block
// (0–1 canvas size, 2–3 shift, 4 layout status, 5 gain status, 6 block-gain status). The including
// shader declares `plan: array<f32>`.

const PLAN_BLOCK: u32 = 16u;
const PLAN_OFFSET: u32 = 10u;
const PLAN_GAIN: u32 = 12u;

// Station k's final canvas offset.
fn plan_offset(k: u32) -> vec2<f32> {
    return vec2<f32>(plan[k * PLAN_BLOCK + PLAN_OFFSET], plan[k * PLAN_BLOCK + PLAN_OFFSET + 1u]);
}
