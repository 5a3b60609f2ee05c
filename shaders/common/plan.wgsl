// Reading the plan of a stitch (its words: shaders/common/plan_layout.wgsl, the one definition; Rust
// reads the same constants, src/stitch/plan.rs). The including shader declares `plan: array<f32>`.

#import plan_layout

// Station k's final canvas offset.
fn plan_offset(k: u32) -> vec2<f32> {
    return vec2<f32>(plan[k * PLAN_BLOCK + PLAN_OFFSET], plan[k * PLAN_BLOCK + PLAN_OFFSET + 1u]);
}
