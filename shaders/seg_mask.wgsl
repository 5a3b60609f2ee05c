// Segmentation mask: the network's foreground margin (logit of class 1 minus the largest other logit,
// f32 at the network size) → bilinear resize to the image size (align_corners=False, as PaddleSeg
// resizes logits back) → 255 where the margin is > 0 (argmax picks the foreground; a tie goes to the
// background, as argmax returns the first maximum), else 0; packed four u8 per word.
// One invocation per output word.

#import pixels

struct MaskParams {
    src_width: u32,
    src_height: u32,
    dst_width: u32,
    dst_height: u32,
    src_offset: u32,
    count: u32,
    scale_x: f32,
    scale_y: f32,
}

@group(0) @binding(0) var<uniform> params: MaskParams;
@group(0) @binding(1) var<storage, read> margin: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<u32>;

fn at(x: u32, y: u32) -> f32 {
    return margin[params.src_offset + y * params.src_width + x];
}

fn axis(d: u32, scale: f32, size: u32) -> vec3<f32> {
    let last = f32(size - 1u);
    let s = clamp((f32(d) + 0.5) * scale - 0.5, 0.0, last);
    let i0 = floor(s);
    let i1 = min(i0 + 1.0, last);
    return vec3<f32>(i0, i1, s - i0);
}

fn foreground(index: u32) -> u32 {
    let dx = index % params.dst_width;
    let dy = index / params.dst_width;
    let ax = axis(dx, params.scale_x, params.src_width);
    let ay = axis(dy, params.scale_y, params.src_height);
    let x0 = u32(ax.x);
    let x1 = u32(ax.y);
    let y0 = u32(ay.x);
    let y1 = u32(ay.y);
    let top = (1.0 - ax.z) * at(x0, y0) + ax.z * at(x1, y0);
    let bottom = (1.0 - ax.z) * at(x0, y1) + ax.z * at(x1, y1);
    let v = (1.0 - ay.z) * top + ay.z * bottom;
    return select(0u, 255u, v > 0.0);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let word_index = linear_index(gid, groups, 256u);
    let first = word_index * 4u;
    if first >= params.count {
        return;
    }
    var packed = 0u;
    for (var lane = 0u; lane < 4u; lane++) {
        let index = first + lane;
        if index < params.count {
            packed |= pack_lane(foreground(index), lane, FMT_U8);
        }
    }
    output[word_index] = packed;
}
