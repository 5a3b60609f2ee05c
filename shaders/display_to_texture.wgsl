// Render-loop output stage: pan/zoom a resident image of stored values into the host's rgba8unorm
// storage texture, with the DICOM display pipeline applied per texel (bilinear on modality values,
// then the VOI window, rounded to 8 bits). Texels outside the image get the background value.

#import pixels
#import voi

override IN_FORMAT: u32 = 1u;   // PixelFormat::shader_code of the input

struct ViewParams {
    src_width: u32,
    src_height: u32,
    tex_width: u32,
    tex_height: u32,
    origin_x: f32,     // source coordinate (pixel centres at integers) of texel (0, 0)'s centre
    origin_y: f32,
    step: f32,         // source pixels per texel
    background: f32,   // display value in [0, out_max] outside the image
}

@group(0) @binding(0) var<uniform> window: WindowParams;
@group(0) @binding(1) var<uniform> view: ViewParams;
@group(0) @binding(2) var<storage, read> input: array<u32>;
@group(0) @binding(3) var<storage, read> luts: array<f32>;
@group(0) @binding(4) var screen: texture_storage_2d<rgba8unorm, write>;

fn lut_value(i: u32) -> f32 {
    return luts[i];
}

fn modality_at(x: u32, y: u32) -> f32 {
    let index = y * view.src_width + x;
    let ppw = pixels_per_word(IN_FORMAT);
    let stored = unpack_sample(input[index / ppw], index % ppw, IN_FORMAT);
    return modality_value(stored, window);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= view.tex_width || gid.y >= view.tex_height {
        return;
    }
    let sx = view.origin_x + f32(gid.x) * view.step;
    let sy = view.origin_y + f32(gid.y) * view.step;
    let w = f32(view.src_width);
    let h = f32(view.src_height);
    var y = view.background;
    if sx >= -0.5 && sy >= -0.5 && sx < w - 0.5 && sy < h - 0.5 {
        let fx = clamp(sx, 0.0, w - 1.0);
        let fy = clamp(sy, 0.0, h - 1.0);
        let x0 = u32(floor(fx));
        let y0 = u32(floor(fy));
        let x1 = min(x0 + 1u, view.src_width - 1u);
        let y1 = min(y0 + 1u, view.src_height - 1u);
        let ax = fx - floor(fx);
        let ay = fy - floor(fy);
        let top = mix(modality_at(x0, y0), modality_at(x1, y0), ax);
        let bottom = mix(modality_at(x0, y1), modality_at(x1, y1), ax);
        y = display_from_modality(mix(top, bottom, ay), window);
    }
    let grey = f32(round_display(y, window)) / window.out_max;
    textureStore(screen, vec2<i32>(gid.xy), vec4<f32>(grey, grey, grey, 1.0));
}
