//! Multi-band blending (Burt & Adelson; OpenCV MultiBandBlender) on the GPU
//! (`shaders/stitch_pyramid.wgsl`): each station placed on the whole canvas with its hard mask
//! ([`super`]'s `place`), Gaussian and Laplacian pyramids of both, the Laplacian levels accumulated
//! under the mask's Gaussian levels, and the sum collapsed. The `reference_*` functions are the same
//! kernels on the CPU (f32, the shaders' summation order).
//!
//! Why its own file: the pyramid is a model of its own (its kernels, its level sizes, its CPU
//! references), used only by the multi-band mode of the blend.

use super::{Records, Sizing, f32_plane, place_sized};
use crate::gpu::GpuImage;
use crate::gpu::shaders::{KernelId, kernels};
use crate::gpu::workgroups_1d;
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Result};

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_pyramid.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct PyramidUniform = STITCH_PYRAMID_PARAMS {
        src_w: u32,
        src_h: u32,
        dst_w: u32,
        dst_h: u32,
        has_next: u32,
        plan_base: u32,
        src_level: u32,
        dst_level: u32,
    }
}

/// The size of the next pyramid level (`⌈w/2⌉ × ⌈h/2⌉`, as cv::pyrDown).
pub fn half(size: [u32; 2]) -> [u32; 2] {
    [size[0].div_ceil(2), size[1].div_ceil(2)]
}

#[allow(clippy::too_many_arguments)]
fn dispatch_pyramid(
    rec: &mut Recorder<'_>,
    entry: KernelId,
    src: [u32; 2],
    dst: [u32; 2],
    has_next: bool,
    reads: [Option<&GpuImage>; 3],
    out: &GpuImage,

    out2: Option<&GpuImage>,
    sizing: Sizing<'_>,
    levels: [u32; 2],
) -> Result<()> {
    let kernel = rec.engine().shaders().kernel(entry)?;
    let params = rec.uniform(
        &PyramidUniform {
            src_w: src[0],
            src_h: src[1],
            dst_w: dst[0],
            dst_h: dst[1],
            has_next: u32::from(has_next),
            plan_base: sizing.base(),
            src_level: levels[0],
            dst_level: levels[1],
        },
        "stitch_pyramid params",
    )?;
    let empty = rec.storage_table(&[], "stitch_pyramid no plan")?;
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    let groups = workgroups_1d(u64::from(dst[0]) * u64::from(dst[1]), 256, max);

    // `down` and `up` read one plane and write one; `accumulate` writes two.
    let mut binds = vec![
        (0, Bind::Pooled(&params)),
        (4, Bind::Image(out)),
        (6, sizing.bind(&empty)),
    ];
    binds.extend(
        (1..)
            .zip(reads)
            .filter_map(|(n, r)| r.map(|r| (n, Bind::Image(r)))),
    );
    binds.extend(out2.map(|o| (5, Bind::Image(o))));
    rec.dispatch(&kernel, &binds, groups)
}

/// Records cv::pyrDown of an f32 plane.
pub fn encode_down(rec: &mut Recorder<'_>, src: &GpuImage) -> Result<GpuImage> {
    down_sized(rec, src, Sizing::Fixed, 0)
}

/// pyrDown of level `level` into a plane allocated at half the source plane's allocation.
fn down_sized(
    rec: &mut Recorder<'_>,
    src: &GpuImage,
    sizing: Sizing<'_>,
    level: u32,
) -> Result<GpuImage> {
    let s = [src.width, src.height];
    let d = half(s);
    let out = f32_plane(rec, d[0], d[1])?;
    let (reads, levels) = ([Some(src), None, None], [level, level + 1]);
    dispatch_pyramid(
        rec,
        kernels::STITCH_PYRAMID_DOWN,
        s,
        d,
        false,
        reads,
        &out,
        None,
        sizing,
        levels,
    )?;
    Ok(out)
}

/// Records pyrUp of an f32 plane to `size`.
pub fn encode_up(rec: &mut Recorder<'_>, src: &GpuImage, size: [u32; 2]) -> Result<GpuImage> {
    let out = f32_plane(rec, size[0], size[1])?;
    let s = [src.width, src.height];
    let reads = [Some(src), None, None];
    dispatch_pyramid(
        rec,
        kernels::STITCH_PYRAMID_UP,
        s,
        size,
        false,
        reads,
        &out,
        None,
        Sizing::Fixed,
        [0, 0],
    )?;
    Ok(out)
}

/// Records `acc += (g − up(next))·w; wsum += w` (`next` = None at the top level).
pub fn encode_accumulate(
    rec: &mut Recorder<'_>,
    g: &GpuImage,
    next: Option<&GpuImage>,
    w: &GpuImage,
    acc: &GpuImage,
    wsum: &GpuImage,
) -> Result<()> {
    accumulate_sized(rec, g, next, w, [acc, wsum], Sizing::Fixed, 0)
}

/// [`encode_accumulate`] at pyramid level `level`.
fn accumulate_sized(
    rec: &mut Recorder<'_>,
    g: &GpuImage,
    next: Option<&GpuImage>,
    w: &GpuImage,
    [acc, wsum]: [&GpuImage; 2],
    sizing: Sizing<'_>,
    level: u32,
) -> Result<()> {
    let n = next.unwrap_or(g);
    let src_level = level + u32::from(next.is_some());
    dispatch_pyramid(
        rec,
        kernels::STITCH_PYRAMID_ACCUMULATE,
        [n.width, n.height],
        [g.width, g.height],
        next.is_some(),
        [Some(g), Some(n), Some(w)],
        acc,
        Some(wsum),
        sizing,
        [src_level, level],
    )
}

/// Records `out = acc / wsum + up(next)` (`next` = None at the top level).
pub fn encode_collapse(
    rec: &mut Recorder<'_>,
    acc: &GpuImage,
    wsum: &GpuImage,
    next: Option<&GpuImage>,
) -> Result<GpuImage> {
    collapse_sized(rec, acc, wsum, next, Sizing::Fixed, 0)
}

/// [`encode_collapse`] at pyramid level `level`.
fn collapse_sized(
    rec: &mut Recorder<'_>,
    acc: &GpuImage,
    wsum: &GpuImage,
    next: Option<&GpuImage>,
    sizing: Sizing<'_>,
    level: u32,
) -> Result<GpuImage> {
    let out = f32_plane(rec, acc.width, acc.height)?;
    let n = next.unwrap_or(acc);
    let src_level = level + u32::from(next.is_some());
    dispatch_pyramid(
        rec,
        kernels::STITCH_PYRAMID_COLLAPSE,
        [n.width, n.height],
        [acc.width, acc.height],
        next.is_some(),
        [Some(acc), Some(wsum), Some(n)],
        &out,
        None,
        sizing,
        [src_level, level],
    )?;
    Ok(out)
}

fn reflect101(i: i64, n: i64) -> i64 {
    let j = if i < 0 { -i } else { i };
    let j = if j >= n { 2 * n - 2 - j } else { j };
    j.clamp(0, n - 1)
}

const K5: [f32; 5] = [1.0, 4.0, 6.0, 4.0, 1.0];

/// cv::pyrDown on the CPU (f32, the shader's summation order).
pub fn reference_down(src: &[f32], size: [u32; 2]) -> Vec<f32> {
    let (w, h) = (i64::from(size[0]), i64::from(size[1]));
    let d = half(size);
    let mut out = Vec::with_capacity(d[0] as usize * d[1] as usize);
    for y in 0..i64::from(d[1]) {
        for x in 0..i64::from(d[0]) {
            let mut sum = 0.0f32;
            for (j, kj) in K5.iter().enumerate() {
                let yy = reflect101(2 * y + j as i64 - 2, h);
                let mut row = 0.0f32;
                for (i, ki) in K5.iter().enumerate() {
                    let xx = reflect101(2 * x + i as i64 - 2, w);
                    row += ki * src[(yy * w + xx) as usize];
                }
                sum += kj * row;
            }
            out.push(sum / 256.0);
        }
    }
    out
}

fn up_taps(v: u32) -> (i64, [f32; 3]) {
    let m = i64::from(v >> 1);
    if v & 1 == 0 {
        (m - 1, [0.125, 0.75, 0.125])
    } else {
        (m, [0.5, 0.5, 0.0])
    }
}

fn up_at(src: &[f32], size: [u32; 2], x: u32, y: u32) -> f32 {
    let (w, h) = (i64::from(size[0]), i64::from(size[1]));
    let (fx, wx) = up_taps(x);
    let (fy, wy) = up_taps(y);
    let mut sum = 0.0f32;
    for (j, wyj) in wy.iter().enumerate() {
        let yy = (fy + j as i64).clamp(0, h - 1);
        let mut row = 0.0f32;
        for (i, wxi) in wx.iter().enumerate() {
            let xx = (fx + i as i64).clamp(0, w - 1);
            row += wxi * src[(yy * w + xx) as usize];
        }
        sum += wyj * row;
    }
    sum
}

/// pyrUp to `dst` on the CPU.
pub fn reference_up(src: &[f32], size: [u32; 2], dst: [u32; 2]) -> Vec<f32> {
    (0..dst[1])
        .flat_map(|y| (0..dst[0]).map(move |x| (x, y)))
        .map(|(x, y)| up_at(src, size, x, y))
        .collect()
}

/// The accumulate step on the CPU (in place).
pub fn reference_accumulate(
    g: &[f32],
    size: [u32; 2],
    next: Option<(&[f32], [u32; 2])>,
    w: &[f32],
    acc: &mut [f32],
    wsum: &mut [f32],
) {
    for y in 0..size[1] {
        for x in 0..size[0] {
            let i = (y * size[0] + x) as usize;
            let mut lap = g[i];
            if let Some((n, ns)) = next {
                lap -= up_at(n, ns, x, y);
            }
            acc[i] += lap * w[i];
            wsum[i] += w[i];
        }
    }
}

/// The collapse step on the CPU.
pub fn reference_collapse(
    acc: &[f32],
    wsum: &[f32],
    size: [u32; 2],
    next: Option<(&[f32], [u32; 2])>,
) -> Vec<f32> {
    (0..size[1])
        .flat_map(|y| (0..size[0]).map(move |x| (x, y)))
        .map(|(x, y)| {
            let i = (y * size[0] + x) as usize;
            let mut v = if wsum[i] > 1e-5 {
                acc[i] / wsum[i]
            } else {
                0.0
            };
            if let Some((n, ns)) = next {
                v += up_at(n, ns, x, y);
            }
            v
        })
        .collect()
}

/// Largest useful number of bands for a canvas: levels until a side would drop below 2 pixels.
pub fn max_bands(canvas: [u32; 2]) -> u32 {
    let m = canvas[0].min(canvas[1]).max(1);
    (31 - m.leading_zeros()).saturating_sub(1)
}

/// Multi-band blending of every station into an f32 canvas: one submission per station (so only one
/// station's pyramids are alive at a time) and one for the collapse. The planes are allocated at
/// `canvas` and its levels and used at the size `sizing` gives (the same, or a GPU-decided plan's).
pub fn multiband(
    engine: &Engine,
    atlas: &GpuImage,
    records: Records<'_>,
    canvas: [u32; 2],
    bands: u32,
    sizing: Sizing<'_>,
) -> Result<GpuImage> {
    let levels = bands.min(max_bands(canvas)) as usize;
    let mut sizes = vec![canvas];
    for _ in 0..levels {
        let last = sizes[sizes.len() - 1];
        sizes.push(half(last));
    }
    let mut acc = Vec::with_capacity(sizes.len());
    let mut wsum = Vec::with_capacity(sizes.len());
    {
        let mut rec = Recorder::new(engine);
        for s in &sizes {
            let a = f32_plane(&mut rec, s[0], s[1])?;
            let w = f32_plane(&mut rec, s[0], s[1])?;
            rec.encoder().clear_buffer(a.buffer.buffer(), 0, None);
            rec.encoder().clear_buffer(w.buffer.buffer(), 0, None);
            acc.push(a);
            wsum.push(w);
        }
        rec.submit()?;
    }
    for k in 0..records.count() {
        let mut rec = Recorder::new(engine);
        let (g0, w0) = place_sized(&mut rec, atlas, records, canvas, k, sizing)?;
        let mut g = vec![g0];
        let mut w = vec![w0];
        for l in 0..levels {
            let gn = down_sized(&mut rec, &g[l], sizing, l as u32)?;
            let wn = down_sized(&mut rec, &w[l], sizing, l as u32)?;
            g.push(gn);
            w.push(wn);
        }
        for l in 0..=levels {
            let sums = [&acc[l], &wsum[l]];
            accumulate_sized(&mut rec, &g[l], g.get(l + 1), &w[l], sums, sizing, l as u32)?;
        }
        rec.submit()?;
    }
    let mut rec = Recorder::new(engine);
    let top = levels as u32;
    let mut out = collapse_sized(&mut rec, &acc[levels], &wsum[levels], None, sizing, top)?;
    for l in (0..levels).rev() {
        out = collapse_sized(&mut rec, &acc[l], &wsum[l], Some(&out), sizing, l as u32)?;
    }
    rec.submit()?;
    Ok(out)
}
