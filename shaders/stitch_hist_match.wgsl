// Histogram compensation of a registered stitch, decided on the GPU from the placements
// shaders/stitch_layout.wgsl wrote into the plan (src/stitch/compensate/histogram.rs), so no stage waits
// for the host. The model is src/stitch/compensate/mod.rs's `histogram`: each station's values are mapped
// so that its histogram over the overlap with its neighbour matches the neighbour's (already matched)
// values there; beyond the values seen in the overlap the table continues with the overlap's mean
// ratio. Stations run in order, each after its neighbour:
//
//   count     every canvas pixel of the bounding-box overlap covered by both stations (grid-stride
//             over the dispatch): the station's nearest sample, the neighbour's nearest sample and
//             that sample mapped through the neighbour's table, counted in three histograms
//   cdf       one workgroup: the station's and the mapped neighbour's histograms become inclusive
//             prefix sums in place; the overlap's sums, its first and last occupied bin and the
//             totals go to the stats words
//   map       one invocation per table entry: the matching table (the first bin of the reference
//             CDF closest to the station's, as src/ops/histmatch.rs `reference_lut`), extended
//             linearly outside the occupied bins; the identity for the first station or an empty
//             overlap
//   gain_of   one workgroup per station: the effective gain the report shows (Σ table / Σ samples
//             over every 7th sample)
//   apply     one station's atlas samples replaced by their table values
//
// The atlas holds the raw samples (gain 1) until `apply`: every table is built from raw samples.

#import pixels
#import placement
#import plan_read
#import workgroup_sum

const NONE: u32 = 0xFFFFFFFFu;
// Stats words after the three histograms: sum of the station's samples (f32 bits), sum of the
// neighbour's mapped samples (f32 bits), first and last occupied bin of the station (NONE when
// empty), total count.
const S_SUM_IMG: u32 = 0u;
const S_SUM_REF: u32 = 1u;
const S_LO: u32 = 2u;
const S_HI: u32 = 3u;
const S_TOTAL: u32 = 4u;

struct Params {
    count: u32,       // stations
    station: u32,     // the station whose table is built (count, cdf, map, apply)
    neighbour: u32,   // its neighbour, or NONE
    lut_offset: i32,  // added to a sample to index the table (32768 for i16)
    lut_len: u32,     // 256 or 65536 entries
    _p0: u32,
    _p1: u32,
    _p2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> stations: array<u32>;
@group(0) @binding(2) var<storage, read_write> plan: array<f32>;
@group(0) @binding(3) var<storage, read_write> atlas: array<f32>;
// Station histogram [0, len), mapped-neighbour histogram [len, 2 len), raw-neighbour histogram
// [2 len, 3 len), stats words from 3 len.
@group(0) @binding(4) var<storage, read_write> hist: array<atomic<u32>>;
// One table of `lut_len` values per station.
@group(0) @binding(5) var<storage, read_write> tables: array<f32>;

var<workgroup> chunk_img: array<u32, 256>;
var<workgroup> chunk_ref: array<u32, 256>;
var<workgroup> part_a: array<f32, 256>;
var<workgroup> part_b: array<f32, 256>;
var<workgroup> part_lo: array<u32, 256>;
var<workgroup> part_hi: array<u32, 256>;

fn stats_base() -> u32 {
    return 3u * params.lut_len;
}

// Rounds half away from zero (Rust's `f32::round`), not to even as WGSL's `round`.
fn round_away(v: f32) -> f32 {
    let a = abs(v);
    let f = floor(a);
    return sign(v) * select(f, f + 1.0, a - f >= 0.5);
}

// The station's stored sample nearest to canvas point `p` (covered by the station).
fn nearest(k: u32, offset: vec2<f32>, p: vec2<f32>) -> f32 {
    let s = st_to_station(k, offset, p);
    let size = st_size(k);
    let x = min(u32(max(round_away(s.x), 0.0)), size.x - 1u);
    let y = min(u32(max(round_away(s.y), 0.0)), size.y - 1u);
    return atlas[st_atlas(k) + y * size.x + x];
}

fn bin_of(v: f32) -> u32 {
    return u32(clamp(i32(v) + params.lut_offset, 0, i32(params.lut_len) - 1));
}

@compute @workgroup_size(256)
fn count(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = params.station;
    let j = params.neighbour;
    let len = params.lut_len;
    let oi = plan_offset(i);
    let oj = plan_offset(j);
    let r = box_overlap(st_bbox(j, oj), st_bbox(i, oi));
    if !box_usable(r) {
        return;
    }
    let first = vec2<i32>(ceil(r.xy));
    let last = vec2<i32>(floor(r.zw));
    if any(last < first) {
        return;
    }
    let steps = vec2<u32>(last - first) + 1u;
    let workers = groups.x * 256u;
    for (var t = gid.x; t < steps.x * steps.y; t += workers) {
        let p = vec2<f32>(first + vec2<i32>(vec2<u32>(t % steps.x, t / steps.x)));
        if st_covers(i, oi, p) && st_covers(j, oj, p) {
            let ka = bin_of(nearest(i, oi, p));
            let kb = bin_of(nearest(j, oj, p));
            let km = bin_of(round_away(tables[j * len + kb]));
            atomicAdd(&hist[ka], 1u);
            atomicAdd(&hist[len + km], 1u);
            atomicAdd(&hist[2u * len + kb], 1u);
        }
    }
}

@compute @workgroup_size(256)
fn cdf(@builtin(local_invocation_index) lid: u32) {
    let len = params.lut_len;
    let per = len / 256u;
    let start = lid * per;
    let j = params.neighbour;
    var img = 0u;
    var rf = 0u;
    var a = 0.0;
    var b = 0.0;
    var lo = NONE;
    var hi = NONE;
    for (var k = start; k < start + per; k++) {
        let h = atomicLoad(&hist[k]);
        img += h;
        rf += atomicLoad(&hist[len + k]);
        a += f32(h) * f32(i32(k) - params.lut_offset);
        b += f32(atomicLoad(&hist[2u * len + k])) * tables[j * len + k];
        if h > 0u {
            lo = min(lo, k);
            hi = k;
        }
    }
    chunk_img[lid] = img;
    chunk_ref[lid] = rf;
    part_a[lid] = a;
    part_b[lid] = b;
    part_lo[lid] = lo;
    part_hi[lid] = hi;
    workgroupBarrier();
    // Inclusive scan of the chunk totals (Hillis–Steele).
    for (var span = 1u; span < 256u; span <<= 1u) {
        var add_img = 0u;
        var add_ref = 0u;
        if lid >= span {
            add_img = chunk_img[lid - span];
            add_ref = chunk_ref[lid - span];
        }
        workgroupBarrier();
        chunk_img[lid] += add_img;
        chunk_ref[lid] += add_ref;
        workgroupBarrier();
    }
    var run_img = chunk_img[lid] - img;
    var run_ref = chunk_ref[lid] - rf;
    for (var k = start; k < start + per; k++) {
        run_img += atomicLoad(&hist[k]);
        atomicStore(&hist[k], run_img);
        run_ref += atomicLoad(&hist[len + k]);
        atomicStore(&hist[len + k], run_ref);
    }
    for (var span = 128u; span > 0u; span >>= 1u) {
        if lid < span {
            part_a[lid] += part_a[lid + span];
            part_b[lid] += part_b[lid + span];
            part_lo[lid] = min(part_lo[lid], part_lo[lid + span]);
            let other = part_hi[lid + span];
            if other != NONE && (part_hi[lid] == NONE || other > part_hi[lid]) {
                part_hi[lid] = other;
            }
        }
        workgroupBarrier();
    }
    if lid == 0u {
        let s = stats_base();
        atomicStore(&hist[s + S_SUM_IMG], bitcast<u32>(part_a[0]));
        atomicStore(&hist[s + S_SUM_REF], bitcast<u32>(part_b[0]));
        atomicStore(&hist[s + S_LO], part_lo[0]);
        atomicStore(&hist[s + S_HI], part_hi[0]);
        atomicStore(&hist[s + S_TOTAL], chunk_img[255]);
    }
}

fn cdf_ref(k: u32) -> u32 {
    return atomicLoad(&hist[params.lut_len + k]);
}

// The first bin whose reference CDF is not below `c`.
fn first_at_least(c: u32) -> u32 {
    var lo = 0u;
    var hi = params.lut_len;
    while lo < hi {
        let mid = (lo + hi) / 2u;
        if cdf_ref(mid) < c {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

// The matching table's bin for station bin `k`: src/ops/histmatch.rs `reference_lut`, the first bin
// of the reference CDF closest to the station's. That function compares cdf_img·T_ref with
// cdf_ref·T_img; here both CDFs end at the same total (every counted point adds one to each), so
// the CDFs compare directly.
fn matched(k: u32) -> u32 {
    let c = atomicLoad(&hist[k]);
    let lb = first_at_least(c);
    if lb == 0u {
        return 0u;
    }
    let below = cdf_ref(lb - 1u);
    if lb == params.lut_len || c - below <= cdf_ref(lb) - c {
        return first_at_least(below);
    }
    return lb;
}

@compute @workgroup_size(256)
fn map(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    let len = params.lut_len;
    if k >= len {
        return;
    }
    let off = f32(params.lut_offset);
    let v = f32(i32(k) - params.lut_offset);
    let out = params.station * len + k;
    if params.neighbour == NONE {
        tables[out] = v;
        return;
    }
    let s = stats_base();
    let total = atomicLoad(&hist[s + S_TOTAL]);
    let lo = atomicLoad(&hist[s + S_LO]);
    let hi = atomicLoad(&hist[s + S_HI]);
    if total == 0u || lo == NONE {
        tables[out] = v;
        return;
    }
    let sum_img = bitcast<f32>(atomicLoad(&hist[s + S_SUM_IMG]));
    let sum_ref = bitcast<f32>(atomicLoad(&hist[s + S_SUM_REF]));
    let ratio = select(1.0, sum_ref / sum_img, sum_img > 0.0);
    if k < lo {
        tables[out] = (f32(matched(lo)) - off) + (v - (f32(lo) - off)) * ratio;
    } else if k > hi {
        tables[out] = (f32(matched(hi)) - off) + (v - (f32(hi) - off)) * ratio;
    } else {
        tables[out] = f32(matched(k)) - off;
    }
}

@compute @workgroup_size(256)
fn gain_of(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let k = wid.x;
    let size = st_size(k);
    let pixels = size.x * size.y;
    let base = st_atlas(k);
    var a = 0.0;
    var b = 0.0;
    for (var i = lid * 7u; i < pixels; i += 256u * 7u) {
        let v = atlas[base + i];
        a += v;
        b += tables[k * params.lut_len + bin_of(v)];
    }
    let sum_a = workgroup_sum(lid, a);
    let sum_b = workgroup_sum(lid, b);
    if lid == 0u {
        plan[k * PLAN_BLOCK + PLAN_GAIN] = select(1.0, sum_b / sum_a, sum_a > 0.0);
    }
}

@compute @workgroup_size(256)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let k = params.station;
    let size = st_size(k);
    let i = linear_index(gid, groups, 256u);
    if i >= size.x * size.y {
        return;
    }
    let at = st_atlas(k) + i;
    atlas[at] = tables[k * params.lut_len + bin_of(atlas[at])];
}
