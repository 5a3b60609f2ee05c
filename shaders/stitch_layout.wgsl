// The layout of a registered stitch, decided on the GPU so that no stage waits for the host
// (src/stitch/place.rs). One invocation: each station's offset = nominal + the correction its
// registration stored (zero when refused, shaders/stitch_ncc_finish.wgsl); all shifted so the canvas
// starts at pixel 0 (the first canvas pixel centre covered is floor(lo) + 1, the last ceil(hi) − 1);
// the canvas size; and each station's blend record (shaders/stitch_blend.wgsl: atlas offset, size,
// canvas → station map, ramp lengths) with linear ramps over each overlap along the stacking direction,
// or FeatherBlender's constant ramp.
//
// `plan` (shaders/common/plan.wgsl): per station the search state's words copied (so one
// readback reports both), the final offset and the gain (1 here; the compensations overwrite it);
// in the global block the canvas size, the shift added to every offset, and the layout status (1 fits
// the canvas allocated for it, 2 does not).

#import placement
#import plan_read

struct Params {
    count: u32,
    feather: u32,        // 1: every ramp = feather_ramp; 0: linear ramps over the overlaps
    feather_ramp: f32,
    max_w: u32,          // the canvas allocated (the nominal canvas grown by the search reach)
    max_h: u32,
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stations: array<u32>;
@group(0) @binding(2) var<storage, read> search: array<f32>;
@group(0) @binding(3) var<storage, read_write> plan: array<f32>;
@group(0) @binding(4) var<storage, read_write> records: array<u32>;

// A blend record (shaders/stitch_blend.wgsl, src/stitch/blend/mod.rs RECORD_WORDS): words of a
// station's record, and where its four ramp lengths start.
const RECORD_WORDS: u32 = 16u;
const RECORD_RAMPS: u32 = 10u;

fn set_ramp(k: u32, side: u32, length: f32) {
    let w = k * RECORD_WORDS + RECORD_RAMPS + side;
    records[w] = bitcast<u32>(max(bitcast<f32>(records[w]), length));
}

@compute @workgroup_size(1)
fn place() {
    let n = params.count;
    var lo = vec2<f32>(3.0e38, 3.0e38);
    var hi = vec2<f32>(-3.0e38, -3.0e38);
    for (var k = 0u; k < n; k++) {
        let block = k * PLAN_BLOCK;
        for (var w = 0u; w < PLAN_SEARCH_WORDS; w++) {
            plan[block + w] = search[block + w];
        }
        let off = st_nominal(k) + vec2<f32>(search[block + PLAN_CORR], search[block + PLAN_CORR + 1u]);
        let b = st_bbox(k, off);
        lo = min(lo, b.xy);
        hi = max(hi, b.zw);
        plan[block + PLAN_OFFSET] = off.x;
        plan[block + PLAN_OFFSET + 1u] = off.y;
        plan[block + PLAN_GAIN] = 1.0;
    }
    let shift = -(floor(lo) + 1.0);
    let size = ceil(hi + shift);
    let g = n * PLAN_BLOCK;
    let fits = size.x >= 1.0 && size.y >= 1.0 && size.x <= f32(params.max_w) && size.y <= f32(params.max_h);
    plan[g + PLAN_CANVAS] = size.x;
    plan[g + PLAN_CANVAS + 1u] = size.y;
    plan[g + PLAN_CANVAS_SHIFT] = shift.x;
    plan[g + PLAN_CANVAS_SHIFT + 1u] = shift.y;
    plan[g + PLAN_LAYOUT_STATUS] = select(2.0, 1.0, fits);
    plan[g + PLAN_GAIN_STATUS] = 0.0;
    for (var k = 0u; k < n; k++) {
        let off = plan_offset(k) + shift;
        plan[k * PLAN_BLOCK + PLAN_OFFSET] = off.x;
        plan[k * PLAN_BLOCK + PLAN_OFFSET + 1u] = off.y;
        let c = st_centre(k);
        let r = st_rotation(k);
        let t = off + c;
        let base = k * RECORD_WORDS;
        let dims = st_size(k);
        records[base] = st_atlas(k);
        records[base + 1u] = dims.x;
        records[base + 2u] = dims.y;
        records[base + 3u] = 0u;
        records[base + 4u] = bitcast<u32>(r.x);
        records[base + 5u] = bitcast<u32>(r.y);
        records[base + 6u] = bitcast<u32>(c.x - r.x * t.x - r.y * t.y);
        records[base + 7u] = bitcast<u32>(-r.y);
        records[base + 8u] = bitcast<u32>(r.x);
        records[base + 9u] = bitcast<u32>(c.y + r.y * t.x - r.x * t.y);
        let ramp = select(0.0, params.feather_ramp, params.feather == 1u);
        for (var side = 0u; side < 4u; side++) {
            records[base + RECORD_RAMPS + side] = bitcast<u32>(ramp);
        }
        records[base + 14u] = 0u;
        records[base + 15u] = 0u;
    }
    if params.feather == 1u {
        return;
    }
    // Linear ramps: across each overlap, along the direction the two stations are stacked in
    // (ramp sides: 0 left, 1 right, 2 top, 3 bottom).
    for (var i = 0u; i < n; i++) {
        for (var j = i + 1u; j < n; j++) {
            let a = st_bbox(i, plan_offset(i));
            let b = st_bbox(j, plan_offset(j));
            let r = box_overlap(a, b);
            if !box_usable(r) {
                continue;
            }
            let ow = r.z - r.x;
            let oh = r.w - r.y;
            if oh <= ow {
                let up = select(j, i, a.y <= b.y);
                let down = select(i, j, a.y <= b.y);
                set_ramp(up, 3u, oh);
                set_ramp(down, 2u, oh);
            } else {
                let left = select(j, i, a.x <= b.x);
                let right = select(i, j, a.x <= b.x);
                set_ramp(left, 1u, ow);
                set_ramp(right, 0u, ow);
            }
        }
    }
}
