// Segmentation preprocessing in one pass: a display image (any packed format, values 0..255) →
// bilinear resize to the network size (half-pixel centres, align_corners=False: src = (dst + ½)·scale − ½,
// clamped to the edge pixels, as cv2.resize INTER_LINEAR and paddle/PyTorch interpolate do) →
// normalise (v · gain + bias, i.e. (v/255 − mean)/std) → `channels` equal planes of f32, NCHW, written
// at `dst_offset` into a batch buffer that is then copied into burn's input tensor.
// One invocation per output pixel.

#import pixels

struct PreprocessParams {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    in_format: u32,
    channels: u32,
    dst_offset: u32,
    _pad: u32,
    scale_x: f32,
    scale_y: f32,
    gain: f32,
    bias: f32,
}

@group(0) @binding(0) var<uniform> params: PreprocessParams;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;

fn sample(x: u32, y: u32) -> f32 {
    let index = y * params.src_width + x;
    let ppw = pixels_per_word(params.in_format);
    return unpack_sample(input[index / ppw], index % ppw, params.in_format);
}

// Source index pair and weight along one axis.
fn axis(d: u32, scale: f32, size: u32) -> vec3<f32> {
    let last = f32(size - 1u);
    let s = clamp((f32(d) + 0.5) * scale - 0.5, 0.0, last);
    let i0 = floor(s);
    let i1 = min(i0 + 1.0, last);
    return vec3<f32>(i0, i1, s - i0);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = linear_index(gid, groups, 256u);
    let plane = params.dst_width * params.dst_height;
    if index >= plane {
        return;
    }
    let dx = index % params.dst_width;
    let dy = index / params.dst_width;
    let ax = axis(dx, params.scale_x, params.src_width);
    let ay = axis(dy, params.scale_y, params.src_height);
    let x0 = u32(ax.x);
    let x1 = u32(ax.y);
    let y0 = u32(ay.x);
    let y1 = u32(ay.y);
    let top = (1.0 - ax.z) * sample(x0, y0) + ax.z * sample(x1, y0);
    let bottom = (1.0 - ax.z) * sample(x0, y1) + ax.z * sample(x1, y1);
    let v = (1.0 - ay.z) * top + ay.z * bottom;
    let normalised = v * params.gain + params.bias;
    for (var c = 0u; c < params.channels; c++) {
        output[params.dst_offset + c * plane + index] = normalised;
    }
}
