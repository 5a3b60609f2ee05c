// Histogram counting: one or many rectangular regions of an image (the whole image, a region of
// interest, or CLAHE's tile grid), each into its own `bins` counters of `hist` (region r at r·bins).
// Region pixels are addressed in an "extended" image whose right/bottom padding folds back into the
// source with BORDER_REFLECT_101, as OpenCV's CLAHE pads images that the tile grid does not divide.
//
// Dispatch: (chunks, regions, 1) workgroups; workgroup (c, r) strides over region r's pixels.
// Three entry points, chosen by bin count:
// * count_256, count_4096: counts go to a workgroup-local histogram first (workgroup atomics are
//   cheap and contention stays inside the workgroup), then each non-zero local bin is added to the
//   global histogram once. 4096 bins = 16 KiB, the WebGPU default workgroup storage limit.
// * count_global: 65536 bins do not fit workgroup memory (256 KiB), so every sample is one atomicAdd
//   on the global histogram. A two-level scheme (per-workgroup sub-histograms in global memory, then a
//   reduction) would clear, write and re-read 256 KiB per workgroup; 16-bit medical images spread
//   over thousands of distinct values, so direct global atomics rarely collide and win.
// `hist` must be zeroed before the dispatch (the op records a clear).

#import pixels
#import histogram

struct Params {
    binning: Binning,
    width: u32,       // source image
    height: u32,
    region_w: u32,    // region size in extended coordinates
    region_h: u32,
    regions_x: u32,   // regions per row of the grid
    origin_x: u32,    // extended coordinates of region 0's top-left pixel
    origin_y: u32,
    use_mask: u32,    // 1: count only pixels whose u8 mask sample is non-zero
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> value_range: array<u32>;
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;

var<workgroup> local_256: array<atomic<u32>, 256>;
var<workgroup> local_4096: array<atomic<u32>, 4096>;

fn range_halves() -> vec2<f32> {
    if params.binning.format == FMT_F32 {
        return f32_range_halves(value_range[0], value_range[1], params.binning.bins);
    }
    return vec2<f32>(0.0, 0.0);
}

// Bin of pixel `p` (row-major within its region) of region `region`, or NO_BIN when not counted.
fn region_pixel_bin(p: u32, region: u32, range: vec2<f32>) -> u32 {
    let px = p % params.region_w;
    let py = p / params.region_w;
    let rx = region % params.regions_x;
    let ry = region / params.regions_x;
    let sx = reflect101(params.origin_x + rx * params.region_w + px, params.width);
    let sy = reflect101(params.origin_y + ry * params.region_h + py, params.height);
    let index = sy * params.width + sx;
    if params.use_mask == 1u {
        let m = (mask[index / 4u] >> (8u * (index % 4u))) & 0xFFu;
        if m == 0u {
            return NO_BIN;
        }
    }
    let ppw = pixels_per_word(params.binning.format);
    return sample_bin(input[index / ppw], index % ppw, params.binning, range);
}

@compute @workgroup_size(256)
fn count_256(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let bins = params.binning.bins;
    for (var b = lid; b < 256u; b += 256u) {
        atomicStore(&local_256[b], 0u);
    }
    workgroupBarrier();
    let range = range_halves();
    let total = params.region_w * params.region_h;
    let stride = groups.x * 256u;
    for (var p = wid.x * 256u + lid; p < total; p += stride) {
        let bin = region_pixel_bin(p, wid.y, range);
        if bin != NO_BIN {
            atomicAdd(&local_256[bin], 1u);
        }
    }
    workgroupBarrier();
    for (var b = lid; b < bins; b += 256u) {
        let n = atomicLoad(&local_256[b]);
        if n != 0u {
            atomicAdd(&hist[wid.y * bins + b], n);
        }
    }
}

@compute @workgroup_size(256)
fn count_4096(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let bins = params.binning.bins;
    for (var b = lid; b < bins; b += 256u) {
        atomicStore(&local_4096[b], 0u);
    }
    workgroupBarrier();
    let range = range_halves();
    let total = params.region_w * params.region_h;
    let stride = groups.x * 256u;
    for (var p = wid.x * 256u + lid; p < total; p += stride) {
        let bin = region_pixel_bin(p, wid.y, range);
        if bin != NO_BIN {
            atomicAdd(&local_4096[bin], 1u);
        }
    }
    workgroupBarrier();
    for (var b = lid; b < bins; b += 256u) {
        let n = atomicLoad(&local_4096[b]);
        if n != 0u {
            atomicAdd(&hist[wid.y * bins + b], n);
        }
    }
}

@compute @workgroup_size(256)
fn count_global(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let bins = params.binning.bins;
    let range = range_halves();
    let total = params.region_w * params.region_h;
    let stride = groups.x * 256u;
    for (var p = wid.x * 256u + lid; p < total; p += stride) {
        let bin = region_pixel_bin(p, wid.y, range);
        if bin != NO_BIN {
            atomicAdd(&hist[wid.y * bins + bin], 1u);
        }
    }
}
