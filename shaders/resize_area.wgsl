// Area (box-filter) downscaling: every output pixel is the area-weighted mean of the source pixels its
// footprint covers. The host tabulates, per output column and per output row, a run of (source index,
// weight) entries (src/ops/resize.rs); the shader sums rows of horizontally weighted samples, in the
// order OpenCV's ResizeArea_Invoker uses. One output word per invocation.
//
// Kinds (Params.kind; entry points weighted_main, blocks_main):
//   0 weighted  sum over rows j of beta_j · (sum over columns i of alpha_i · S[j][i]), f32, rounded to
//               nearest (ties to even) for integer output
//   1 blocks    OpenCV resizeAreaFast for integer factors kx × ky: integer block sum, then
//               (sum + 2) >> 2 for 2×2 blocks of integer samples, else f32(sum) · f32(1/(kx·ky))
// Table: per column (first entry, count), per row (first entry, count), then column entries and row
// entries, each (source index, weight as f32).

#import pixels
#import resample

// Specialised per pipeline (src/ops/resize.rs sets them from the same plan as the uniform), so the
// format switches fold away at compile time.
override IN_FORMAT: u32 = 1u;   // the source's FMT_*
override OUT_FORMAT: u32 = 1u;  // the output's FMT_*

struct Params {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    in_format: u32,   // not read: IN_FORMAT
    out_format: u32,  // not read: OUT_FORMAT
    kind: u32,        // not read: one entry point per kind
    kx: u32,
    ky: u32,
    inv_area: f32,
    row_index: u32,     // word offset of the per-row (first, count) pairs
    col_entries: u32,   // word offset of the column entries
    row_entries: u32,   // word offset of the row entries
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src_pixels: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

fn weighted(dx: u32, dy: u32) -> f32 {
    let col_first = table[dx * 2u];
    let col_count = table[dx * 2u + 1u];
    let row_first = table[params.row_index + dy * 2u];
    let row_count = table[params.row_index + dy * 2u + 1u];
    var sum = 0.0;
    for (var j = 0u; j < row_count; j++) {
        let re = params.row_entries + (row_first + j) * 2u;
        let sy = table[re];
        let beta = word_f32(table[re + 1u]);
        var buf = 0.0;
        for (var i = 0u; i < col_count; i++) {
            let ce = params.col_entries + (col_first + i) * 2u;
            let sx = table[ce];
            let alpha = word_f32(table[ce + 1u]);
            buf = buf + src_sample(sy * params.src_width + sx, IN_FORMAT) * alpha;
        }
        sum = sum + buf * beta;
    }
    return sum;
}

fn blocks(dx: u32, dy: u32) -> f32 {
    let x0 = dx * params.kx;
    let y0 = dy * params.ky;
    if IN_FORMAT == FMT_F32 {
        var fsum = 0.0;
        for (var j = 0u; j < params.ky; j++) {
            for (var i = 0u; i < params.kx; i++) {
                fsum = fsum + src_sample((y0 + j) * params.src_width + x0 + i, IN_FORMAT);
            }
        }
        return fsum * params.inv_area;
    }
    // Integer samples two columns at a time (one load when they share a packed word); the sum is
    // exact in any order.
    var isum = 0;
    for (var j = 0u; j < params.ky; j++) {
        let row = (y0 + j) * params.src_width + x0;
        var i = 0u;
        for (; i + 1u < params.kx; i += 2u) {
            let v = src_pair(row + i, row + i + 1u, IN_FORMAT);
            isum = isum + i32(v.x) + i32(v.y);
        }
        if i < params.kx {
            isum = isum + i32(src_sample(row + i, IN_FORMAT));
        }
    }
    if params.kx == 2u && params.ky == 2u {
        return f32((isum + 2) >> 2u);
    }
    return f32(isum) * params.inv_area;
}

// One entry point per kind (a software rasteriser runs every branch of a switch, masked).

@compute @workgroup_size(256)
fn weighted_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(weighted(w.x, w.y), lane, OUT_FORMAT);
        w = next_pixel(w, params.dst_width);
    }
    output[w.index] = packed;
}

@compute @workgroup_size(256)
fn blocks_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(blocks(w.x, w.y), lane, OUT_FORMAT);
        w = next_pixel(w, params.dst_width);
    }
    output[w.index] = packed;
}
