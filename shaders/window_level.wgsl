// Modality LUT + VOI window (DICOM PS3.3 C.11.1, C.11.2) in one pass: stored samples in any packed
// format → display values in [0, out_max], rounded to nearest, packed as u8 or u16.
// One invocation writes one output word (4 u8 or 2 u16 pixels), loading each input word it needs once.

#import pixels
#import voi

override IN_FORMAT: u32 = 1u;   // PixelFormat::shader_code of the input
override OUT_FORMAT: u32 = 0u;  // FMT_U8 or FMT_U16

@group(0) @binding(0) var<uniform> params: WindowParams;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read> luts: array<f32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

fn lut_value(i: u32) -> f32 {
    return luts[i];
}

fn display_value(word: u32, lane: u32) -> u32 {
    let stored = unpack_sample(word, lane, IN_FORMAT);
    return round_display(display_from_modality(modality_value(stored, params), params), params);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let word_index = linear_index(gid, groups, 256u);
    let per_word = pixels_per_word(OUT_FORMAT);
    let first = word_index * per_word;
    if first >= params.count {
        return;
    }
    // Each input word is loaded once, though an output word may take several pixels from it
    // (u16 → u8: two input words for four pixels).
    let in_per_word = pixels_per_word(IN_FORMAT);
    var loaded = 0xFFFFFFFFu;
    var word = 0u;
    var packed = 0u;
    for (var lane = 0u; lane < per_word; lane++) {
        let index = first + lane;
        if index < params.count {
            let at = index / in_per_word;
            if at != loaded {
                word = input[at];
                loaded = at;
            }
            packed |= pack_lane(display_value(word, index % in_per_word), lane, OUT_FORMAT);
        }
    }
    output[word_index] = packed;
}
