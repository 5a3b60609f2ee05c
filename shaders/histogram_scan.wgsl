// Scans of histograms, one workgroup of 256 invocations per histogram; invocation t owns the `per`
// consecutive bins starting at t·per.
// * cdf: inclusive prefix sums (the unnormalised CDF) of `regions` histograms → out[r·bins + b].
// * equalize_lut: OpenCV's equalizeHist LUT, generalised to N bins and any output range, computed
//   entirely here so no value goes back to the CPU. With i0 the first non-empty bin, T the pixel
//   count and d = T − hist[i0]:
//     lut[j] = 0 for j ≤ i0;  lut[j] = saturate(round_half_even(f32(cdf[j] − hist[i0]) · s))
//     with s = f32(out_max) / f32(d) (f32 division, correctly rounded) — for 8-bit, 256 bins, exactly
//     OpenCV's `saturate_cast<uchar>(sum * scale)`. When d = 0 (one non-empty bin) every entry is
//     i0's lowest value (OpenCV: dst.setTo(i)). Float output: f32(cdf[j] − hist[i0]) · f32(1/d).
//   WGSL guarantees correctly rounded + − × but allows 2.5 ULP for ÷ and leaves int → float
//   rounding to the implementation, so both are done here in integer arithmetic.

#import workgroup_scan

struct Params {
    bins: u32,
    per: u32,        // bins per invocation, max(bins / 256, 1)
    out_max: u32,    // integer output: largest output value
    out_float: u32,  // 1: f32 output (LUT holds f32 bits)
    shift: u32,      // constant image: output = i0 << shift
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> hist: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

var<workgroup> wg_first: atomic<u32>;

// u32 → f32 rounded to nearest, ties to even (what C and Rust `as` do).
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

// a / b correctly rounded (nearest, ties to even) for positive normal f32 a, b whose quotient is a
// normal f32: restoring division of the 24-bit significands to 25 quotient bits plus a sticky bit.
fn div_rn(a: f32, b: f32) -> f32 {
    let ab = bitcast<u32>(a);
    let bb = bitcast<u32>(b);
    let ma = (ab & 0x007FFFFFu) | 0x00800000u;
    let mb = (bb & 0x007FFFFFu) | 0x00800000u;
    var e = i32((ab >> 23u) & 0xFFu) - i32((bb >> 23u) & 0xFFu);
    var r = ma;
    if r < mb {
        r = r << 1u;
        e -= 1;
    }
    var q = 0u;
    for (var i = 0u; i < 25u; i++) {
        q = q << 1u;
        if r >= mb {
            r -= mb;
            q |= 1u;
        }
        r = r << 1u;
    }
    var mant = q >> 1u;
    let round_bit = q & 1u;
    if round_bit == 1u && (r != 0u || (mant & 1u) == 1u) {
        mant += 1u;
    }
    if mant == 0x01000000u {
        mant = 0x00800000u;
        e += 1;
    }
    return bitcast<f32>((u32(e + 127) << 23u) | (mant & 0x007FFFFFu));
}

@compute @workgroup_size(256)
fn cdf(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let bins = params.bins;
    let base = wid.x * bins;
    let start = min(lid * params.per, bins);
    let end = min(start + params.per, bins);
    var local_sum = 0u;
    for (var b = start; b < end; b++) {
        local_sum += hist[base + b];
    }
    var running = workgroup_inclusive_scan(lid, local_sum) - local_sum;
    for (var b = start; b < end; b++) {
        running += hist[base + b];
        out[base + b] = running;
    }
}

@compute @workgroup_size(256)
fn equalize_lut(@builtin(local_invocation_index) lid: u32) {
    let bins = params.bins;
    if lid == 0u {
        atomicStore(&wg_first, 0xFFFFFFFFu);
    }
    let start = min(lid * params.per, bins);
    let end = min(start + params.per, bins);
    var local_sum = 0u;
    var first = 0xFFFFFFFFu;
    for (var b = start; b < end; b++) {
        let h = hist[b];
        local_sum += h;
        if h != 0u && first == 0xFFFFFFFFu {
            first = b;
        }
    }
    workgroupBarrier();
    atomicMin(&wg_first, first);
    let inclusive = workgroup_inclusive_scan(lid, local_sum);
    let total = scan_total();
    let i0 = atomicLoad(&wg_first);
    if i0 == 0xFFFFFFFFu {
        // Nothing counted (an empty region of interest): an all-zero LUT.
        for (var b = start; b < end; b++) {
            out[b] = 0u;
        }
        return;
    }
    let h0 = hist[i0];
    let d = total - h0;
    var running = inclusive - local_sum;
    if d == 0u {
        var constant = i0 << params.shift;
        if params.out_float == 1u {
            constant = 0u;
        }
        for (var b = start; b < end; b++) {
            out[b] = constant;
        }
        return;
    }
    let d_f = u32_to_f32_rn(d);
    let scale_int = div_rn(f32(params.out_max), d_f);
    let scale_unit = div_rn(1.0, d_f);
    for (var b = start; b < end; b++) {
        running += hist[b];
        var value = 0u;
        if b > i0 {
            let sum_f = u32_to_f32_rn(running - h0);
            if params.out_float == 1u {
                value = bitcast<u32>(min(sum_f * scale_unit, 1.0));
            } else {
                value = u32(min(round(sum_f * scale_int), f32(params.out_max)));
            }
        }
        out[b] = value;
    }
}
