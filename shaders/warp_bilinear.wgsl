// Bilinear warp, affine or perspective, one output word (4 u8, 2 u16/i16 or 1 f32 pixel) per invocation.
//
// The destination → source mapping is not evaluated from the matrix here: the host tabulates its
// per-column and per-row parts (x·m00 and y·m01 + m02, ...) in f64 and uploads them, so a pixel's source
// coordinate is one addition of two table entries. That keeps the GPU and the CPU reference
// (src/ops/warp.rs) on identical coordinates, whatever a driver does with fused multiply-adds.
//
// Modes (Params.mode) and their entry points:
//   0 exact_affine       f32 coordinates, floor + fraction, two lerps (x then y) in f32
//   1 exact_perspective  as 0 with X/W, Y/W; W = 0 or a coordinate beyond ±2^24 px counts as far outside
//   2 opencv_affine      OpenCV warpAffine INTER_LINEAR: coordinates in 1/32 px from integer tables
//                        (AB_BITS = 10, INTER_BITS = 5), then remap's fixed-point (8-bit input) or
//                        float (16-bit, f32 input) bilinear weights
//   3 opencv_perspective OpenCV warpPerspective INTER_LINEAR: round(32·X/W) decided exactly with 64-bit
//                        fixed-point integers (see round_quotient); W = 0 and coordinates beyond
//                        ±2^15 px are far outside (OpenCV saturates them to its short coordinates)
// Constant border: samples outside the source take the border value (already converted to the input's
// format); a 2×2 neighbourhood entirely outside gives the border value itself.

#import pixels
#import resample

// Specialised per pipeline (src/ops/warp.rs sets them from the same plan as the uniform), so the
// format and border switches fold away at compile time.
override IN_FORMAT: u32 = 1u;   // the source's FMT_*
override OUT_FORMAT: u32 = 1u;  // the output's FMT_*
override BORDER: u32 = 0u;      // BORDER_CONSTANT, BORDER_REPLICATE or BORDER_REFLECT101

struct Params {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    in_format: u32,   // not read: IN_FORMAT
    out_format: u32,  // not read: OUT_FORMAT
    mode: u32,        // not read: one entry point per mode
    border: u32,      // not read: BORDER
    border_value: f32,
    row_table: u32,   // word offset of the per-row entries
    col_stride: u32,  // words per column entry
    row_stride: u32,  // words per row entry
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src_pixels: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> output: array<u32>;

const FAR: f32 = 16777216.0;       // 2^24 px: coordinates are clamped to ±FAR
const FAR_BINS: f32 = 1048576.0;   // 2^20 (1/32 px): beyond this OpenCV's short coordinates saturate

// The 2×2 block at (ix, iy) as (p00, p01, p10, p11), border rules applied per row and column index.
fn block(ix: i32, iy: i32) -> vec4<f32> {
    let x0 = border_index(ix, i32(params.src_width), BORDER);
    let x1 = border_index(ix + 1, i32(params.src_width), BORDER);
    let y0 = border_index(iy, i32(params.src_height), BORDER);
    let y1 = border_index(iy + 1, i32(params.src_height), BORDER);
    return vec4<f32>(row_pair(x0, x1, y0), row_pair(x0, x1, y1));
}

// Source samples (x0, y) and (x1, y), each the border value when its index is -1 (constant border);
// one load when both lie in the same packed word.
fn row_pair(x0: i32, x1: i32, y: i32) -> vec2<f32> {
    let row = u32(max(y, 0)) * params.src_width;
    let v = src_pair(row + u32(max(x0, 0)), row + u32(max(x1, 0)), IN_FORMAT);
    return vec2<f32>(
        select(v.x, params.border_value, x0 < 0 || y < 0),
        select(v.y, params.border_value, x1 < 0 || y < 0),
    );
}

// True when a constant border applies and the 2×2 block at (ix, iy) lies entirely outside.
fn block_outside(ix: i32, iy: i32) -> bool {
    let w = i32(params.src_width);
    let h = i32(params.src_height);
    return BORDER == BORDER_CONSTANT && (ix >= w || ix + 1 < 0 || iy >= h || iy + 1 < 0);
}

fn sample_exact(s: vec2<f32>) -> f32 {
    let fl = floor(s);
    let ix = i32(fl.x);
    let iy = i32(fl.y);
    if block_outside(ix, iy) {
        return params.border_value;
    }
    let fx = s.x - fl.x;
    let fy = s.y - fl.y;
    let p = block(ix, iy);
    let v0 = p.x + fx * (p.y - p.x);
    let v1 = p.z + fx * (p.w - p.z);
    return v0 + fy * (v1 - v0);
}

// OpenCV remap INTER_LINEAR from coordinates in 1/32 px.
fn sample_fixed(qx: i32, qy: i32) -> f32 {
    let ix = clamp(qx >> 5u, -32768, 32767);
    let iy = clamp(qy >> 5u, -32768, 32767);
    if block_outside(ix, iy) {
        return params.border_value;
    }
    let ax = qx & 31;
    let ay = qy & 31;
    let p = block(ix, iy);
    if IN_FORMAT == FMT_U8 {
        // 15-bit weights (INTER_REMAP_COEF_BITS) are the 10-bit products below times 32.
        let q = vec4<i32>(p);
        let s = (32 - ax) * (32 - ay) * q.x + ax * (32 - ay) * q.y + (32 - ax) * ay * q.z + ax * ay * q.w;
        return f32((s + 512) >> 10u);
    }
    let fx = f32(ax) * 0.03125;
    let fy = f32(ay) * 0.03125;
    let w00 = (1.0 - fy) * (1.0 - fx);
    let w01 = (1.0 - fy) * fx;
    let w10 = fy * (1.0 - fx);
    let w11 = fy * fx;
    var sum = p.x * w00 + p.y * w01;
    sum = sum + p.z * w10;
    return sum + p.w * w11;
}

// ---- 64-bit integers as vec2<u32>(low, high), two's complement, arithmetic modulo 2^64 ----

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn sub64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

// Full 64-bit product of two u32.
fn mul32(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xFFFFu;
    let a1 = a >> 16u;
    let b0 = b & 0xFFFFu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
    return vec2<u32>((p00 & 0xFFFFu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

// a · m modulo 2^64 for a signed 32-bit m.
fn mul64_i32(a: vec2<u32>, m: i32) -> vec2<u32> {
    let mlo = bitcast<u32>(m);
    let mhi = select(0u, 0xFFFFFFFFu, m < 0);
    let p = mul32(a.x, mlo);
    return vec2<u32>(p.x, p.y + a.x * mhi + a.y * mlo);
}

fn sign64(a: vec2<u32>) -> i32 {
    if bitcast<i32>(a.y) < 0 {
        return -1;
    }
    return select(1, 0, a.x == 0u && a.y == 0u);
}

fn shl6_64(a: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x << 6u, (a.y << 6u) | (a.x >> 26u));
}

// round(32·X/W), ties to even, with X and W fixed-point integers: start from the f32 estimate `q` and
// step until c − ½ ≤ 32·X/W ≤ c + ½, each test the exact sign of 64·X − (2c ± 1)·W.
fn round_quotient(xf: vec2<u32>, wf: vec2<u32>, q: f32) -> i32 {
    var c = i32(round(q));
    let x64 = shl6_64(xf);
    let ws = select(1, -1, bitcast<i32>(wf.y) < 0);
    for (var step = 0; step < 4; step++) {
        let above = sign64(sub64(x64, mul64_i32(wf, 2 * c + 1))) * ws;
        if above > 0 {
            c += 1;
            continue;
        }
        let below = sign64(sub64(x64, mul64_i32(wf, 2 * c - 1))) * ws;
        if below < 0 {
            c -= 1;
            continue;
        }
        if (above == 0 && (c & 1) != 0) {
            c += 1;
        } else if (below == 0 && (c & 1) != 0) {
            c -= 1;
        }
        break;
    }
    return c;
}

fn table_pair(at: u32) -> vec2<u32> {
    return vec2<u32>(table[at], table[at + 1u]);
}

// The two words of row y's table entry (affine modes): shared by every pixel of an output word in
// that row, so an entry point loads them once per word (again only if the word wraps to the next row).
fn row_entry(y: u32) -> vec2<u32> {
    let r = params.row_table + y * params.row_stride;
    return vec2<u32>(table[r], table[r + 1u]);
}

fn value_exact_affine(x: u32, row: vec2<u32>) -> f32 {
    let c = x * params.col_stride;
    let sx = word_f32(table[c]) + word_f32(row.x);
    let sy = word_f32(table[c + 1u]) + word_f32(row.y);
    return sample_exact(clamp(vec2<f32>(sx, sy), vec2<f32>(-FAR), vec2<f32>(FAR)));
}

fn value_exact_perspective(x: u32, y: u32) -> f32 {
    let c = x * params.col_stride;
    let r = params.row_table + y * params.row_stride;
    let px = word_f32(table[c]) + word_f32(table[r]);
    let py = word_f32(table[c + 1u]) + word_f32(table[r + 1u]);
    let pw = word_f32(table[c + 2u]) + word_f32(table[r + 2u]);
    let lim = FAR * abs(pw);
    if !(abs(px) < lim && abs(py) < lim) {
        return sample_exact(vec2<f32>(-FAR, -FAR));
    }
    return sample_exact(vec2<f32>(px / pw, py / pw));
}

fn value_opencv_affine(x: u32, row: vec2<u32>) -> f32 {
    let c = x * params.col_stride;
    let qx = (word_i32(row.x) + word_i32(table[c])) >> 5u;
    let qy = (word_i32(row.y) + word_i32(table[c + 1u])) >> 5u;
    return sample_fixed(qx, qy);
}

fn value_opencv_perspective(x: u32, y: u32) -> f32 {
    let c = x * params.col_stride;
    let r = params.row_table + y * params.row_stride;
    // Column entry: AX, AY, AW as 64-bit fixed point (6 words), then their f32 values (3).
    let xf = add64(table_pair(c), table_pair(r));
    let yf = add64(table_pair(c + 2u), table_pair(r + 2u));
    let wf = add64(table_pair(c + 4u), table_pair(r + 4u));
    let px = word_f32(table[c + 6u]) + word_f32(table[r + 6u]);
    let py = word_f32(table[c + 7u]) + word_f32(table[r + 7u]);
    let pw = word_f32(table[c + 8u]) + word_f32(table[r + 8u]);
    // W = 0 (a point on the horizon) and coordinates beyond ±2^15 px count as far outside.
    let zero_w = wf.x == 0u && wf.y == 0u;
    let lim = FAR_BINS * abs(pw);
    let far_x = zero_w || !(abs(32.0 * px) < lim);
    let far_y = zero_w || !(abs(32.0 * py) < lim);
    var qx: i32;
    var qy: i32;
    if far_x {
        qx = select(-1048576, 1048576, (px >= 0.0) == (pw >= 0.0));
    } else {
        qx = round_quotient(xf, wf, 32.0 * px / pw);
    }
    if far_y {
        qy = select(-1048576, 1048576, (py >= 0.0) == (pw >= 0.0));
    } else {
        qy = round_quotient(yf, wf, 32.0 * py / pw);
    }
    return sample_fixed(qx, qy);
}

// One entry point per mode, so each pipeline holds only its own path (a software rasteriser runs
// every branch of a switch, masked).

@compute @workgroup_size(256)
fn exact_affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var row = row_entry(w.y);
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_exact_affine(w.x, row), lane, OUT_FORMAT);
        let y = w.y;
        w = next_pixel(w, params.dst_width);
        if w.y != y && lane + 1u < w.lanes {
            row = row_entry(w.y);
        }
    }
    output[w.index] = packed;
}

@compute @workgroup_size(256)
fn exact_perspective(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_exact_perspective(w.x, w.y), lane, OUT_FORMAT);
        w = next_pixel(w, params.dst_width);
    }
    output[w.index] = packed;
}

@compute @workgroup_size(256)
fn opencv_affine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var row = row_entry(w.y);
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_opencv_affine(w.x, row), lane, OUT_FORMAT);
        let y = w.y;
        w = next_pixel(w, params.dst_width);
        if w.y != y && lane + 1u < w.lanes {
            row = row_entry(w.y);
        }
    }
    output[w.index] = packed;
}

@compute @workgroup_size(256)
fn opencv_perspective(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.dst_width, params.dst_height, OUT_FORMAT);
    if w.lanes == 0u {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        packed |= lane_bits(value_opencv_perspective(w.x, w.y), lane, OUT_FORMAT);
        w = next_pixel(w, params.dst_width);
    }
    output[w.index] = packed;
}
