// Station placements of a stitch decided on the GPU (src/stitch/atlas.rs). The including shader
// declares `stations: array<u32>`, the station table: 16 words per station — 0 atlas offset, 1 width,
// 2 height, 4–5 nominal canvas offset (f32 bits), 6–7 cos and sin of its in-plane rotation (f32
// bits). An offset is the canvas position of the station's top-left pixel centre when unrotated; the
// station turns about its own centre (src/stitch/layout.rs, `Placement`).

const STATION_WORDS: u32 = 16u;

fn st_atlas(k: u32) -> u32 {
    return stations[k * STATION_WORDS];
}

fn st_size(k: u32) -> vec2<u32> {
    return vec2<u32>(stations[k * STATION_WORDS + 1u], stations[k * STATION_WORDS + 2u]);
}

fn st_nominal(k: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(stations[k * STATION_WORDS + 4u]),
                     bitcast<f32>(stations[k * STATION_WORDS + 5u]));
}

// (cos, sin) of the station's rotation.
fn st_rotation(k: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(stations[k * STATION_WORDS + 6u]),
                     bitcast<f32>(stations[k * STATION_WORDS + 7u]));
}

// The station's centre in its own pixel coordinates.
fn st_centre(k: u32) -> vec2<f32> {
    let s = vec2<f32>(st_size(k));
    return (s - 1.0) * 0.5;
}

// Station pixel coordinates → canvas, for the station at `offset`.
fn st_to_canvas(k: u32, offset: vec2<f32>, s: vec2<f32>) -> vec2<f32> {
    let c = st_centre(k);
    let r = st_rotation(k);
    let d = s - c;
    return vec2<f32>(offset.x + c.x + r.x * d.x - r.y * d.y, offset.y + c.y + r.y * d.x + r.x * d.y);
}

// Canvas → station pixel coordinates, for the station at `offset`.
fn st_to_station(k: u32, offset: vec2<f32>, p: vec2<f32>) -> vec2<f32> {
    let c = st_centre(k);
    let r = st_rotation(k);
    let d = p - offset - c;
    return vec2<f32>(c.x + r.x * d.x + r.y * d.y, c.y - r.y * d.x + r.x * d.y);
}

// True when canvas point `p` falls inside the station's pixel footprint.
fn st_covers(k: u32, offset: vec2<f32>, p: vec2<f32>) -> bool {
    let s = st_to_station(k, offset, p);
    let size = vec2<f32>(st_size(k));
    return s.x > -0.5 && s.y > -0.5 && s.x < size.x - 0.5 && s.y < size.y - 0.5;
}

// Axis-aligned bounding box (x0, y0, x1, y1) of the station's pixel footprint on the canvas.
fn st_bbox(k: u32, offset: vec2<f32>) -> vec4<f32> {
    let size = vec2<f32>(st_size(k));
    let a = st_to_canvas(k, offset, vec2<f32>(-0.5, -0.5));
    let b = st_to_canvas(k, offset, vec2<f32>(size.x - 0.5, -0.5));
    let c = st_to_canvas(k, offset, vec2<f32>(-0.5, size.y - 0.5));
    let d = st_to_canvas(k, offset, vec2<f32>(size.x - 0.5, size.y - 0.5));
    return vec4<f32>(min(min(a, b), min(c, d)), max(max(a, b), max(c, d)));
}

// Intersection of two boxes; empty (and refused) unless at least one pixel wide and high.
fn box_overlap(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(max(a.xy, b.xy), min(a.zw, b.zw));
}

fn box_usable(r: vec4<f32>) -> bool {
    return r.z - r.x >= 1.0 && r.w - r.y >= 1.0;
}
