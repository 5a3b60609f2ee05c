// The last step of a GPU-resident NCC search (src/stitch/register/search.rs): fits the sub-pixel peak on the
// final 3×3 level, accepts or refuses the match, and stores the station's correction, which later pairs
// read as their fixed station's offset change (shaders/stitch_ncc.wgsl). One invocation.
//
// State block of a station (PLAN_BLOCK words at `slot`, the first words of its plan block:
// shaders/common/plan.wgsl): the correction (zero unless accepted), the coarse and mid best
// shifts, the refined shift, the NCC at the best shift, and the status (1 accepted, 2 best shift on
// the edge of the search range, 3 NCC below the threshold or NaN).

#import plan

struct FinishParams {
    reach: f32,        // a best shift with |x| or |y| ≥ reach is refused as out of range
    min_score: f32,
    slot: u32,         // the station's state block
    _p0: u32,
}

@group(0) @binding(0) var<uniform> params: FinishParams;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

// Vertex offset of the parabola through (−1, l), (0, c), (1, r), within ±½ (0 without a maximum).
fn parabolic_peak(l: f32, c: f32, r: f32) -> f32 {
    let denom = l - 2.0 * c + r;
    if denom >= 0.0 {
        return 0.0;
    }
    return clamp(0.5 * (l - r) / denom, -0.5, 0.5);
}

@compute @workgroup_size(1)
fn finish() {
    let base = params.slot;
    let bx = state[base + PLAN_MID];
    let by = state[base + PLAN_MID + 1u];
    let centre = scores[4];
    let dx = parabolic_peak(scores[3], centre, scores[5]);
    let dy = parabolic_peak(scores[1], centre, scores[7]);
    let shift = vec2<f32>(bx + dx, by + dy);
    var status = 1.0;
    if abs(bx) >= params.reach || abs(by) >= params.reach {
        status = 2.0;
    } else if !(centre >= params.min_score) {
        status = 3.0;
    }
    let accepted = status == 1.0;
    state[base + PLAN_CORR] = select(0.0, shift.x, accepted);
    state[base + PLAN_CORR + 1u] = select(0.0, shift.y, accepted);
    state[base + PLAN_REFINED] = shift.x;
    state[base + PLAN_REFINED + 1u] = shift.y;
    state[base + PLAN_SCORE] = centre;
    state[base + PLAN_SEARCH_STATUS] = status;
}
