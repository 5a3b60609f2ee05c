// Gain compensation of a registered stitch, solved on the GPU from the placements
// shaders/stitch_layout.wgsl decided (src/stitch/compensate/gains.rs), so no stage waits for the
// host. The model is src/stitch/compensate/mod.rs's (OpenCV GainCompensator's least squares):
//
//   overlap_sums  one workgroup per station pair (i < j, in that order): over the pair's bounding-box
//                 overlap, every STRIDE-th canvas pixel covered by both stations, the count and the
//                 sums of both stations' bilinear samples
//   solve         one invocation: the normal equations of the gains (σ_N, σ_g priors), Gaussian
//                 elimination with partial pivoting, gains divided by the first station's; stored in
//                 each station's plan block (PLAN_GAIN), status in the global block (PLAN_GAIN_STATUS: 1 solved,
//                 2 singular, 3 not finite or not positive)
//   scale         one station's atlas samples multiplied by its gain (what shaders/stitch_gain.wgsl's
//                 one-block gain does to the same samples)

#import pixels
#import atlas
#import placement
#import plan_read
#import workgroup_sum

const STRIDE: u32 = 2u;
const MAX_STATIONS: u32 = 16u;

struct Params {
    count: u32,      // stations
    station: u32,    // scale: the station
    unit: f32,       // 255 / the largest |sample| of all stations: intensities in 8-bit units
    alpha: f32,      // 1 / σ_N²
    beta: f32,       // 1 / σ_g²
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stations: array<u32>;
@group(0) @binding(2) var<storage, read_write> plan: array<f32>;
@group(0) @binding(3) var<storage, read_write> atlas: array<f32>;
@group(0) @binding(4) var<storage, read_write> sums: array<f32>;


// Pair `p` of the ordering (0,1), (0,2), …, (1,2), …
fn pair_of(p: u32, n: u32) -> vec2<u32> {
    var left = p;
    for (var i = 0u; i < n; i++) {
        let row = n - 1u - i;
        if left < row {
            return vec2<u32>(i, i + 1u + left);
        }
        left -= row;
    }
    return vec2<u32>(0u, 0u);
}

fn sample_at(k: u32, s: vec2<f32>) -> f32 {
    let size = st_size(k);
    return atlas_sample(st_atlas(k), size.x, size.y, s.x, s.y);
}

@compute @workgroup_size(256)
fn overlap_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let ij = pair_of(wid.x, params.count);
    let oi = plan_offset(ij.x);
    let oj = plan_offset(ij.y);
    let r = box_overlap(st_bbox(ij.x, oi), st_bbox(ij.y, oj));
    var n = 0.0;
    var a = 0.0;
    var b = 0.0;
    if box_usable(r) {
        let first = vec2<i32>(ceil(r.xy));
        let last = vec2<i32>(floor(r.zw));
        if all(last >= first) {
            let steps = vec2<u32>(last - first) / STRIDE + 1u;
            for (var t = lid; t < steps.x * steps.y; t += 256u) {
                let q = vec2<i32>(vec2<u32>(t % steps.x, t / steps.x) * STRIDE);
                let p = vec2<f32>(first + q);
                if st_covers(ij.x, oi, p) && st_covers(ij.y, oj, p) {
                    n += 1.0;
                    a += sample_at(ij.x, st_to_station(ij.x, oi, p));
                    b += sample_at(ij.y, st_to_station(ij.y, oj, p));
                }
            }
        }
    }
    let total_n = workgroup_sum(lid, n);
    let total_a = workgroup_sum(lid, a);
    let total_b = workgroup_sum(lid, b);
    if lid == 0u {
        sums[wid.x * 4u] = total_n;
        sums[wid.x * 4u + 1u] = total_a;
        sums[wid.x * 4u + 2u] = total_b;
        sums[wid.x * 4u + 3u] = 0.0;
    }
}

@compute @workgroup_size(1)
fn solve() {
    let n = params.count;
    var m: array<array<f32, MAX_STATIONS>, MAX_STATIONS>;
    var v: array<f32, MAX_STATIONS>;
    for (var i = 0u; i < n; i++) {
        let size = vec2<f32>(st_size(i));
        let area = size.x * size.y;
        v[i] = params.beta * area;
        m[i][i] = params.beta * area;
    }
    let pairs = n * (n - 1u) / 2u;
    for (var p = 0u; p < pairs; p++) {
        let count = sums[p * 4u];
        if count <= 0.0 {
            continue;
        }
        let ij = pair_of(p, n);
        let nij = count * f32(STRIDE * STRIDE);
        let mean_i = sums[p * 4u + 1u] / count * params.unit;
        let mean_j = sums[p * 4u + 2u] / count * params.unit;
        // Both orderings, as OpenCV's loop over all (i, j) does.
        v[ij.x] += params.beta * nij;
        m[ij.x][ij.x] += params.beta * nij + 2.0 * params.alpha * mean_i * mean_i * nij;
        m[ij.x][ij.y] -= 2.0 * params.alpha * mean_i * mean_j * nij;
        v[ij.y] += params.beta * nij;
        m[ij.y][ij.y] += params.beta * nij + 2.0 * params.alpha * mean_j * mean_j * nij;
        m[ij.y][ij.x] -= 2.0 * params.alpha * mean_j * mean_i * nij;
    }
    var status = 1.0;
    for (var col = 0u; col < n; col++) {
        var pivot = col;
        for (var row = col + 1u; row < n; row++) {
            if abs(m[row][col]) > abs(m[pivot][col]) {
                pivot = row;
            }
        }
        if !(abs(m[pivot][col]) >= 1.0e-30) {
            status = 2.0;
            break;
        }
        let top = m[col];
        m[col] = m[pivot];
        m[pivot] = top;
        let tv = v[col];
        v[col] = v[pivot];
        v[pivot] = tv;
        for (var row = col + 1u; row < n; row++) {
            let f = m[row][col] / m[col][col];
            for (var k = col; k < n; k++) {
                m[row][k] -= f * m[col][k];
            }
            v[row] -= f * v[col];
        }
    }
    var g: array<f32, MAX_STATIONS>;
    if status == 1.0 {
        for (var step = 0u; step < n; step++) {
            let row = n - 1u - step;
            var s = 0.0;
            for (var k = row + 1u; k < n; k++) {
                s += m[row][k] * g[k];
            }
            g[row] = (v[row] - s) / m[row][row];
        }
        let g0 = g[0];
        for (var k = 0u; k < n; k++) {
            g[k] /= g0;
            // NaN and ±inf fail this test.
            if !(g[k] > 0.0 && g[k] <= 3.0e38) {
                status = 3.0;
            }
        }
    }
    for (var k = 0u; k < n; k++) {
        plan[k * PLAN_BLOCK + PLAN_GAIN] = select(1.0, g[k], status == 1.0);
    }
    plan[n * PLAN_BLOCK + PLAN_GAIN_STATUS] = status;
}

@compute @workgroup_size(256)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let k = params.station;
    let size = st_size(k);
    let i = linear_index(gid, groups, 256u);
    if i >= size.x * size.y {
        return;
    }
    let at = st_atlas(k) + i;
    atlas[at] = atlas[at] * plan[k * PLAN_BLOCK + PLAN_GAIN];
}
