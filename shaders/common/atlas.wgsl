// The stitch atlas: every station's samples as f32, one after another in one storage buffer, so a
// stage that looks at all stations binds one buffer whatever their number. The including shader
// declares `atlas: array<f32>`.

// Bilinear sample of the station stored at word `offset` (`w`×`h`, row-major) at station pixel
// coordinates (sx, sy), clamped to the edge samples (pixel centres are at integer coordinates).
fn atlas_sample(offset: u32, w: u32, h: u32, sx: f32, sy: f32) -> f32 {
    let x = clamp(sx, 0.0, f32(w - 1u));
    let y = clamp(sy, 0.0, f32(h - 1u));
    let x0 = min(u32(floor(x)), w - 1u);
    let y0 = min(u32(floor(y)), h - 1u);
    let x1 = min(x0 + 1u, w - 1u);
    let y1 = min(y0 + 1u, h - 1u);
    let tx = x - f32(x0);
    let ty = y - f32(y0);
    let p00 = atlas[offset + y0 * w + x0];
    let p01 = atlas[offset + y0 * w + x1];
    let p10 = atlas[offset + y1 * w + x0];
    let p11 = atlas[offset + y1 * w + x1];
    let top = p00 + tx * (p01 - p00);
    let bottom = p10 + tx * (p11 - p10);
    return top + ty * (bottom - top);
}
