// CLAHE, stage 2: one workgroup per tile turns the tile's histogram into its LUT exactly as OpenCV's
// CLAHE_CalcLut_Body does: clip every bin at clip_limit (when > 0), hand the clipped count back as
// clipped / bins to every bin plus one more to bins 0, step, 2·step, … for the remainder
// (step = max(bins / remainder, 1)), then lut[i] = saturate(round_half_even(f32(cdf[i]) · lut_scale))
// with lut_scale = f32(bins − 1) / f32(tile area), computed on the host in f32 exactly as OpenCV does.

#import workgroup_scan

struct Params {
    bins: u32,
    per: u32,          // bins per invocation, max(bins / 256, 1)
    clip_limit: u32,   // 0: no clipping
    lut_scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> hist: array<u32>;
@group(0) @binding(2) var<storage, read_write> lut: array<u32>;

// u32 → f32 rounded to nearest, ties to even (cdf values can exceed 2^24 in huge tiles).
fn u32_to_f32_rn(x: u32) -> f32 {
    if x < 0x01000000u {
        return f32(x);
    }
    let top = firstLeadingBit(x);
    let drop = top - 23u;
    var mant = x >> drop;
    let rest = x & ((1u << drop) - 1u);
    let half = 1u << (drop - 1u);
    if rest > half || (rest == half && (mant & 1u) == 1u) {
        mant += 1u;
    }
    return ldexp(f32(mant), i32(drop));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let bins = params.bins;
    let base = wid.x * bins;
    let start = min(lid * params.per, bins);
    let end = min(start + params.per, bins);
    let limit = params.clip_limit;

    var clipped_local = 0u;
    if limit > 0u {
        for (var b = start; b < end; b++) {
            let h = hist[base + b];
            if h > limit {
                clipped_local += h - limit;
            }
        }
    }
    workgroup_inclusive_scan(lid, clipped_local);
    let clipped = scan_total();
    let batch = clipped / bins;
    let residual = clipped - batch * bins;
    var step = 1u;
    if residual > 0u {
        step = max(bins / residual, 1u);
    }

    // Bins that get one residual pixel: 0, step, 2·step, … below residual·step (≤ bins). The first
    // such bin of this invocation's range is found once; the loops then step without dividing.
    let residual_end = residual * step;
    let first_extra = ((start + step - 1u) / step) * step;

    var local_sum = 0u;
    var extra = first_extra;
    for (var b = start; b < end; b++) {
        local_sum += clipped_bin(hist[base + b], b, limit, batch, residual_end, &extra, step);
    }
    var running = workgroup_inclusive_scan(lid, local_sum) - local_sum;
    let top = f32(bins - 1u);
    extra = first_extra;
    for (var b = start; b < end; b++) {
        running += clipped_bin(hist[base + b], b, limit, batch, residual_end, &extra, step);
        lut[base + b] = u32(min(round(u32_to_f32_rn(running) * params.lut_scale), top));
    }
}

// Bin b after clipping and redistribution; `extra` is the next bin due a residual pixel.
fn clipped_bin(
    h: u32,
    b: u32,
    limit: u32,
    batch: u32,
    residual_end: u32,
    extra: ptr<function, u32>,
    step: u32,
) -> u32 {
    if limit == 0u {
        return h;
    }
    var v = min(h, limit) + batch;
    if b == *extra {
        if b < residual_end {
            v += 1u;
        }
        *extra += step;
    }
    return v;
}
