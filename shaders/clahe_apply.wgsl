// CLAHE, stage 3: every pixel blends the LUTs of the four nearest tile centres, with OpenCV's
// coordinates (CLAHE_Interpolation_Body): tyf = y · (1/tile_h) − 0.5, ty1 = floor(tyf), ya = tyf − ty1,
// neighbours clamped to the grid; res = (l11·xa1 + l12·xa)·ya1 + (l21·xa1 + l22·xa)·ya in f32, rounded
// half to even and saturated; the value is shifted back when bins < 2^bits. One invocation per output
// word.

#import pixels
#import histogram

struct Params {
    binning: Binning,
    width: u32,
    height: u32,
    tiles_x: u32,
    tiles_y: u32,
    inv_tw: f32,      // 1.0f / tile width, f32 as OpenCV computes it
    inv_th: f32,
    out_format: u32,
    invert: u32,
    out_max: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read> lut: array<u32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

fn blended(x: u32, y: u32, word: u32, lane: u32) -> u32 {
    let bin = int_bin(domain_value(word, lane, params.binning.format), params.binning);
    let bins = params.binning.bins;

    let txf = f32(x) * params.inv_tw - 0.5;
    let tx1f = floor(txf);
    let xa = txf - tx1f;
    let xa1 = 1.0 - xa;
    let tx1 = u32(max(i32(tx1f), 0));
    let tx2 = u32(min(i32(tx1f) + 1, i32(params.tiles_x) - 1));

    let tyf = f32(y) * params.inv_th - 0.5;
    let ty1f = floor(tyf);
    let ya = tyf - ty1f;
    let ya1 = 1.0 - ya;
    let ty1 = u32(max(i32(ty1f), 0));
    let ty2 = u32(min(i32(ty1f) + 1, i32(params.tiles_y) - 1));

    let l11 = f32(lut[(ty1 * params.tiles_x + tx1) * bins + bin]);
    let l12 = f32(lut[(ty1 * params.tiles_x + tx2) * bins + bin]);
    let l21 = f32(lut[(ty2 * params.tiles_x + tx1) * bins + bin]);
    let l22 = f32(lut[(ty2 * params.tiles_x + tx2) * bins + bin]);
    let res = (l11 * xa1 + l12 * xa) * ya1 + (l21 * xa1 + l22 * xa) * ya;
    var v = u32(clamp(round(res), 0.0, f32(bins - 1u))) << params.binning.shift;
    if params.invert == 1u {
        v = params.out_max - min(v, params.out_max);
    }
    return v;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let word_index = linear_index(gid, groups, 256u);
    let per_word = pixels_per_word(params.out_format);
    let first = word_index * per_word;
    let count = params.width * params.height;
    if first >= count {
        return;
    }
    // Input and output pack alike (u8 → u8, 16-bit → u16): output word i comes from input word i.
    let word = input[word_index];
    var x = first % params.width;
    var y = first / params.width;
    var packed = 0u;
    for (var lane = 0u; lane < per_word; lane++) {
        if first + lane < count {
            packed |= pack_lane(blended(x, y, word, lane), lane, params.out_format);
        }
        x += 1u;
        if x == params.width {
            x = 0u;
            y += 1u;
        }
    }
    output[word_index] = packed;
}
