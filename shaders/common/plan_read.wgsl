// Reading the plan of a stitch (its words: shaders/common/plan.wgsl). The including shader declares
// `plan: array<f32>`.

#import plan

// Station k's final canvas offset.
fn plan_offset(k: u32) -> vec2<f32> {
    return vec2<f32>(plan[k * PLAN_BLOCK + PLAN_OFFSET], plan[k * PLAN_BLOCK + PLAN_OFFSET + 1u]);
}
