// Block gain compensation of a registered stitch, solved on the GPU from the placements in the plan
// (src/stitch/compensate/blocks.rs), so no stage waits for the host. The model is
// src/stitch/compensate/mod.rs's `blocks` (OpenCV BlocksGainCompensator's idea): every block of every
// station is a node of the gain model, pulled toward its station's gain (already applied to the atlas
// by shaders/stitch_gain_solve.wgsl), the node gains are smoothed with [1 2 1]/4 twice and
// interpolated bilinearly between block centres.
//
//   key_sums  one workgroup per candidate key (station i's block bi against station j's block bj,
//             listed on the host from the nominal layout grown by what registration can move): over
//             every STRIDE-th canvas point of the pair's overlap that both stations cover and whose
//             nearest blocks are bi and bj, the count and both stations' bilinear samples summed
//   solve_init, solve_steps, solve_finish
//             one workgroup each: each node's row of the normal equations from its keys (listed per
//             node on the host) — symmetric positive definite, the prior's β·area on the diagonal
//             plus one positive semi-definite term per key — solved by conjugate gradients
//             preconditioned with the diagonal, from gains 1 (nodes without statistics stay 1);
//             `solve_steps` is dispatched several times. Status in the plan's global word 6 (1
//             solved, 2 not converged, 3 not finite)
//   smooth_grids  one workgroup per station: [1 2 1]/4 along x then y, twice, edges replicated; the
//             station's reported gain (its gain × the mean smoothed block gain) into its plan block
//   apply     one station's atlas samples multiplied by the smoothed block gains, bilinear between
//             block centres (shaders/stitch_gain.wgsl's `gain_at`)

#import pixels
#import atlas
#import placement
#import plan_read
#import workgroup_sum

const STRIDE: u32 = 2u;
// Node planes: gains x, residual r, diagonal, right-hand side, search direction p, A·p; then the
// solver's state words. The smoothing reuses planes 4 and 5 once the solve is done.
const X: u32 = 0u;
const R: u32 = 1u;
const DIAG: u32 = 2u;
const RHS: u32 = 3u;
const P: u32 = 4u;
const Q: u32 = 5u;
const PLANES: u32 = 6u;
const S_RZ: u32 = 0u;
const S_RZ0: u32 = 1u;
const S_ITERATIONS: u32 = 2u;
// Conjugate-gradient iterations per `solve_steps` dispatch.
const STEPS: u32 = 8u;
// Stop when rᵀD⁻¹r has fallen by this factor (the residual by 1e-6)…
const CONVERGED: f32 = 1.0e-12;
// …and accept the solve if it fell by at least this much (1e-4) when the iterations ran out.
const ACCEPTED: f32 = 1.0e-8;

struct Params {
    count: u32,        // stations
    station: u32,      // smooth / apply: the station
    keys: u32,         // candidate keys
    nodes: u32,        // blocks of all stations
    grids_at: u32,     // word of the per-station grid records in `blocks`
    offsets_at: u32,   // word of the per-node entry offsets (nodes + 1) in `blocks`
    entries_at: u32,   // word of the node entries (key · 2 + side) in `blocks`
    unit: f32,         // 255 / the largest |sample|: intensities in 8-bit units
    alpha: f32,        // 1 / σ_N²
    beta: f32,         // 1 / σ_g² of the blocks
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stations: array<u32>;
@group(0) @binding(2) var<storage, read_write> plan: array<f32>;
@group(0) @binding(3) var<storage, read_write> atlas: array<f32>;
// Keys (i, bi, j, bj) from word 0; grid records (blocks x, blocks y, first node, 0) per station from
// `grids_at`; per-node entry offsets; entries.
@group(0) @binding(4) var<storage, read> blocks: array<u32>;
// Per key: count, sum of i's samples, sum of j's samples, 0.
@group(0) @binding(5) var<storage, read_write> sums: array<f32>;
// Six planes of `nodes` values: gains (two, ping-pong), diagonal, right-hand side, two smoothing
// planes (the last holds the smoothed gains `apply` uses).
@group(0) @binding(6) var<storage, read_write> nodes: array<f32>;


// Blocks across and down station k, and its first node.
fn grid_of(k: u32) -> vec3<u32> {
    let at = params.grids_at + k * 4u;
    return vec3<u32>(blocks[at], blocks[at + 1u], blocks[at + 2u]);
}

// The block of station k that station pixel coordinates `s` fall in (compensate.rs `block_of`).
fn block_of(k: u32, s: vec2<f32>) -> u32 {
    let g = grid_of(k);
    let size = vec2<f32>(st_size(k));
    let ix = clamp(i32(floor((s.x + 0.5) * f32(g.x) / size.x)), 0, i32(g.x) - 1);
    let iy = clamp(i32(floor((s.y + 0.5) * f32(g.y) / size.y)), 0, i32(g.y) - 1);
    return u32(iy) * g.x + u32(ix);
}

// Canvas bounding box of block b of station k at `offset`.
fn block_bbox(k: u32, offset: vec2<f32>, b: u32) -> vec4<f32> {
    let g = grid_of(k);
    let size = vec2<f32>(st_size(k));
    let cell = vec2<f32>(f32(b % g.x), f32(b / g.x));
    let step = size / vec2<f32>(f32(g.x), f32(g.y));
    let lo = cell * step - 0.5;
    let hi = (cell + 1.0) * step - 0.5;
    let a = st_to_canvas(k, offset, lo);
    let c = st_to_canvas(k, offset, vec2<f32>(hi.x, lo.y));
    let d = st_to_canvas(k, offset, vec2<f32>(lo.x, hi.y));
    let e = st_to_canvas(k, offset, hi);
    return vec4<f32>(min(min(a, c), min(d, e)), max(max(a, c), max(d, e)));
}

fn sample_at(k: u32, s: vec2<f32>) -> f32 {
    let size = st_size(k);
    return atlas_sample(st_atlas(k), size.x, size.y, s.x, s.y);
}

@compute @workgroup_size(256)
fn key_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let m = wid.x + wid.y * groups.x;
    var n = 0.0;
    var a = 0.0;
    var b = 0.0;
    if m < params.keys {
        let i = blocks[m * 4u];
        let bi = blocks[m * 4u + 1u];
        let j = blocks[m * 4u + 2u];
        let bj = blocks[m * 4u + 3u];
        let oi = plan_offset(i);
        let oj = plan_offset(j);
        // The pair's overlap fixes the sampling grid (every STRIDE-th point from its first); the
        // two blocks' boxes only narrow the points visited.
        let r = box_overlap(st_bbox(i, oi), st_bbox(j, oj));
        if box_usable(r) {
            let first = vec2<i32>(ceil(r.xy));
            let last = vec2<i32>(floor(r.zw));
            let near = box_overlap(block_bbox(i, oi, bi), block_bbox(j, oj, bj));
            let lo = max(vec2<f32>(first), floor(near.xy));
            let hi = min(vec2<f32>(last), ceil(near.zw));
            if all(hi >= lo) && all(last >= first) {
                let s = vec2<i32>(i32(STRIDE));
                // First grid point at or after `lo`, last at or before `hi`.
                let g0 = (vec2<i32>(lo) - first + s - 1) / s;
                let g1 = (vec2<i32>(hi) - first) / s;
                if all(g1 >= g0) {
                    let steps = vec2<u32>(g1 - g0) + 1u;
                    for (var t = lid; t < steps.x * steps.y; t += 256u) {
                        let q = g0 + vec2<i32>(vec2<u32>(t % steps.x, t / steps.x));
                        let p = vec2<f32>(first + q * s);
                        if st_covers(i, oi, p) && st_covers(j, oj, p) {
                            let si = st_to_station(i, oi, p);
                            let sj = st_to_station(j, oj, p);
                            if block_of(i, si) == bi && block_of(j, sj) == bj {
                                n += 1.0;
                                a += sample_at(i, si);
                                b += sample_at(j, sj);
                            }
                        }
                    }
                }
            }
        }
    }
    let total_n = workgroup_sum(lid, n);
    let total_a = workgroup_sum(lid, a);
    let total_b = workgroup_sum(lid, b);
    if lid == 0u && m < params.keys {
        sums[m * 4u] = total_n;
        sums[m * 4u + 1u] = total_a;
        sums[m * 4u + 2u] = total_b;
        sums[m * 4u + 3u] = 0.0;
    }
}

// The station a node belongs to.
fn station_of_node(p: u32) -> u32 {
    var k = 0u;
    for (var s = 1u; s < params.count; s++) {
        if grid_of(s).z <= p {
            k = s;
        }
    }
    return k;
}

// Key `m`'s mean intensity on `side` (0: station i, 1: station j) in 8-bit units, and N (the count
// times the stride's area); N = 0 for a key without points.
fn key_terms(m: u32, side: u32) -> vec3<f32> {
    let n = sums[m * 4u];
    if n <= 0.0 {
        return vec3<f32>(0.0);
    }
    let mine = sums[m * 4u + 1u + side] / n * params.unit;
    let theirs = sums[m * 4u + 2u - side] / n * params.unit;
    return vec3<f32>(mine, theirs, n * f32(STRIDE * STRIDE));
}

// The other node of key `m` seen from `side`.
fn other_node(m: u32, side: u32) -> u32 {
    let k = blocks[m * 4u + 2u - 2u * side];
    return grid_of(k).z + blocks[m * 4u + 3u - 2u * side];
}

// Makes every invocation's storage writes visible to the whole workgroup.
fn sync() {
    storageBarrier();
    workgroupBarrier();
}

// Off-diagonal part of row p of the system times plane `v`: −Σ 2α·I_p·I_q·N·v_q over p's keys.
fn off_diagonal(p: u32, v: u32) -> f32 {
    var acc = 0.0;
    for (var e = blocks[params.offsets_at + p]; e < blocks[params.offsets_at + p + 1u]; e++) {
        let entry = blocks[params.entries_at + e];
        let m = entry / 2u;
        let side = entry % 2u;
        let t = key_terms(m, side);
        acc -= 2.0 * params.alpha * t.x * t.y * t.z * nodes[v * params.nodes + other_node(m, side)];
    }
    return acc;
}

fn state_at() -> u32 {
    return PLANES * params.nodes;
}

// The system's diagonal and right-hand side, x = 1, and the first residual and search direction of
// the preconditioned conjugate gradients (preconditioner: the diagonal).
@compute @workgroup_size(256)
fn solve_init(@builtin(local_invocation_index) lid: u32) {
    let count = params.nodes;
    for (var p = lid; p < count; p += 256u) {
        let k = station_of_node(p);
        let g = grid_of(k);
        let size = vec2<f32>(st_size(k));
        let area = size.x * size.y / f32(g.x * g.y);
        var diag = params.beta * area;
        var rhs = params.beta * area;
        for (var e = blocks[params.offsets_at + p]; e < blocks[params.offsets_at + p + 1u]; e++) {
            let entry = blocks[params.entries_at + e];
            let t = key_terms(entry / 2u, entry % 2u);
            diag += params.beta * t.z + 2.0 * params.alpha * t.x * t.x * t.z;
            rhs += params.beta * t.z;
        }
        nodes[DIAG * count + p] = diag;
        nodes[RHS * count + p] = rhs;
        nodes[X * count + p] = 1.0;
    }
    sync();
    var rz = 0.0;
    for (var p = lid; p < count; p += 256u) {
        let diag = nodes[DIAG * count + p];
        let r = nodes[RHS * count + p] - diag - off_diagonal(p, X);
        nodes[R * count + p] = r;
        nodes[P * count + p] = r / diag;
        rz += r * r / diag;
    }
    let total_rz = workgroup_sum(lid, rz);
    if lid == 0u {
        let s = state_at();
        nodes[s + S_RZ] = total_rz;
        nodes[s + S_RZ0] = total_rz;
        nodes[s + S_ITERATIONS] = 0.0;
    }
}

// Up to STEPS iterations of the conjugate gradients, stopping once the preconditioned residual has
// fallen by CONVERGED. Dispatched several times: every dispatch starts lavapipe's per-invocation loop
// budget afresh (llvmpipe ends every loop of an invocation after 65535 iterations in all).
@compute @workgroup_size(256)
fn solve_steps(@builtin(local_invocation_index) lid: u32) {
    let count = params.nodes;
    let s = state_at();
    // One invocation reads the state; a sum of its value alone hands it to all, uniformly.
    var rz = workgroup_sum(lid, select(0.0, nodes[s + S_RZ], lid == 0u));
    let rz0 = workgroup_sum(lid, select(0.0, nodes[s + S_RZ0], lid == 0u));
    var done = 0.0;
    for (var step = 0u; step < STEPS; step++) {
        // NaN counts as converged here; `solve_finish` refuses it.
        if !(rz > CONVERGED * rz0) {
            break;
        }
        var pq = 0.0;
        for (var p = lid; p < count; p += 256u) {
            let q = nodes[DIAG * count + p] * nodes[P * count + p] + off_diagonal(p, P);
            nodes[Q * count + p] = q;
            pq += nodes[P * count + p] * q;
        }
        let step_length = rz / workgroup_sum(lid, pq);
        var rz_next = 0.0;
        for (var p = lid; p < count; p += 256u) {
            nodes[X * count + p] += step_length * nodes[P * count + p];
            let r = nodes[R * count + p] - step_length * nodes[Q * count + p];
            nodes[R * count + p] = r;
            rz_next += r * r / nodes[DIAG * count + p];
        }
        let rz_new = workgroup_sum(lid, rz_next);
        let keep = rz_new / rz;
        for (var p = lid; p < count; p += 256u) {
            nodes[P * count + p] = nodes[R * count + p] / nodes[DIAG * count + p] + keep * nodes[P * count + p];
        }
        rz = rz_new;
        done += 1.0;
        sync();
    }
    if lid == 0u {
        nodes[s + S_RZ] = rz;
        nodes[s + S_ITERATIONS] += done;
    }
}

// Status into the plan's global word 6: 1 converged (or nearly: a residual down by ACCEPTED), 2 not,
// 3 gains not finite.
@compute @workgroup_size(256)
fn solve_finish(@builtin(local_invocation_index) lid: u32) {
    let count = params.nodes;
    var finite = 1.0;
    for (var p = lid; p < count; p += 256u) {
        if !(abs(nodes[X * count + p]) <= 3.0e38) {
            finite = 0.0;
        }
    }
    let all_finite = workgroup_sum(lid, 1.0 - finite) == 0.0;
    if lid == 0u {
        let s = state_at();
        let rz = nodes[s + S_RZ];
        let rz0 = nodes[s + S_RZ0];
        var status = 2.0;
        if !all_finite || !(abs(rz) <= 3.0e38) {
            status = 3.0;
        } else if rz <= ACCEPTED * rz0 {
            status = 1.0;
        }
        plan[params.count * PLAN_BLOCK + PLAN_BLOCK_STATUS] = status;
    }
}

// One [1 2 1]/4 pass over station k's grid (`along_x` or along y), plane `src` → plane `dst`.
fn smooth_pass(k: u32, lid: u32, src: u32, dst: u32, along_x: bool) {
    let g = grid_of(k);
    let count = params.nodes;
    for (var c = lid; c < g.x * g.y; c += 256u) {
        let x = i32(c % g.x);
        let y = i32(c / g.x);
        var d = vec2<i32>(0, 1);
        if along_x {
            d = vec2<i32>(1, 0);
        }
        let a = clamp(vec2<i32>(x, y) - d, vec2<i32>(0), vec2<i32>(g.xy) - 1);
        let b = clamp(vec2<i32>(x, y) + d, vec2<i32>(0), vec2<i32>(g.xy) - 1);
        let va = nodes[src * count + g.z + u32(a.y) * g.x + u32(a.x)];
        let vb = nodes[src * count + g.z + u32(b.y) * g.x + u32(b.x)];
        let v = nodes[src * count + g.z + c];
        nodes[dst * count + g.z + c] = (va + 2.0 * v + vb) / 4.0;
    }
    storageBarrier();
    workgroupBarrier();
}

@compute @workgroup_size(256)
fn smooth_grids(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let k = wid.x;
    // The solve's search planes are free now; the smoothed gains end in plane Q.
    smooth_pass(k, lid, X, P, true);
    smooth_pass(k, lid, P, Q, false);
    smooth_pass(k, lid, Q, P, true);
    smooth_pass(k, lid, P, Q, false);
    let g = grid_of(k);
    var sum = 0.0;
    for (var c = lid; c < g.x * g.y; c += 256u) {
        sum += nodes[Q * params.nodes + g.z + c];
    }
    let mean = workgroup_sum(lid, sum) / f32(g.x * g.y);
    if lid == 0u {
        plan[k * PLAN_BLOCK + PLAN_GAIN] = plan[k * PLAN_BLOCK + PLAN_GAIN] * mean;
    }
}

// The smoothed block gain at pixel (x, y) of station k: block centres at ((i + ½)·w/blocks − ½, …),
// clamped at the edges (shaders/stitch_gain.wgsl's `gain_at`).
fn gain_at(k: u32, x: u32, y: u32) -> f32 {
    let g = grid_of(k);
    let size = st_size(k);
    let base = Q * params.nodes + g.z;
    let fx = clamp((f32(x) + 0.5) * f32(g.x) / f32(size.x) - 0.5, 0.0, f32(g.x - 1u));
    let fy = clamp((f32(y) + 0.5) * f32(g.y) / f32(size.y) - 0.5, 0.0, f32(g.y - 1u));
    let x0 = min(u32(floor(fx)), g.x - 1u);
    let y0 = min(u32(floor(fy)), g.y - 1u);
    let x1 = min(x0 + 1u, g.x - 1u);
    let y1 = min(y0 + 1u, g.y - 1u);
    let tx = fx - f32(x0);
    let ty = fy - f32(y0);
    let top = nodes[base + y0 * g.x + x0] + tx * (nodes[base + y0 * g.x + x1] - nodes[base + y0 * g.x + x0]);
    let bottom = nodes[base + y1 * g.x + x0] + tx * (nodes[base + y1 * g.x + x1] - nodes[base + y1 * g.x + x0]);
    return top + ty * (bottom - top);
}

@compute @workgroup_size(256)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let k = params.station;
    let size = st_size(k);
    let i = linear_index(gid, groups, 256u);
    if i >= size.x * size.y {
        return;
    }
    let at = st_atlas(k) + i;
    atlas[at] = atlas[at] * gain_at(k, i % size.x, i / size.x);
}
