// Exposure compensation, applied (src/stitch/compensate/mod.rs): one station's packed samples become f32
// in the stitch atlas, multiplied by a gain interpolated bilinearly between block centres (a 1×1 grid
// is one gain for the whole station), or mapped through a lookup table (histogram compensation).
// One invocation per pixel. Kept separate from blending so the registration (gain 1) and the blend
// (compensated) read the same atlas layout.

#import pixels
#import resample

struct Params {
    width: u32,
    height: u32,
    in_format: u32,
    dst_offset: u32,  // first word of this station in the atlas
    blocks_x: u32,
    blocks_y: u32,
    lut_offset: i32,  // added to the sample before the table lookup (32768 for i16)
    lut_len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src_pixels: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> atlas: array<f32>;

// The gain at pixel (x, y): block centres sit at ((i + ½)·w/blocks_x − ½, …); clamped at the edges.
fn gain_at(x: u32, y: u32) -> f32 {
    let bx = params.blocks_x;
    let by = params.blocks_y;
    let fx = clamp((f32(x) + 0.5) * f32(bx) / f32(params.width) - 0.5, 0.0, f32(bx - 1u));
    let fy = clamp((f32(y) + 0.5) * f32(by) / f32(params.height) - 0.5, 0.0, f32(by - 1u));
    let x0 = min(u32(floor(fx)), bx - 1u);
    let y0 = min(u32(floor(fy)), by - 1u);
    let x1 = min(x0 + 1u, bx - 1u);
    let y1 = min(y0 + 1u, by - 1u);
    let tx = fx - f32(x0);
    let ty = fy - f32(y0);
    let top = table[y0 * bx + x0] + tx * (table[y0 * bx + x1] - table[y0 * bx + x0]);
    let bottom = table[y1 * bx + x0] + tx * (table[y1 * bx + x1] - table[y1 * bx + x0]);
    return top + ty * (bottom - top);
}

@compute @workgroup_size(256)
fn gain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups, 256u);
    if i >= params.width * params.height {
        return;
    }
    let x = i % params.width;
    let y = i / params.width;
    atlas[params.dst_offset + i] = src_sample(i, params.in_format) * gain_at(x, y);
}

@compute @workgroup_size(256)
fn lut(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups, 256u);
    if i >= params.width * params.height {
        return;
    }
    let v = i32(src_sample(i, params.in_format)) + params.lut_offset;
    let k = u32(clamp(v, 0, i32(params.lut_len) - 1));
    atlas[params.dst_offset + i] = table[k];
}
