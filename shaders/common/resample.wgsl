// Helpers shared by the resampling stages (warp_bilinear, resize_linear, resize_area): border
// extrapolation, reading one source sample, and converting a value to an output lane.
// The including shader must declare `src_pixels: array<u32>` (the packed source image); WGSL resolves
// module-scope names in any order. Border codes match `Border::shader_code` in src/ops/warp.rs.

#import pixels

const BORDER_CONSTANT: u32 = 0u;
const BORDER_REPLICATE: u32 = 1u;
const BORDER_REFLECT101: u32 = 2u;

// Index `i` of a row or column of `n` samples after border extrapolation; -1 when a constant border
// applies. Reflect-101 mirrors about the edge samples without repeating them (OpenCV BORDER_REFLECT_101,
// `gfedcb|abcdefgh|gfedcba`); a single sample reflects onto itself.
fn border_index(i: i32, n: i32, mode: u32) -> i32 {
    if i >= 0 && i < n {
        return i;
    }
    switch mode {
        case 1u: {
            return clamp(i, 0, n - 1);
        }
        case 2u: {
            if n == 1 {
                return 0;
            }
            let period = 2 * n - 2;
            var j = abs(i) % period;
            if j >= n {
                j = period - j;
            }
            return j;
        }
        default: {
            return -1;
        }
    }
}

// Sample `index` (row-major) of the source, widened to f32.
fn src_sample(index: u32, format: u32) -> f32 {
    let ppw = pixels_per_word(format);
    return unpack_sample(src_pixels[index / ppw], index % ppw, format);
}

// Sample (x, y) of the source as an i32 (exact for the 8- and 16-bit formats).
fn src_sample_int(x: u32, y: u32, width: u32, format: u32) -> i32 {
    return i32(src_sample(y * width + x, format));
}

// A value converted to `format`: integers are rounded to nearest (ties to even, like OpenCV's
// saturate_cast) and clamped to the format's range; f32 is stored as is. Returns the lane bits for
// `pack_lane`.
fn output_lane(v: f32, format: u32) -> u32 {
    switch format {
        case 0u: {
            return u32(clamp(round(v), 0.0, 255.0));
        }
        case 1u: {
            return u32(clamp(round(v), 0.0, 65535.0));
        }
        case 2u: {
            return bitcast<u32>(i32(clamp(round(v), -32768.0, 32767.0)));
        }
        default: {
            return bitcast<u32>(v);
        }
    }
}

// Table words reinterpreted.
fn word_f32(w: u32) -> f32 {
    return bitcast<f32>(w);
}

fn word_i32(w: u32) -> i32 {
    return bitcast<i32>(w);
}
