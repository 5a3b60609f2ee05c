// Turns one level of an NCC search's scores into the best candidate shift, written to the search's
// state buffer, where the next level's grid (shaders/stitch_ncc.wgsl) takes its origin — so a whole
// coarse-to-fine search runs with no host round trip (src/stitch/register/search.rs). Order: the greatest finite
// score, ties to the higher candidate index; no finite score picks candidate 0. One workgroup.

struct PickParams {
    c_x0: f32,         // grid: (c_x0 + origin + i·c_step, …), i < c_nx, j < c_ny
    c_y0: f32,
    c_step: f32,
    origin_slot: i32,  // state word of the grid origin; −1: none
    c_nx: u32,
    c_ny: u32,
    out_slot: u32,     // state word the best shift (x, y) is written to
    _p0: u32,
}

@group(0) @binding(0) var<uniform> params: PickParams;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

const NONE: u32 = 0xffffffffu;

var<workgroup> best_v: array<f32, 64>;
var<workgroup> best_i: array<u32, 64>;

fn is_finite(v: f32) -> bool {
    return v == v && abs(v) <= 3.40282347e38;
}

// (v2, i2) after (v1, i1) in the order "greatest finite score, ties to the higher index".
fn beats(v2: f32, i2: u32, v1: f32, i1: u32) -> bool {
    if i2 == NONE {
        return false;
    }
    return i1 == NONE || v2 > v1 || (v2 == v1 && i2 > i1);
}

@compute @workgroup_size(64)
fn pick(@builtin(local_invocation_index) lid: u32) {
    let n = params.c_nx * params.c_ny;
    var bv = 0.0;
    var bi = NONE;
    for (var k = lid; k < n; k += 64u) {
        let v = scores[k];
        if is_finite(v) && beats(v, k, bv, bi) {
            bv = v;
            bi = k;
        }
    }
    best_v[lid] = bv;
    best_i[lid] = bi;
    workgroupBarrier();
    for (var stride = 32u; stride > 0u; stride >>= 1u) {
        if lid < stride && beats(best_v[lid + stride], best_i[lid + stride], best_v[lid], best_i[lid]) {
            best_v[lid] = best_v[lid + stride];
            best_i[lid] = best_i[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        let k = select(best_i[0], 0u, best_i[0] == NONE);
        var origin = vec2<f32>(0.0, 0.0);
        if params.origin_slot >= 0 {
            let o = u32(params.origin_slot);
            origin = vec2<f32>(state[o], state[o + 1u]);
        }
        let i = k % params.c_nx;
        let j = k / params.c_nx;
        state[params.out_slot] = (params.c_x0 + origin.x) + f32(i) * params.c_step;
        state[params.out_slot + 1u] = (params.c_y0 + origin.y) + f32(j) * params.c_step;
    }
}

