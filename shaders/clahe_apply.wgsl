// CLAHE, stage 3: every pixel blends the LUTs of the four nearest tile centres, with OpenCV's
// coordinates (CLAHE_Interpolation_Body): tyf = y · (1/tile_h) − 0.5, ty1 = floor(tyf), ya = tyf − ty1,
// neighbours clamped to the grid; res = (l11·xa1 + l12·xa)·ya1 + (l21·xa1 + l22·xa)·ya in f32, rounded
// half to even and saturated; the value is shifted back when bins < 2^bits. One invocation per output
// word; the formats and inversion are pipeline constants (src/ops/clahe.rs), so their switches fold
// away, a word's row terms are computed once (again only if the word wraps to the next row), and the
// four LUT values come in two loads from a table of horizontal pairs (entry point `pairs`).

#import pixels
#import histogram

override IN_FORMAT: u32 = 1u;   // the samples' FMT_* (U8, U16 or I16)
override OUT_FORMAT: u32 = 1u;  // FMT_U8 or FMT_U16, packing like the input
override INVERT: u32 = 0u;      // 1 → out_max − v (MONOCHROME1)

struct Params {
    binning: Binning,
    width: u32,
    height: u32,
    tiles_x: u32,
    tiles_y: u32,
    inv_tw: f32,      // 1.0f / tile width, f32 as OpenCV computes it
    inv_th: f32,
    out_max: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read> lut: array<u32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

// A row's share of the blend: where its two tile rows start in the pair table, and the weight of the
// second.
struct RowTerms {
    base1: u32,   // ty1 · (tiles_x + 1) · bins
    base2: u32,   // ty2 · (tiles_x + 1) · bins
    ya: f32,
}

fn row_terms(y: u32) -> RowTerms {
    let tyf = f32(y) * params.inv_th - 0.5;
    let ty1f = floor(tyf);
    let ty1 = u32(max(i32(ty1f), 0));
    let ty2 = u32(min(i32(ty1f) + 1, i32(params.tiles_y) - 1));
    let row = (params.tiles_x + 1u) * params.binning.bins;
    return RowTerms(ty1 * row, ty2 * row, tyf - ty1f);
}

// `lut` here is the pair table built by `pairs`: entry (ty, t, bin) holds the LUT values of tiles
// tx1 = max(t − 1, 0) (low half) and tx2 = min(t, tiles_x − 1) (high half) of tile row ty, t =
// floor(txf) + 1 — a pixel's two horizontal neighbours in one load (LUT values are below 2^16).
fn blended(x: u32, r: RowTerms, word: u32, lane: u32) -> u32 {
    let bin = int_bin(domain_value(word, lane, IN_FORMAT), params.binning);
    let bins = params.binning.bins;

    let txf = f32(x) * params.inv_tw - 0.5;
    let tx1f = floor(txf);
    let xa = txf - tx1f;
    let xa1 = 1.0 - xa;
    let c = u32(clamp(i32(tx1f) + 1, 0, i32(params.tiles_x))) * bins + bin;

    let top = lut[r.base1 + c];
    let bottom = lut[r.base2 + c];
    let l11 = f32(top & 0xFFFFu);
    let l12 = f32(top >> 16u);
    let l21 = f32(bottom & 0xFFFFu);
    let l22 = f32(bottom >> 16u);
    let res = (l11 * xa1 + l12 * xa) * (1.0 - r.ya) + (l21 * xa1 + l22 * xa) * r.ya;
    var v = u32(clamp(round(res), 0.0, f32(bins - 1u))) << params.binning.shift;
    if INVERT == 1u {
        v = params.out_max - min(v, params.out_max);
    }
    return v;
}

// Builds the pair table from the tile LUTs (bound as `input`; the pairs are written to `output`):
// one invocation per entry (ty, t, bin), t in 0..=tiles_x.
@compute @workgroup_size(256)
fn pairs(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let e = linear_index(gid, groups, 256u);
    let bins = params.binning.bins;
    let per_row = (params.tiles_x + 1u) * bins;
    if e >= params.tiles_y * per_row {
        return;
    }
    let ty = e / per_row;
    let t = (e % per_row) / bins;
    let bin = e % bins;
    let row = ty * params.tiles_x;
    let tx1 = max(t, 1u) - 1u;
    let tx2 = min(t, params.tiles_x - 1u);
    output[e] = input[(row + tx1) * bins + bin] | (input[(row + tx2) * bins + bin] << 16u);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let word_index = linear_index(gid, groups, 256u);
    let per_word = pixels_per_word(OUT_FORMAT);
    let first = word_index * per_word;
    let count = params.width * params.height;
    if first >= count {
        return;
    }
    // Input and output pack alike (u8 → u8, 16-bit → u16): output word i comes from input word i.
    let word = input[word_index];
    var x = first % params.width;
    var y = first / params.width;
    var rows = row_terms(y);
    var packed = 0u;
    for (var lane = 0u; lane < per_word; lane++) {
        if first + lane < count {
            packed |= pack_lane(blended(x, rows, word, lane), lane, OUT_FORMAT);
        }
        x += 1u;
        if x == params.width {
            x = 0u;
            y += 1u;
            rows = row_terms(y);
        }
    }
    output[word_index] = packed;
}
