// Blending placed stations on the canvas (src/stitch/blend/mod.rs). Every station is described by a
// 16-word record: atlas offset, width, height, the canvas → station map (6 f32) and four ramp lengths
// (left, right, top, bottom; 0 = no ramp). A station's weight at a canvas pixel is the smallest of
// min(1, d/ramp) over its four edges, d the distance (station pixels) from the pixel centre to that
// edge: a linear ramp across each overlap (ramps = overlap lengths) or OpenCV FeatherBlender's
// clamped distance weight (every ramp = 1/sharpness).
//
//   blend  one pass: Σ wᵢ·vᵢ / Σ wᵢ over the stations covering the pixel (0 where none does)
//   place  for station `station`: its bilinear samples over the whole canvas (edges replicated) and
//          its hard mask (1 where it covers the pixel and has the largest weight, ties to the lower
//          index) — the inputs of multi-band blending

#import pixels
#import atlas

struct Params {
    canvas_w: u32,
    canvas_h: u32,
    count: u32,
    station: u32,
    plan_base: u32,   // NO_PLAN: the canvas size above; else the size a GPU-decided plan holds here
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> atlas: array<f32>;
@group(0) @binding(2) var<storage, read> stations: array<u32>;
@group(0) @binding(3) var<storage, read_write> out_value: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_mask: array<f32>;
@group(0) @binding(5) var<storage, read> plan: array<f32>;

const NO_PLAN: u32 = 0xffffffffu;

// The canvas size: from the uniform, or (src/stitch/pipeline.rs) from the plan, the planes then
// allocated for the largest canvas and used row-major at this size.
fn canvas_size() -> vec2<u32> {
    if params.plan_base == NO_PLAN {
        return vec2<u32>(params.canvas_w, params.canvas_h);
    }
    return vec2<u32>(u32(plan[params.plan_base]), u32(plan[params.plan_base + 1u]));
}

fn field(k: u32, j: u32) -> f32 {
    return bitcast<f32>(stations[k * 16u + j]);
}

fn ramp(d: f32, length: f32) -> f32 {
    return select(min(d / length, 1.0), 1.0, length <= 0.0);
}

// (weight, sx, sy) of station k at canvas pixel (x, y); weight 0 outside the station.
fn weight(k: u32, x: f32, y: f32) -> vec3<f32> {
    let w = f32(stations[k * 16u + 1u]);
    let h = f32(stations[k * 16u + 2u]);
    let sx = field(k, 4u) * x + field(k, 5u) * y + field(k, 6u);
    let sy = field(k, 7u) * x + field(k, 8u) * y + field(k, 9u);
    let dl = sx + 0.5;
    let dr = w - 0.5 - sx;
    let dt = sy + 0.5;
    let db = h - 0.5 - sy;
    let inside = min(min(dl, dr), min(dt, db)) > 0.0;
    let wt = min(min(ramp(dl, field(k, 10u)), ramp(dr, field(k, 11u))),
                 min(ramp(dt, field(k, 12u)), ramp(db, field(k, 13u))));
    return vec3<f32>(select(0.0, wt, inside), sx, sy);
}

fn value(k: u32, s: vec3<f32>) -> f32 {
    return atlas_sample(stations[k * 16u], stations[k * 16u + 1u], stations[k * 16u + 2u], s.y, s.z);
}

@compute @workgroup_size(256)
fn blend(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups, 256u);
    let canvas = canvas_size();
    if i >= canvas.x * canvas.y {
        return;
    }
    let x = f32(i % canvas.x);
    let y = f32(i / canvas.x);
    var acc = 0.0;
    var wsum = 0.0;
    for (var k = 0u; k < params.count; k++) {
        let s = weight(k, x, y);
        if s.x > 0.0 {
            acc += s.x * value(k, s);
            wsum += s.x;
        }
    }
    out_value[i] = select(0.0, acc / wsum, wsum > 0.0);
}

@compute @workgroup_size(256)
fn place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups, 256u);
    let canvas = canvas_size();
    if i >= canvas.x * canvas.y {
        return;
    }
    let x = f32(i % canvas.x);
    let y = f32(i / canvas.x);
    var best = params.count;
    var best_w = 0.0;
    for (var k = 0u; k < params.count; k++) {
        let s = weight(k, x, y);
        if s.x > best_w {
            best_w = s.x;
            best = k;
        }
    }
    let own = weight(params.station, x, y);
    out_value[i] = value(params.station, own);
    out_mask[i] = select(0.0, 1.0, best == params.station);
}
