// The stitched f32 canvas to packed output samples (src/stitch/blend/mod.rs): rounded to nearest (ties to
// even) and clamped to the format's range, as every resampling stage writes them. One output word per
// invocation.

#import pixels
#import resample

struct Params {
    width: u32,
    height: u32,
    out_format: u32,
    _p0: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src_pixels: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(256)
fn pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    var w = out_word(gid, groups, params.width, params.height, params.out_format);
    if w.lanes == 0u {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < w.lanes; lane++) {
        let v = bitcast<f32>(src_pixels[w.y * params.width + w.x]);
        packed |= lane_bits(v, lane, params.out_format);
        w = next_pixel(w, params.width);
    }
    output[w.index] = packed;
}
