// Bilinear resize, separable: the host tabulates, per output column and per output row, the two source
// indices and their weights (src/ops/resize.rs), so the shader only gathers four samples and blends.
// One output word per invocation.
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

struct Params {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    in_format: u32,
    out_format: u32,
    kind: u32,
    row_table: u32,   // word offset of the row entries
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src_pixels: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

fn sample(x: u32, y: u32) -> f32 {
    return src_sample(y * params.src_width + x, params.in_format);
}

// The four neighbours of output pixel (dx, dy): p00, p01 (row y0), p10, p11 (row y1).
fn neighbours(c: u32, r: u32) -> vec4<f32> {
    let x0 = table[c];
    let x1 = table[c + 1u];
    let y0 = table[r];
    let y1 = table[r + 1u];
    return vec4<f32>(sample(x0, y0), sample(x1, y0), sample(x0, y1), sample(x1, y1));
}

fn value_exact(dx: u32, dy: u32) -> f32 {
    let c = dx * 5u;
    let r = params.row_table + dy * 5u;
    let p = neighbours(c, r);
    let fx = word_f32(table[c + 3u]);
    let fy = word_f32(table[r + 3u]);
    let h0 = p.x + fx * (p.y - p.x);
    let h1 = p.z + fx * (p.w - p.z);
    return h0 + fy * (h1 - h0);
}

fn value_opencv(dx: u32, dy: u32) -> f32 {
    let c = dx * 5u;
    let r = params.row_table + dy * 5u;
    let p = neighbours(c, r);
    let a0 = word_f32(table[c + 2u]);
    let a1 = word_f32(table[c + 3u]);
    let b0 = word_f32(table[r + 2u]);
    let b1 = word_f32(table[r + 3u]);
    let h0 = p.x * a0 + p.y * a1;
    let h1 = p.z * a0 + p.w * a1;
    return h0 * b0 + h1 * b1;
}

fn value_opencv_u8(dx: u32, dy: u32) -> f32 {
    let c = dx * 5u;
    let r = params.row_table + dy * 5u;
    let p = vec4<i32>(neighbours(c, r));
    let ia = table[c + 4u];
    let ib = table[r + 4u];
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
    var w = out_word(gid, groups, params.dst_width, params.dst_height, params.out_format);
    if w.lanes == 0u {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_exact(w.x, w.y), lane, params.out_format);
        w = next_pixel(w, params.dst_width);
    }
    output[w.index] = packed;
}

@compute @workgroup_size(256)
fn opencv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, params.out_format);
    if w.lanes == 0u {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_opencv(w.x, w.y), lane, params.out_format);
        w = next_pixel(w, params.dst_width);
    }
    output[w.index] = packed;
}

@compute @workgroup_size(256)
fn opencv_u8(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, params.out_format);
    if w.lanes == 0u {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_opencv_u8(w.x, w.y), lane, params.out_format);
        w = next_pixel(w, params.dst_width);
    }
    output[w.index] = packed;
}
