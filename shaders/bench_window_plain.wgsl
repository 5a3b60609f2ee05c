// The plainest window/level pass, for `radpipe bench` only: u16 in, u8 out, four pixels per invocation
// (two input words → one output word), y = round(clamp((x·slope + intercept − lo)·k, 0, 255)). No
// modality tables, VOI functions, inversion or format switches: it is the reference point for what the
// adapter does on the simplest pass, which the real ops are compared with in the same run.

struct PlainParams {
    words: u32,       // output words (pixels / 4)
    slope: f32,
    intercept: f32,
    lo: f32,
    k: f32,           // 255 / width
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: PlainParams;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read_write> output: array<u32>;

fn shade(v: u32) -> u32 {
    let x = f32(v) * params.slope + params.intercept;
    return u32(clamp(floor((x - params.lo) * params.k + 0.5), 0.0, 255.0));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * 256u;
    if i >= params.words {
        return;
    }
    let a = input[2u * i];
    let b = input[2u * i + 1u];
    output[i] = shade(a & 0xFFFFu) | (shade(a >> 16u) << 8u) | (shade(b & 0xFFFFu) << 16u)
        | (shade(b >> 16u) << 24u);
}
