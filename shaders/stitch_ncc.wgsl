// Normalised cross-correlation between two placed stations over a template region of the canvas, for
// a grid of candidate shifts of the second station (src/stitch/register/ncc.rs). `ncc`: one workgroup per
// candidate and chunk of template rows (at most ~65 536 points each): its 256 threads walk the chunk,
// sample both stations bilinearly through their canvas → station maps (so small rotations are
// honoured), reduce five sums in workgroup memory and store them; `ncc_reduce`: one invocation per
// candidate adds its chunks' sums in order and writes the score. Chunks keep a large template's work
// spread over many workgroups — and under llvmpipe's loop budget (every loop of an invocation ends
// after 65 535 iterations in all, silently), which one workgroup per candidate overran on a
// 4394×1244 template. Values are centred and scaled by the host before summing so f32 sums keep
// their precision.
//
// A shift s moves station B's offset by s: B's content seen at canvas p is B's sample at map_b(p − s).
//
// For a search recorded whole on the GPU (src/stitch/register/search.rs), two values come from the search's
// state buffer instead of the host: the candidate grid's origin (the previous level's best shift) and
// station A's own correction c_A from an earlier pair (A is then sampled at map_a(p − c_A)). A slot
// of −1 means zero.

#import atlas

struct Params {
    t_x0: f32,        // template: canvas points (t_x0 + i·t_stride, t_y0 + j·t_stride)
    t_y0: f32,
    t_stride: f32,
    mean_a: f32,
    t_nx: u32,
    t_ny: u32,
    c_nx: u32,        // candidates: (c_x0 + i·c_step, c_y0 + j·c_step), i < c_nx, j < c_ny
    c_ny: u32,
    c_x0: f32,
    c_y0: f32,
    c_step: f32,
    mean_b: f32,
    scale: f32,
    origin_slot: i32, // state word of the grid origin (x, y), added to (c_x0, c_y0); −1: none
    a_corr_slot: i32, // state word of station A's correction (x, y); −1: none
    _p0: f32,
    a_off: u32,
    a_w: u32,
    a_h: u32,
    chunks: u32,      // row chunks per candidate
    a_m0: vec4<f32>,  // station A: sx = m0.x·x + m0.y·y + m0.z
    a_m1: vec4<f32>,  //            sy = m1.x·x + m1.y·y + m1.z
    b_off: u32,
    b_w: u32,
    b_h: u32,
    chunk_rows: u32,  // template rows per chunk
    b_m0: vec4<f32>,
    b_m1: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> atlas: array<f32>;
@group(0) @binding(2) var<storage, read_write> scores: array<f32>;
@group(0) @binding(3) var<storage, read> state: array<f32>;
// Five sums (a, b, aa, bb, ab) per candidate and chunk, chunk-minor.
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

fn state_pair(slot: i32) -> vec2<f32> {
    if slot < 0 {
        return vec2<f32>(0.0, 0.0);
    }
    return vec2<f32>(state[u32(slot)], state[u32(slot) + 1u]);
}

var<workgroup> s_a: array<f32, 256>;
var<workgroup> s_b: array<f32, 256>;
var<workgroup> s_aa: array<f32, 256>;
var<workgroup> s_bb: array<f32, 256>;
var<workgroup> s_ab: array<f32, 256>;

@compute @workgroup_size(256)
fn ncc(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let group = wg.x + wg.y * groups.x;
    let cand = group / params.chunks;
    let chunk = group % params.chunks;
    let ci = cand % params.c_nx;
    let cj = cand / params.c_nx;
    let origin = state_pair(params.origin_slot);
    let corr_a = state_pair(params.a_corr_slot);
    let shift_x = (params.c_x0 + origin.x) + f32(ci) * params.c_step;
    let shift_y = (params.c_y0 + origin.y) + f32(cj) * params.c_step;
    var a = 0.0;
    var b = 0.0;
    var aa = 0.0;
    var bb = 0.0;
    var ab = 0.0;
    if cand < params.c_nx * params.c_ny {
        let row0 = chunk * params.chunk_rows;
        let rows = min(params.chunk_rows, params.t_ny - min(row0, params.t_ny));
        for (var t = lid; t < rows * params.t_nx; t += 256u) {
            let j = row0 + t / params.t_nx;
            let i = t % params.t_nx;
            let py = params.t_y0 + f32(j) * params.t_stride;
            let px = params.t_x0 + f32(i) * params.t_stride;
            let pax = px - corr_a.x;
            let pay = py - corr_a.y;
            let ax = params.a_m0.x * pax + params.a_m0.y * pay + params.a_m0.z;
            let ay = params.a_m1.x * pax + params.a_m1.y * pay + params.a_m1.z;
            let qx = px - shift_x;
            let qy = py - shift_y;
            let bx = params.b_m0.x * qx + params.b_m0.y * qy + params.b_m0.z;
            let by = params.b_m1.x * qx + params.b_m1.y * qy + params.b_m1.z;
            let va = (atlas_sample(params.a_off, params.a_w, params.a_h, ax, ay) - params.mean_a) * params.scale;
            let vb = (atlas_sample(params.b_off, params.b_w, params.b_h, bx, by) - params.mean_b) * params.scale;
            a += va;
            b += vb;
            aa += va * va;
            bb += vb * vb;
            ab += va * vb;
        }
    }
    s_a[lid] = a;
    s_b[lid] = b;
    s_aa[lid] = aa;
    s_bb[lid] = bb;
    s_ab[lid] = ab;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if lid < stride {
            s_a[lid] += s_a[lid + stride];
            s_b[lid] += s_b[lid + stride];
            s_aa[lid] += s_aa[lid + stride];
            s_bb[lid] += s_bb[lid + stride];
            s_ab[lid] += s_ab[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u && cand < params.c_nx * params.c_ny {
        let at = (cand * params.chunks + chunk) * 5u;
        partials[at] = s_a[0];
        partials[at + 1u] = s_b[0];
        partials[at + 2u] = s_aa[0];
        partials[at + 3u] = s_bb[0];
        partials[at + 4u] = s_ab[0];
    }
}

@compute @workgroup_size(64)
fn ncc_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let cand = gid.x + gid.y * groups.x * 64u;
    if cand >= params.c_nx * params.c_ny {
        return;
    }
    var sums = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
    for (var chunk = 0u; chunk < params.chunks; chunk++) {
        let at = (cand * params.chunks + chunk) * 5u;
        for (var k = 0u; k < 5u; k++) {
            sums[k] += partials[at + k];
        }
    }
    let n = f32(params.t_nx * params.t_ny);
    let cov = sums[4] - sums[0] * sums[1] / n;
    let var_a = sums[2] - sums[0] * sums[0] / n;
    let var_b = sums[3] - sums[1] * sums[1] / n;
    let denom = sqrt(max(var_a, 0.0) * max(var_b, 0.0));
    scores[cand] = select(0.0, cov / denom, denom > 0.0);
}
