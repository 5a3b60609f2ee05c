// Laplacian-pyramid (multi-band) blending of f32 planes (src/stitch/blend/mod.rs), after Burt & Adelson
// and OpenCV's MultiBandBlender:
//
//   down        cv::pyrDown: 5×5 Gaussian ([1 4 6 4 1]/16 per axis), reflect-101 border, keep even
//               samples; dst = ⌈src/2⌉ per axis
//   up          pyrUp to a given size: zero insertion then the same kernel ×4, i.e. per axis
//               (1 6 1)/8 at even outputs and (4 4)/8 at odd ones; low-resolution indices clamped
//   accumulate  acc += (G_l − up(G_{l+1}))·W_l and wsum += W_l (top level: G_L·W_L)
//   collapse    out_l = acc_l / wsum_l (0 where wsum ≤ 1e-5) + up(out_{l+1})
//
// Planes: `a`, `b`, `c` read, `out` and `out2` written; sizes in the uniform (src = a/b/c's level,
// dst = the written level), or — when `plan_base` is not NO_PLAN — level `src_level` / `dst_level`
// of the canvas a GPU-decided stitch plan holds at word `plan_base` (src/stitch/pipeline.rs): the
// planes are then allocated for the largest canvas and used row-major at the plan's size, so borders
// and level sizes are those of the exact canvas without the host knowing it.

#import pixels

struct Params {
    src_w: u32,   // size of the lower-resolution plane (b or c in accumulate/collapse, a in up)
    src_h: u32,
    dst_w: u32,   // size of the plane written
    dst_h: u32,
    has_next: u32,
    plan_base: u32,
    src_level: u32,
    dst_level: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> out2: array<f32>;
@group(0) @binding(6) var<storage, read> plan: array<f32>;

const NO_PLAN: u32 = 0xffffffffu;

// Level `level` of the plan's canvas: ⌈·/2⌉ per level, as cv::pyrDown.
fn plan_level(level: u32) -> vec2<u32> {
    var s = vec2<u32>(u32(plan[params.plan_base]), u32(plan[params.plan_base + 1u]));
    for (var l = 0u; l < level; l++) {
        s = (s + 1u) / 2u;
    }
    return s;
}

fn src_size() -> vec2<u32> {
    if params.plan_base == NO_PLAN {
        return vec2<u32>(params.src_w, params.src_h);
    }
    return plan_level(params.src_level);
}

fn dst_size() -> vec2<u32> {
    if params.plan_base == NO_PLAN {
        return vec2<u32>(params.dst_w, params.dst_h);
    }
    return plan_level(params.dst_level);
}

fn reflect101(i: i32, n: i32) -> i32 {
    var j = select(i, -i, i < 0);
    j = select(j, 2 * n - 2 - j, j >= n);
    return clamp(j, 0, n - 1);
}

// Binomial weights 1 4 6 4 1 (a function: some backends refuse dynamic indexing of a const array).
fn k5(i: i32) -> f32 {
    return select(select(6.0, 4.0, i == 1 || i == 3), 1.0, i == 0 || i == 4);
}

// The 2-D pyrUp weights of the low-resolution neighbours of output coordinate v along one axis:
// (index of the first, w0, w1, w2) for indices first, first+1, first+2.
fn up_taps(v: u32) -> vec4<f32> {
    let m = i32(v >> 1u);
    if (v & 1u) == 0u {
        return vec4<f32>(f32(m - 1), 0.125, 0.75, 0.125);
    }
    return vec4<f32>(f32(m), 0.5, 0.5, 0.0);
}

fn up_b(x: u32, y: u32) -> f32 {
    let tx = up_taps(x);
    let ty = up_taps(y);
    let src = vec2<i32>(src_size());
    let w = src.x;
    let h = src.y;
    var sum = 0.0;
    for (var j = 0; j < 3; j++) {
        let wy = select(select(ty.w, ty.z, j == 1), ty.y, j == 0);
        let yy = clamp(i32(ty.x) + j, 0, h - 1);
        var row = 0.0;
        for (var i = 0; i < 3; i++) {
            let wx = select(select(tx.w, tx.z, i == 1), tx.y, i == 0);
            let xx = clamp(i32(tx.x) + i, 0, w - 1);
            row += wx * b[u32(yy * w + xx)];
        }
        sum += wy * row;
    }
    return sum;
}

fn up_c(x: u32, y: u32) -> f32 {
    let tx = up_taps(x);
    let ty = up_taps(y);
    let src = vec2<i32>(src_size());
    let w = src.x;
    let h = src.y;
    var sum = 0.0;
    for (var j = 0; j < 3; j++) {
        let wy = select(select(ty.w, ty.z, j == 1), ty.y, j == 0);
        let yy = clamp(i32(ty.x) + j, 0, h - 1);
        var row = 0.0;
        for (var i = 0; i < 3; i++) {
            let wx = select(select(tx.w, tx.z, i == 1), tx.y, i == 0);
            let xx = clamp(i32(tx.x) + i, 0, w - 1);
            row += wx * c[u32(yy * w + xx)];
        }
        sum += wy * row;
    }
    return sum;
}

fn up_a(x: u32, y: u32) -> f32 {
    let tx = up_taps(x);
    let ty = up_taps(y);
    let src = vec2<i32>(src_size());
    let w = src.x;
    let h = src.y;
    var sum = 0.0;
    for (var j = 0; j < 3; j++) {
        let wy = select(select(ty.w, ty.z, j == 1), ty.y, j == 0);
        let yy = clamp(i32(ty.x) + j, 0, h - 1);
        var row = 0.0;
        for (var i = 0; i < 3; i++) {
            let wx = select(select(tx.w, tx.z, i == 1), tx.y, i == 0);
            let xx = clamp(i32(tx.x) + i, 0, w - 1);
            row += wx * a[u32(yy * w + xx)];
        }
        sum += wy * row;
    }
    return sum;
}

// (index, x, y) of this invocation's output pixel; the index is past the plane when it has none.
fn pixel(gid: vec3<u32>, groups: vec3<u32>) -> vec3<u32> {
    let i = linear_index(gid, groups, 256u);
    let dst = dst_size();
    let w = max(dst.x, 1u);
    return vec3<u32>(select(i, 0xffffffffu, i >= dst.x * dst.y), i % w, i / w);
}

@compute @workgroup_size(256)
fn down(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = pixel(gid, groups);
    if p.x == 0xffffffffu {
        return;
    }
    let src = vec2<i32>(src_size());
    let w = src.x;
    let h = src.y;
    var sum = 0.0;
    for (var j = 0; j < 5; j++) {
        let yy = reflect101(2 * i32(p.z) + j - 2, h);
        var row = 0.0;
        for (var i = 0; i < 5; i++) {
            let xx = reflect101(2 * i32(p.y) + i - 2, w);
            row += k5(i) * a[u32(yy * w + xx)];
        }
        sum += k5(j) * row;
    }
    out[p.x] = sum / 256.0;
}

@compute @workgroup_size(256)
fn up(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = pixel(gid, groups);
    if p.x == 0xffffffffu {
        return;
    }
    out[p.x] = up_a(p.y, p.z);
}

@compute @workgroup_size(256)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = pixel(gid, groups);
    if p.x == 0xffffffffu {
        return;
    }
    var lap = a[p.x];
    if params.has_next != 0u {
        lap -= up_b(p.y, p.z);
    }
    let w = c[p.x];
    out[p.x] += lap * w;
    out2[p.x] += w;
}

@compute @workgroup_size(256)
fn collapse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let p = pixel(gid, groups);
    if p.x == 0xffffffffu {
        return;
    }
    let wsum = b[p.x];
    var v = select(0.0, a[p.x] / wsum, wsum > 1e-5);
    if params.has_next != 0u {
        v += up_c(p.y, p.z);
    }
    out[p.x] = v;
}
