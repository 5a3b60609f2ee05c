// Histogram counting: one or many rectangular regions of an image (the whole image, a region of
// interest, or CLAHE's tile grid), each into its own `bins` counters of `hist` (region r at r·bins).
// Region pixels are addressed in an "extended" image whose right/bottom padding folds back into the
// source with BORDER_REFLECT_101, as OpenCV's CLAHE pads images that the tile grid does not divide.
//
// Dispatch: (chunks, regions, 1) workgroups; workgroup (c, r) strides over region r's pixels.
// Entry points, chosen by bin count and layout:
// * count_local: up to 4096 bins. Counts go to a workgroup-local histogram first (workgroup atomics
//   are cheap and contention stays inside the workgroup), then each non-zero local bin is added to the
//   global histogram once. Its size, LOCAL_BINS (256 or 4096, the smallest that holds the bins), is a
//   pipeline constant; 4096 bins = 16 KiB, the WebGPU default workgroup storage limit.
// * count_global: 65536 bins do not fit workgroup memory (256 KiB), so samples go to the global
//   histogram with atomics. A full two-level scheme (a 256 KiB sub-histogram per workgroup in global
//   memory, then a reduction) would clear, write and re-read 256 KiB per workgroup, so instead:
//   - each invocation adds a run of equal bins among the pixels it visits (every 256th of its
//     workgroup's block) with one atomicAdd, so uniform backgrounds — collimation, air — collapse
//     into a few atomics instead of all hitting one counter;
//   - a large single-region count spreads workgroups over `copies` private copies of the histogram
//     (workgroup w → copy w mod copies), merged by `merge_copies`, so the workgroups of one image
//     do not all contend for the same counters.
// * aligned_local, aligned_global: the common case — integer samples, no mask, regions that start
//   and end on word boundaries inside the image (a whole image of even width, CLAHE tiles that divide
//   it) — as count_local/count_global, but each invocation reads whole words and bins every sample in
//   them (half the loads for 16-bit, a quarter for 8-bit) with no border folding, and the sample
//   format (IN_FORMAT) is a pipeline constant.
// `hist` (or the copies) must be zeroed before the dispatch (the op records a clear).

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
    copies: u32,      // count_global with one region: private histogram copies (1: none)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> value_range: array<u32>;
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;

// Set per pipeline: the workgroup histogram's size (count_local, aligned_local) and the samples'
// FMT_* (U8, U16 or I16; aligned_local, aligned_global).
override LOCAL_BINS: u32 = 4096u;
override IN_FORMAT: u32 = 1u;

var<workgroup> local_hist: array<atomic<u32>, LOCAL_BINS>;

fn range_halves() -> vec2<f32> {
    if params.binning.format == FMT_F32 {
        return f32_range_halves(value_range[0], value_range[1], params.binning.bins);
    }
    return vec2<f32>(0.0, 0.0);
}

// Walks the pixels of one region that one invocation counts: it starts at region pixel p0 and
// advances by `stride` pixels, tracking (x, y) incrementally so the loop divides nothing.
struct Walker {
    x: u32,
    y: u32,
    dx: u32,     // stride % region_w
    dy: u32,     // stride / region_w
    left: u32,   // pixels still to visit
    ox: u32,     // extended coordinates of the region's top-left pixel
    oy: u32,
}

fn walker(p0: u32, stride: u32, region: u32, limit: u32) -> Walker {
    let rw = params.region_w;
    let total = rw * params.region_h;
    var left = 0u;
    if p0 < total {
        left = min((total - p0 - 1u) / stride + 1u, limit);
    }
    let origin = region_origin(region);
    return Walker(p0 % rw, p0 / rw, stride % rw, stride / rw, left, origin.x, origin.y);
}

// Extended coordinates of region `region`'s top-left pixel in the grid.
fn region_origin(region: u32) -> vec2<u32> {
    let rx = region % params.regions_x;
    let ry = region / params.regions_x;
    return vec2<u32>(params.origin_x + rx * params.region_w, params.origin_y + ry * params.region_h);
}

// Bin of the walker's current pixel (NO_BIN when masked out or NaN), then a step forward.
fn next_bin(w: ptr<function, Walker>, range: vec2<f32>) -> u32 {
    let sx = reflect101((*w).ox + (*w).x, params.width);
    let sy = reflect101((*w).oy + (*w).y, params.height);
    (*w).x += (*w).dx;
    (*w).y += (*w).dy;
    if (*w).x >= params.region_w {
        (*w).x -= params.region_w;
        (*w).y += 1u;
    }
    (*w).left -= 1u;
    let index = sy * params.width + sx;
    if params.use_mask == 1u {
        let m = (mask[index >> 2u] >> (8u * (index & 3u))) & 0xFFu;
        if m == 0u {
            return NO_BIN;
        }
    }
    let shift = word_shift(params.binning.format);
    let lane = index & ((1u << shift) - 1u);
    return sample_bin(input[index >> shift], lane, params.binning, range);
}

// Bin of sample `lane` of a word, on the aligned path.
fn aligned_bin(word: u32, lane: u32) -> u32 {
    return int_bin(domain_value(word, lane, IN_FORMAT), params.binning);
}

// The aligned path's walk over region `region`'s words: invocation `start`, advancing by `stride`
// words, with (x, y) in words tracked incrementally (no division in the loop).
struct WordWalker {
    x: u32,
    y: u32,
    dx: u32,
    dy: u32,
    row_words: u32,   // words per image row
    region_words: u32,// words per region row
    ox: u32,          // region origin: word column, pixel row
    oy: u32,
}

fn word_walker(start: u32, stride: u32, region: u32) -> WordWalker {
    let per_word = pixels_per_word(IN_FORMAT);
    let rw = params.region_w / per_word;
    let origin = region_origin(region);
    return WordWalker(
        start % rw,
        start / rw,
        stride % rw,
        stride / rw,
        params.width / per_word,
        rw,
        origin.x / per_word,
        origin.y,
    );
}

// The current word, then a step forward.
fn next_word(w: ptr<function, WordWalker>) -> u32 {
    let word = input[((*w).oy + (*w).y) * (*w).row_words + (*w).ox + (*w).x];
    (*w).x += (*w).dx;
    (*w).y += (*w).dy;
    if (*w).x >= (*w).region_words {
        (*w).x -= (*w).region_words;
        (*w).y += 1u;
    }
    return word;
}

// ---- the workgroup-local histogram (count_local, aligned_local) ----

fn clear_local(lid: u32) {
    for (var b = lid; b < params.binning.bins; b += 256u) {
        atomicStore(&local_hist[b], 0u);
    }
}

// Adds region `region`'s non-zero local bins to its row of `hist`.
fn flush_local(lid: u32, region: u32) {
    let bins = params.binning.bins;
    for (var b = lid; b < bins; b += 256u) {
        let n = atomicLoad(&local_hist[b]);
        if n != 0u {
            atomicAdd(&hist[region * bins + b], n);
        }
    }
}

@compute @workgroup_size(256)
fn count_local(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    clear_local(lid);
    workgroupBarrier();
    let range = range_halves();
    var w = walker(wid.x * 256u + lid, groups.x * 256u, wid.y, 0xFFFFFFFFu);
    while w.left > 0u {
        let bin = next_bin(&w, range);
        if bin != NO_BIN {
            atomicAdd(&local_hist[bin], 1u);
        }
    }
    workgroupBarrier();
    flush_local(lid, wid.y);
}

@compute @workgroup_size(256)
fn aligned_local(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    clear_local(lid);
    workgroupBarrier();
    let per_word = pixels_per_word(IN_FORMAT);
    let total = params.region_w / per_word * params.region_h;
    let stride = groups.x * 256u;
    var w = word_walker(wid.x * 256u + lid, stride, wid.y);
    for (var k = wid.x * 256u + lid; k < total; k += stride) {
        let word = next_word(&w);
        for (var lane = 0u; lane < per_word; lane++) {
            atomicAdd(&local_hist[aligned_bin(word, lane)], 1u);
        }
    }
    workgroupBarrier();
    flush_local(lid, wid.y);
}

// ---- global atomics with runs of equal bins (count_global, aligned_global) ----

// One invocation's current run: `n` samples of `bin` not yet added (NO_BIN: none).
struct Run {
    bin: u32,
    n: u32,
}

// Extends the run with a sample of `bin` (NO_BIN: a sample not counted), or adds the run to
// `hist[base + bin]` and starts a new one.
fn run_add(r: ptr<function, Run>, bin: u32, base: u32) {
    if bin == (*r).bin {
        (*r).n += 1u;
        return;
    }
    run_flush(r, base);
    (*r).bin = bin;
    (*r).n = 1u;
}

fn run_flush(r: ptr<function, Run>, base: u32) {
    if (*r).bin != NO_BIN {
        atomicAdd(&hist[base + (*r).bin], (*r).n);
    }
}

// Workgroup c counts the c-th contiguous block of the region's `total` items (pixels or words); its
// invocations interleave (item lid, lid + 256, …) so neighbouring invocations read neighbouring
// items. Returns (first item, items per invocation, row of `hist` to add to).
fn global_block(wid: vec3<u32>, groups: vec3<u32>, lid: u32, total: u32) -> vec3<u32> {
    let per_thread = (total - 1u) / (groups.x * 256u) + 1u;
    var row = wid.y;
    if params.copies > 1u {
        row = wid.x % params.copies;
    }
    return vec3<u32>(wid.x * 256u * per_thread + lid, per_thread, row * params.binning.bins);
}

@compute @workgroup_size(256)
fn count_global(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let range = range_halves();
    let block = global_block(wid, groups, lid, params.region_w * params.region_h);
    var w = walker(block.x, 256u, wid.y, block.y);
    var run = Run(NO_BIN, 0u);
    while w.left > 0u {
        run_add(&run, next_bin(&w, range), block.z);
    }
    run_flush(&run, block.z);
}

@compute @workgroup_size(256)
fn aligned_global(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let per_word = pixels_per_word(IN_FORMAT);
    let total = params.region_w / per_word * params.region_h;
    let block = global_block(wid, groups, lid, total);
    var w = word_walker(block.x, 256u, wid.y);
    var run = Run(NO_BIN, 0u);
    for (var k = 0u; k < block.y && block.x + k * 256u < total; k++) {
        let word = next_word(&w);
        for (var lane = 0u; lane < per_word; lane++) {
            run_add(&run, aligned_bin(word, lane), block.z);
        }
    }
    run_flush(&run, block.z);
}

// Sums the `copies` rows of `input` (the private copies written by count_global) into `hist`.
// One invocation per bin.
@compute @workgroup_size(256)
fn merge_copies(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let b = linear_index(gid, groups, 256u);
    let bins = params.binning.bins;
    if b >= bins {
        return;
    }
    var sum = 0u;
    for (var k = 0u; k < params.copies; k++) {
        sum += input[k * bins + b];
    }
    atomicStore(&hist[b], sum);
}
