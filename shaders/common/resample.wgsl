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
// `gfedcb|abcdefgh|gfedcba`); a single sample reflects onto itself. Branch-free and without integer
// division: a software rasteriser runs every branch (masked) and scalarises division. The period fold
// uses an f32 quotient, off by at most one for |i| < 2^25, which the two selects correct.
fn border_index(i: i32, n: i32, mode: u32) -> i32 {
    let inside = i >= 0 && i < n;
    let replicate = clamp(i, 0, n - 1);
    let period = max(2 * n - 2, 1);
    var j = i - period * i32(floor(f32(i) / f32(period)));
    j = select(j, j + period, j < 0);
    j = select(j, j - period, j >= period);
    j = select(j, period - j, j >= n);
    let mirrored = select(j, 0, n == 1);
    let outside = select(-1, select(replicate, mirrored, mode == BORDER_REFLECT101), mode != BORDER_CONSTANT);
    return select(outside, i, inside);
}

// log2 of the samples per packed word (shifts, not divisions).
fn lane_shift(format: u32) -> u32 {
    return select(select(0u, 1u, format == FMT_U16 || format == FMT_I16), 2u, format == FMT_U8);
}

// Sample `index` (row-major) of the source, widened to f32 (exact for 8- and 16-bit integers). Same
// result as `unpack_sample`, written without a switch: a software rasteriser evaluates every case.
fn src_sample(index: u32, format: u32) -> f32 {
    return word_sample(src_pixels[index >> lane_shift(format)], index, format);
}

// Samples `i0` and `i1` (row-major) of the source, widened to f32 as `src_sample` does; one load
// when both lie in the same packed word (a bilinear tap's two columns usually do).
fn src_pair(i0: u32, i1: u32, format: u32) -> vec2<f32> {
    let shift = lane_shift(format);
    let w0 = src_pixels[i0 >> shift];
    var w1 = w0;
    if (i1 >> shift) != (i0 >> shift) {
        w1 = src_pixels[i1 >> shift];
    }
    return vec2<f32>(word_sample(w0, i0, format), word_sample(w1, i1, format));
}

// Sample `index` taken from `word`, the packed word that holds it.
fn word_sample(word: u32, index: u32, format: u32) -> f32 {
    let shift = lane_shift(format);
    let bits = 32u >> shift;
    let lane = index & ((1u << shift) - 1u);
    let mask = select((1u << (bits & 31u)) - 1u, 0xFFFFFFFFu, bits == 32u);
    let v = (word >> ((bits * lane) & 31u)) & mask;
    let signed = f32(bitcast<i32>(v << 16u) >> 16u);
    return select(select(f32(v), signed, format == FMT_I16), bitcast<f32>(word), format == FMT_F32);
}

// A value converted to `format`: integers are rounded to nearest (ties to even, like OpenCV's
// saturate_cast) and clamped to the format's range; f32 is stored as is. Returns the lane bits for
// `pack_lane`.
fn output_lane(v: f32, format: u32) -> u32 {
    let hi = select(select(32767.0, 65535.0, format == FMT_U16), 255.0, format == FMT_U8);
    let lo = select(0.0, -32768.0, format == FMT_I16);
    let int_bits = bitcast<u32>(i32(clamp(round(v), lo, hi)));
    return select(int_bits, bitcast<u32>(v), format == FMT_F32);
}

// Table words reinterpreted.
fn word_f32(w: u32) -> f32 {
    return bitcast<f32>(w);
}

fn word_i32(w: u32) -> i32 {
    return bitcast<i32>(w);
}

// One invocation writes one output word: `lanes` pixels (0 past the end) starting at (x, y).
struct OutWord {
    index: u32,
    lanes: u32,
    x: u32,
    y: u32,
}

fn out_word(gid: vec3<u32>, groups: vec3<u32>, width: u32, height: u32, format: u32) -> OutWord {
    let index = linear_index(gid, groups, 256u);
    let per_word = 1u << lane_shift(format);
    let count = width * height;
    let first = index * per_word;
    if first >= count {
        return OutWord(index, 0u, 0u, 0u);
    }
    return OutWord(index, min(per_word, count - first), first % width, first / width);
}

// The next pixel in row-major order.
fn next_pixel(w: OutWord, width: u32) -> OutWord {
    if w.x + 1u == width {
        return OutWord(w.index, w.lanes, 0u, w.y + 1u);
    }
    return OutWord(w.index, w.lanes, w.x + 1u, w.y);
}

// `v` converted to `format` and placed in `lane` (as `pack_lane`, without a switch).
fn lane_bits(v: f32, lane: u32, format: u32) -> u32 {
    let bits = 32u >> lane_shift(format);
    let mask = select((1u << (bits & 31u)) - 1u, 0xFFFFFFFFu, bits == 32u);
    return (output_lane(v, format) & mask) << ((bits * lane) & 31u);
}
