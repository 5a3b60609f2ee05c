// Histogram matching LUT: for every bin i of the image, the smallest reference bin j minimising
// |CDF_img(i) − CDF_ref(j)| with both CDFs normalised by their pixel counts. Compared exactly in
// integers: |cdf_img[i]·T_ref − cdf_ref[j]·T_img| with 64-bit products built from 32-bit halves, so
// the result never depends on float rounding. cdf_ref·T_img is non-decreasing in j, so a binary search
// finds the first j at or above the wanted and the best candidate is it or the first bin of the run
// just below it (ties go to the smaller j). One invocation per image bin; lut[i] = j << ref_shift.

struct Params {
    bins: u32,       // image bins
    ref_bins: u32,
    ref_shift: u32,  // output value of reference bin j = j << ref_shift
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> cdf_img: array<u32>;
@group(0) @binding(2) var<storage, read> cdf_ref: array<u32>;
@group(0) @binding(3) var<storage, read_write> lut: array<u32>;

// (low word, high word) of a · b.
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xFFFFu;
    let a1 = a >> 16u;
    let b0 = b & 0xFFFFu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
    let lo = (p00 & 0xFFFFu) | (mid << 16u);
    let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(lo, hi);
}

fn less64(x: vec2<u32>, y: vec2<u32>) -> bool {
    return x.y < y.y || (x.y == y.y && x.x < y.x);
}

fn sub64(x: vec2<u32>, y: vec2<u32>) -> vec2<u32> {
    let borrow = select(0u, 1u, x.x < y.x);
    return vec2<u32>(x.x - y.x, x.y - y.y - borrow);
}

// First j in [0, ref_bins) with cdf_ref[j] · t_img ≥ wanted (ref_bins when none).
fn lower_bound_scaled(wanted: vec2<u32>, t_img: u32) -> u32 {
    var lo = 0u;
    var hi = params.ref_bins;
    for (var guard = 0u; guard < 40u && lo < hi; guard++) {
        let mid = (lo + hi) / 2u;
        if less64(mul_wide(cdf_ref[mid], t_img), wanted) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// First j with cdf_ref[j] ≥ value.
fn lower_bound_raw(value: u32) -> u32 {
    var lo = 0u;
    var hi = params.ref_bins;
    for (var guard = 0u; guard < 40u && lo < hi; guard++) {
        let mid = (lo + hi) / 2u;
        if cdf_ref[mid] < value {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= params.bins {
        return;
    }
    let t_img = cdf_img[params.bins - 1u];
    let t_ref = cdf_ref[params.ref_bins - 1u];
    let wanted = mul_wide(cdf_img[i], t_ref);
    let lb = lower_bound_scaled(wanted, t_img);
    var best = lb;
    if lb > 0u {
        let below = cdf_ref[lb - 1u];
        let d_below = sub64(wanted, mul_wide(below, t_img));
        var take_below = lb == params.ref_bins;
        if !take_below {
            let d_above = sub64(mul_wide(cdf_ref[lb], t_img), wanted);
            take_below = !less64(d_above, d_below);
        }
        if take_below {
            best = lower_bound_raw(below);
        }
    }
    lut[i] = best << params.ref_shift;
}
