// Applies a per-bin look-up table: out = lut[bin(sample)], where bin() is the histogram binning the
// LUT was built for (common/histogram.wgsl), so integer and f32 inputs share one path. Integer outputs
// (u8/u16) take the LUT word as the value (optionally inverted, out_max − v, for MONOCHROME1); f32
// outputs take the LUT word's bits, and a NaN input stays NaN. One invocation writes one output word
// from the input word of the same index (the op checks that both formats pack alike).

#import pixels
#import histogram

// Specialised per pipeline (src/ops/histogram.rs), so the format switches fold away at compile time.
override IN_FORMAT: u32 = 1u;   // the samples' FMT_* (the uniform's binning.format is not read)
override OUT_FORMAT: u32 = 1u;  // FMT_U8, FMT_U16 or FMT_F32
override INVERT: u32 = 0u;      // integer output: 1 → out_max − v

struct Params {
    binning: Binning,
    count: u32,       // pixels
    out_max: u32,     // integer output's largest value (for INVERT)
    _p0: u32,
    _p1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read> value_range: array<u32>;
@group(0) @binding(3) var<storage, read> lut: array<u32>;
@group(0) @binding(4) var<storage, read_write> output: array<u32>;

fn mapped(word: u32, lane: u32, range: vec2<f32>) -> u32 {
    var b = params.binning;
    b.format = IN_FORMAT;
    let bin = sample_bin(word, lane, b, range);
    if bin == NO_BIN {
        return 0x7FC00000u;
    }
    let v = lut[bin];
    if INVERT == 1u {
        return params.out_max - min(v, params.out_max);
    }
    return v;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let word_index = linear_index(gid, groups, 256u);
    let per_word = pixels_per_word(OUT_FORMAT);
    let first = word_index * per_word;
    if first >= params.count {
        return;
    }
    var range = vec2<f32>(0.0, 0.0);
    if IN_FORMAT == FMT_F32 {
        range = f32_range_halves(value_range[0], value_range[1], params.binning.bins);
    }
    // Input and output pack the same number of samples per word (u8 → u8, 16-bit → u16, f32 → f32),
    // so output word i is made from input word i.
    let word = input[word_index];
    var packed = 0u;
    for (var lane = 0u; lane < per_word; lane++) {
        if first + lane < params.count {
            packed |= pack_lane(mapped(word, lane, range), lane, OUT_FORMAT);
        }
    }
    output[word_index] = packed;
}
