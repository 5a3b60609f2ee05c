// Sample → histogram bin, shared by every histogram stage (count, LUT apply, CLAHE). Mirrors
// `Binning::bin_of` in src/ops/histogram.rs; the two must agree bit for bit.
//
// Integer samples: v = the sample as an unsigned domain value (i16 as offset binary, v + 32768),
// clamped to vmax = 2^bits − 1, then bin = v >> shift (bins = 2^(bits − shift)).
// f32 samples: `bins` equal bins over the image's finite range [lo, hi], found on the GPU by
// `histogram_range.wgsl`. Everything is decided on bit patterns, never on float NaN/inf tests:
// WGSL lets an implementation assume floats are finite, so `x != x` may be compiled away.
// Needs `#import pixels` first.

const NO_BIN: u32 = 0xFFFFFFFFu;

// log2 of samples per 32-bit word: index >> word_shift is the word, index & (ppw − 1) the lane
// (shifts, not divisions: a CPU adapter runs integer division one lane at a time).
fn word_shift(format: u32) -> u32 {
    switch format {
        case 0u: { return 2u; }
        case 1u, 2u: { return 1u; }
        default: { return 0u; }
    }
}

// 16 bytes; sits at offset 0 of every params block that carries it.
struct Binning {
    format: u32,  // FMT_* of the samples
    shift: u32,   // integer formats: bin = min(v, vmax) >> shift
    vmax: u32,    // integer formats: largest domain value, 2^bits − 1
    bins: u32,
}

// Integer sample `lane` of `word` as an unsigned domain value (i16 → offset binary).
fn domain_value(word: u32, lane: u32, format: u32) -> u32 {
    switch format {
        case 0u: { return (word >> (8u * lane)) & 0xFFu; }
        case 1u: { return (word >> (16u * lane)) & 0xFFFFu; }
        default: { return ((word >> (16u * lane)) & 0xFFFFu) ^ 0x8000u; }
    }
}

fn int_bin(value: u32, b: Binning) -> u32 {
    return min(value, b.vmax) >> b.shift;
}

fn f32_bits_is_nan(bits: u32) -> bool {
    return (bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0u;
}

fn f32_bits_is_finite(bits: u32) -> bool {
    return (bits & 0x7F800000u) != 0x7F800000u;
}

// Order-preserving key of a finite f32: a larger key is a larger number. Key 0 is never produced
// for a finite value, so 0 means "nothing seen".
fn f32_key(bits: u32) -> u32 {
    if (bits & 0x80000000u) != 0u {
        return ~bits;
    }
    return bits | 0x80000000u;
}

fn key_to_f32(key: u32) -> f32 {
    if (key & 0x80000000u) != 0u {
        return bitcast<f32>(key & 0x7FFFFFFFu);
    }
    return bitcast<f32>(~key);
}

// The range buffer written by histogram_range.wgsl: [~key(min), key(max)] → (lo/2, (hi/2 − lo/2)/bins).
// Halves keep hi − lo finite for any finite pair; dividing by a power-of-two bin count is exact.
fn f32_range_halves(inv_min_key: u32, max_key: u32, bins: u32) -> vec2<f32> {
    if max_key == 0u {
        return vec2<f32>(0.0, 0.0);
    }
    let lo = key_to_f32(~inv_min_key) * 0.5;
    let hi = key_to_f32(max_key) * 0.5;
    // 1/bins as an exact power of two (WGSL division may be off by ULPs).
    return vec2<f32>(lo, (hi - lo) * ldexp(1.0, -i32(firstTrailingBit(bins))));
}

// Bin of a finite or infinite (not NaN) f32: the largest j in [0, bins) with j·unit ≤ x/2 − lo/2,
// found from a guess and corrected with correctly rounded products only, so it is reproducible.
fn f32_bin(bits: u32, range: vec2<f32>, bins: u32) -> u32 {
    if !f32_bits_is_finite(bits) {
        return select(bins - 1u, 0u, (bits & 0x80000000u) != 0u);
    }
    let unit = range.y;
    let t = bitcast<f32>(bits) * 0.5 - range.x;
    if !(unit > 0.0) || !(t > 0.0) {
        return 0u;
    }
    var j = u32(clamp(floor(t / unit), 0.0, f32(bins - 1u)));
    for (var guard = 0u; guard < 8u; guard++) {
        if j > 0u && f32(j) * unit > t {
            j -= 1u;
        } else {
            break;
        }
    }
    for (var guard = 0u; guard < 8u; guard++) {
        if j + 1u < bins && f32(j + 1u) * unit <= t {
            j += 1u;
        } else {
            break;
        }
    }
    return j;
}

// Bin of sample `lane` of `word`, or NO_BIN for a NaN (not counted). `range` is only read for f32.
fn sample_bin(word: u32, lane: u32, b: Binning, range: vec2<f32>) -> u32 {
    if b.format == 3u {
        if f32_bits_is_nan(word) {
            return NO_BIN;
        }
        return f32_bin(word, range, b.bins);
    }
    return int_bin(domain_value(word, lane, b.format), b);
}

// BORDER_REFLECT_101 (OpenCV's borderInterpolate) for the right/bottom padding: p ≥ len folds back
// as len − 2 − (p − len), repeatedly, so any pad width works; len 1 always gives 0.
fn reflect101(p: u32, len: u32) -> u32 {
    if p < len {
        return p;
    }
    if len == 1u {
        return 0u;
    }
    var q = i32(p);
    let n = i32(len);
    for (var guard = 0u; guard < 64u; guard++) {
        if q < 0 {
            q = -q;
        } else if q >= n {
            q = 2 * n - 2 - q;
        } else {
            break;
        }
    }
    return u32(clamp(q, 0, n - 1));
}
