// Modality LUT + VOI window (DICOM PS3.3 C.11.1, C.11.2) in one pass: stored samples in any packed
// format → display values in [0, out_max], rounded to nearest, packed as u8 or u16.
// One invocation writes one output word (4 u8 or 2 u16 pixels).

#import pixels

struct Params {
    count: u32,          // pixels
    in_format: u32,
    out_format: u32,     // FMT_U8 or FMT_U16
    invert: u32,         // 1: MONOCHROME1, y = out_max - y
    modality_kind: u32,  // 0: rescale, 1: table at luts[0 .. mlut_len]
    mlut_first: i32,
    mlut_len: u32,
    voi_kind: u32,       // 0: LINEAR, 1: LINEAR_EXACT (both: y = (x - lo) * k on (lo, hi]), 2: SIGMOID, 3: table
    slope: f32,
    intercept: f32,
    lo: f32,             // linear: lower edge; sigmoid: centre
    hi: f32,             // linear: upper edge
    k: f32,              // linear: out_max / span; sigmoid: -4 / width
    vlut_first: i32,
    vlut_len: u32,       // VOI table at luts[mlut_len .. mlut_len + vlut_len]
    vlut_scale: f32,     // out_max / (2^lut_bits - 1)
    out_max: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read> luts: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

fn table_lookup(x: f32, first: i32, len: u32, offset: u32) -> f32 {
    let index = clamp(i32(floor(x)) - first, 0, i32(len) - 1);
    return luts[offset + u32(index)];
}

fn modality(stored: f32) -> f32 {
    if params.modality_kind == 1u {
        return table_lookup(stored, params.mlut_first, params.mlut_len, 0u);
    }
    return stored * params.slope + params.intercept;
}

fn voi(x: f32) -> f32 {
    switch params.voi_kind {
        case 0u, 1u: {
            if x <= params.lo { return 0.0; }
            if x > params.hi { return params.out_max; }
            return (x - params.lo) * params.k;
        }
        case 2u: {
            return params.out_max / (1.0 + exp(params.k * (x - params.lo)));
        }
        default: {
            return table_lookup(x, params.vlut_first, params.vlut_len, params.mlut_len) * params.vlut_scale;
        }
    }
}

fn display_value(index: u32) -> u32 {
    let ppw = pixels_per_word(params.in_format);
    let word = input[index / ppw];
    let stored = unpack_sample(word, index % ppw, params.in_format);
    var y = voi(modality(stored));
    if params.invert == 1u {
        y = params.out_max - y;
    }
    return u32(clamp(floor(y + 0.5), 0.0, params.out_max));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let word_index = linear_index(gid, groups, 256u);
    let per_word = pixels_per_word(params.out_format);
    let first = word_index * per_word;
    if first >= params.count {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < per_word; lane++) {
        let index = first + lane;
        if index < params.count {
            packed |= pack_lane(display_value(index), lane, params.out_format);
        }
    }
    output[word_index] = packed;
}
