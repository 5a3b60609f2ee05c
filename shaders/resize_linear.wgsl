// Bilinear resize, separable: the host tabulates, per output column and per output row, the two source
// indices and their weights (src/ops/resize.rs), so the shader only gathers four samples and blends.
// One output word per invocation; its pixels share one row entry.
//
// Kinds (Params.kind, and the entry points exact, opencv, opencv_u8):
//   0 exact   half-pixel centres, src = (dst + ½)·src/dst − ½ clamped to the edges; two lerps in f32
//             (x then y), rounded to nearest (ties to even)
//   1 opencv  OpenCV resize INTER_LINEAR for 16-bit and f32 input: float weights w0 = 1 − f, w1 = f,
//             horizontal sums then a vertical sum, as resize.cpp's HResizeLinear/VResizeLinear
//   2 opencv8 OpenCV resize INTER_LINEAR for 8-bit input: 11-bit weights (INTER_RESIZE_COEF_BITS),
//             integer horizontal sums, and the vertical step of VResizeLinearVec_32s8u:
//             ((h0 >> 4)·b0 >> 16) + ((h1 >> 4)·b1 >> 16), + 2 >> 2, saturated
// Table entry (5 words, columns then rows): i0, i1, w0 (f32), w1 (f32; the lerp fraction for kind 0),
// (iw0 & 0xFFFF) | (iw1 << 16) for kind 2.

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
    row_table: u32,   // word offset of the row entries
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src_pixels: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

// A row's table entry, loaded once per output word (again only if the word wraps to the next row):
// the two source rows' first sample index, and the entry's weight words.
struct RowEntry {
    i0: u32,      // y0 · src_width
    i1: u32,      // y1 · src_width
    w0: u32,
    w1: u32,
    iw: u32,
}

fn row_entry(dy: u32) -> RowEntry {
    let r = params.row_table + dy * 5u;
    let y0 = table[r];
    let y1 = table[r + 1u];
    return RowEntry(y0 * params.src_width, y1 * params.src_width, table[r + 2u], table[r + 3u], table[r + 4u]);
}

// The four neighbours of output column c's entry in `row`: p00, p01 (row y0), p10, p11 (row y1);
// each row's two columns come with one load when they share a packed word.
fn neighbours(c: u32, row: RowEntry) -> vec4<f32> {
    let x0 = table[c];
    let x1 = table[c + 1u];
    return vec4<f32>(src_pair(row.i0 + x0, row.i0 + x1, IN_FORMAT), src_pair(row.i1 + x0, row.i1 + x1, IN_FORMAT));
}

fn value_exact(dx: u32, row: RowEntry) -> f32 {
    let c = dx * 5u;
    let p = neighbours(c, row);
    let fx = word_f32(table[c + 3u]);
    let fy = word_f32(row.w1);
    let h0 = p.x + fx * (p.y - p.x);
    let h1 = p.z + fx * (p.w - p.z);
    return h0 + fy * (h1 - h0);
}

fn value_opencv(dx: u32, row: RowEntry) -> f32 {
    let c = dx * 5u;
    let p = neighbours(c, row);
    let a0 = word_f32(table[c + 2u]);
    let a1 = word_f32(table[c + 3u]);
    let b0 = word_f32(row.w0);
    let b1 = word_f32(row.w1);
    let h0 = p.x * a0 + p.y * a1;
    let h1 = p.z * a0 + p.w * a1;
    return h0 * b0 + h1 * b1;
}

fn value_opencv_u8(dx: u32, row: RowEntry) -> f32 {
    let c = dx * 5u;
    let p = vec4<i32>(neighbours(c, row));
    let ia = table[c + 4u];
    let ib = row.iw;
    let a0 = i32(ia & 0xFFFFu);
    let a1 = i32(ia >> 16u);
    let b0 = i32(ib & 0xFFFFu);
    let b1 = i32(ib >> 16u);
    let h0 = p.x * a0 + p.y * a1;
    let h1 = p.z * a0 + p.w * a1;
    let t = ((h0 >> 4u) * b0 >> 16u) + ((h1 >> 4u) * b1 >> 16u);
    return f32(clamp((t + 2) >> 2u, 0, 255));
}

// One entry point per kind (a software rasteriser runs every branch of a switch, masked).

@compute @workgroup_size(256)
fn exact(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var row = row_entry(w.y);
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_exact(w.x, row), lane, OUT_FORMAT);
        let y = w.y;
        w = next_pixel(w, params.dst_width);
        if w.y != y && lane + 1u < w.lanes {
            row = row_entry(w.y);
        }
    }
    output[w.index] = packed;
}

@compute @workgroup_size(256)
fn opencv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var row = row_entry(w.y);
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_opencv(w.x, row), lane, OUT_FORMAT);
        let y = w.y;
        w = next_pixel(w, params.dst_width);
        if w.y != y && lane + 1u < w.lanes {
            row = row_entry(w.y);
        }
    }
    output[w.index] = packed;
}

@compute @workgroup_size(256)
fn opencv_u8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var row = row_entry(w.y);
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_opencv_u8(w.x, row), lane, OUT_FORMAT);
        let y = w.y;
        w = next_pixel(w, params.dst_width);
        if w.y != y && lane + 1u < w.lanes {
            row = row_entry(w.y);
        }
    }
    output[w.index] = packed;
}
