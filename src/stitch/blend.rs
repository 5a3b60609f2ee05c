//! Blending: how overlapping stations become one canvas without a seam, natively on 16-bit
//! monochrome data (OpenCV's blenders take 8-bit colour only).
//!
//! - `linear`: a linear ramp across each overlap, what the original C++ tool did: a station's weight
//!   falls from 1 to 0 across the overlap it shares with a neighbour, along the stacking direction.
//! - `feather`: OpenCV FeatherBlender's weight, `min(1, sharpness · distance to the station's edge)`
//!   (default sharpness 0.02: full weight 50 px inside), in every direction.
//! - `multiband`: Burt & Adelson's Laplacian-pyramid blending (OpenCV MultiBandBlender): each station
//!   is placed on the whole canvas (edges replicated, so no false edge enters the pyramid) with a hard
//!   mask that is 1 where it has the largest linear weight (the seam runs through the middle of each
//!   overlap); Laplacian levels of the image are blended with Gaussian levels of the mask and collapsed.
//!   Low frequencies cross the seam over a wide band, fine detail over a narrow one.
//!
//! The station records (`shaders/stitch_blend.wgsl`) carry the canvas → station map, so blending also
//! performs the sub-pixel placement and any small rotation: one bilinear resampling per station.

use super::compose::{AtlasEntry, atlas_sample};
use super::layout::{Layout, overlap};
use crate::gpu::GpuImage;
use crate::gpu::shaders::{KernelId, kernels};
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, PixelFormat};
use crate::pipeline::{Bind, Recorder, Table};
use crate::{Engine, Error, Result};

/// How overlapping stations are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlendMode {
    /// Linear ramp across each overlap.
    #[default]
    Linear,
    /// Distance-to-edge weights (OpenCV FeatherBlender).
    Feather,
    /// Laplacian pyramids (OpenCV MultiBandBlender).
    Multiband,
}

impl std::str::FromStr for BlendMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(BlendMode::Linear),
            "feather" => Ok(BlendMode::Feather),
            "multiband" => Ok(BlendMode::Multiband),
            _ => Err(Error::InvalidParams(format!(
                "--blend '{s}': use linear, feather or multiband"
            ))),
        }
    }
}

/// Words per station record in `shaders/stitch_blend.wgsl`.
pub const RECORD_WORDS: usize = 16;

/// Ramp lengths `[left, right, top, bottom]` per station (station pixels; 0 = no ramp).
pub fn ramps(layout: &Layout, mode: BlendMode, sharpness: f64) -> Vec<[f32; 4]> {
    match mode {
        BlendMode::Feather => {
            let r = (1.0 / sharpness.max(1e-6)) as f32;
            vec![[r; 4]; layout.stations.len()]
        }
        BlendMode::Linear | BlendMode::Multiband => {
            let mut out = vec![[0.0f32; 4]; layout.stations.len()];
            for i in 0..layout.stations.len() {
                for j in i + 1..layout.stations.len() {
                    let (a, b) = (&layout.stations[i], &layout.stations[j]);
                    let Some(r) = overlap(a, b) else { continue };
                    let (ow, oh) = ((r[2] - r[0]) as f32, (r[3] - r[1]) as f32);
                    let (ca, cb) = (a.bbox(), b.bbox());
                    if oh <= ow {
                        // Stacked vertically: the upper one ramps at its bottom, the lower at its top.
                        let (up, down) = if ca[1] <= cb[1] { (i, j) } else { (j, i) };
                        out[up][3] = out[up][3].max(oh);
                        out[down][2] = out[down][2].max(oh);
                    } else {
                        let (left, right) = if ca[0] <= cb[0] { (i, j) } else { (j, i) };
                        out[left][1] = out[left][1].max(ow);
                        out[right][0] = out[right][0].max(ow);
                    }
                }
            }
            out
        }
    }
}

/// The station records: atlas offset, size, canvas → station map, ramps.
pub fn records(entries: &[AtlasEntry], ramps: &[[f32; 4]]) -> Vec<u32> {
    let mut words = Vec::with_capacity(entries.len() * RECORD_WORDS);
    for (e, r) in entries.iter().zip(ramps) {
        let m = e.placement.canvas_to_station();
        words.extend([e.offset, e.placement.width, e.placement.height, 0]);
        words.extend(m.iter().map(|&v| (v as f32).to_bits()));
        words.extend(r.iter().map(|v| v.to_bits()));
        words.extend([0, 0]);
    }
    words
}

/// Where the blend kernels find the station records.
#[derive(Debug, Clone, Copy)]
pub enum Records<'a> {
    /// Words made on the host by [`records`], uploaded with each dispatch.
    Host(&'a [u32]),
    /// Records a kernel wrote on the GPU (`shaders/stitch_layout.wgsl`, see
    /// [`super::resident`]), for `count` stations: nothing waits for them on the host.
    Gpu {
        /// `count · RECORD_WORDS` words.
        table: &'a GpuImage,
        /// Stations.
        count: u32,
    },
}

impl Records<'_> {
    /// Stations described.
    pub fn count(&self) -> u32 {
        match self {
            Records::Host(words) => (words.len() / RECORD_WORDS) as u32,
            Records::Gpu { count, .. } => *count,
        }
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_blend.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct BlendUniform = STITCH_BLEND_PARAMS {
        canvas_w: u32,
        canvas_h: u32,
        count: u32,
        station: u32,
        plan_base: u32,
        _p: [u32; 3],
    }
}

/// `plan_base` of the blend and pyramid uniforms when the sizes are the uniform's own.
const NO_PLAN: u32 = u32::MAX;

/// Where the blend and pyramid kernels take the canvas size from.
#[derive(Debug, Clone, Copy)]
pub enum Sizing<'a> {
    /// The planes' own sizes (known on the host).
    Fixed,
    /// The canvas a GPU-decided plan holds at word `base` (`super::resident`): planes are allocated
    /// for the largest canvas and used row-major at the plan's size (level *l*: ⌈·/2⌉ *l* times).
    Plan {
        /// The plan.
        plan: &'a GpuImage,
        /// Word of the canvas width (the height follows).
        base: u32,
    },
}

impl<'a> Sizing<'a> {
    fn base(&self) -> u32 {
        match self {
            Sizing::Fixed => NO_PLAN,
            Sizing::Plan { base, .. } => *base,
        }
    }

    /// The plan binding (the engine's empty table when sizes are fixed).
    fn bind(&self, empty: &'a Table) -> Bind<'a> {
        match self {
            Sizing::Fixed => Bind::Table(empty),
            Sizing::Plan { plan, .. } => Bind::Image(plan),
        }
    }
}

fn f32_plane(rec: &mut Recorder<'_>, w: u32, h: u32) -> Result<GpuImage> {
    rec.alloc_image(w, h, PixelFormat::F32, Geometry::default())
}

fn words_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Records the one-pass weighted blend of every station into an f32 canvas.
pub fn encode_blend(
    rec: &mut Recorder<'_>,
    atlas: &GpuImage,
    records: Records<'_>,
    canvas: [u32; 2],
) -> Result<GpuImage> {
    encode_blend_sized(rec, atlas, records, canvas, Sizing::Fixed)
}

/// [`encode_blend`] into a plane allocated at `canvas`, used at the size `sizing` says.
pub fn encode_blend_sized(
    rec: &mut Recorder<'_>,
    atlas: &GpuImage,
    records: Records<'_>,
    canvas: [u32; 2],
    sizing: Sizing<'_>,
) -> Result<GpuImage> {
    let out = f32_plane(rec, canvas[0], canvas[1])?;
    dispatch_blend(
        rec,
        kernels::STITCH_BLEND_BLEND,
        atlas,
        records,
        canvas,
        0,
        &out,
        None,
        sizing,
    )?;
    Ok(out)
}

/// Records station `target` placed on the whole canvas and its hard mask (two f32 planes).
pub fn encode_place(
    rec: &mut Recorder<'_>,
    atlas: &GpuImage,
    records: Records<'_>,
    canvas: [u32; 2],
    target: u32,
) -> Result<(GpuImage, GpuImage)> {
    place_sized(rec, atlas, records, canvas, target, Sizing::Fixed)
}

fn place_sized(
    rec: &mut Recorder<'_>,
    atlas: &GpuImage,
    records: Records<'_>,
    canvas: [u32; 2],
    target: u32,
    sizing: Sizing<'_>,
) -> Result<(GpuImage, GpuImage)> {
    let value = f32_plane(rec, canvas[0], canvas[1])?;
    let mask = f32_plane(rec, canvas[0], canvas[1])?;
    dispatch_blend(
        rec,
        kernels::STITCH_BLEND_PLACE,
        atlas,
        records,
        canvas,
        target,
        &value,
        Some(&mask),
        sizing,
    )?;
    Ok((value, mask))
}

#[allow(clippy::too_many_arguments)]
fn dispatch_blend(
    rec: &mut Recorder<'_>,
    entry: KernelId,
    atlas: &GpuImage,
    records: Records<'_>,
    canvas: [u32; 2],
    target: u32,
    out: &GpuImage,
    out2: Option<&GpuImage>,
    sizing: Sizing<'_>,
) -> Result<()> {
    let count = records.count();
    if count == 0 || target >= count {
        return Err(Error::InvalidParams("blend: no such station".into()));
    }
    let kernel = rec.engine().shaders().kernel(entry)?;
    let params = rec.uniform(
        &BlendUniform {
            canvas_w: canvas[0],
            canvas_h: canvas[1],
            count,
            station: target,
            plan_base: sizing.base(),
            _p: [0; 3],
        },
        "stitch_blend params",
    )?;
    let empty = rec.storage_table(&[], "stitch_blend no plan")?;
    let uploaded;
    let table = match records {
        Records::Host(words) => {
            uploaded = rec.storage_table(&words_bytes(words), "stitch_blend stations")?;
            Bind::Table(&uploaded)
        }
        Records::Gpu { table, .. } => Bind::Image(table),
    };
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    let groups = workgroups_1d(u64::from(canvas[0]) * u64::from(canvas[1]), 256, max);
    let mut binds = vec![
        (0, Bind::Pooled(&params)),
        (1, Bind::Image(atlas)),
        (2, table),
        (3, Bind::Image(out)),
        (5, sizing.bind(&empty)),
    ];
    // Only `place` writes a second plane (the mask).
    binds.extend(out2.map(|m| (4, Bind::Image(m))));
    rec.dispatch(&kernel, &binds, groups)
}

fn record_field(records: &[u32], k: usize, j: usize) -> f32 {
    f32::from_bits(records[k * RECORD_WORDS + j])
}

fn ramp(d: f32, length: f32) -> f32 {
    if length <= 0.0 {
        1.0
    } else {
        (d / length).min(1.0)
    }
}

/// (weight, sx, sy) of station `k` at canvas pixel (x, y), as the shader computes it.
fn weight(records: &[u32], k: usize, x: f32, y: f32) -> (f32, f32, f32) {
    let w = records[k * RECORD_WORDS + 1] as f32;
    let h = records[k * RECORD_WORDS + 2] as f32;
    let f = |j| record_field(records, k, j);
    let sx = f(4) * x + f(5) * y + f(6);
    let sy = f(7) * x + f(8) * y + f(9);
    let (dl, dr, dt, db) = (sx + 0.5, w - 0.5 - sx, sy + 0.5, h - 0.5 - sy);
    let inside = dl.min(dr).min(dt.min(db)) > 0.0;
    let wt = ramp(dl, f(10))
        .min(ramp(dr, f(11)))
        .min(ramp(dt, f(12)).min(ramp(db, f(13))));
    (if inside { wt } else { 0.0 }, sx, sy)
}

fn entry_of(records: &[u32], k: usize) -> AtlasEntry {
    let base = k * RECORD_WORDS;
    AtlasEntry {
        offset: records[base],
        placement: super::layout::Placement::new([0.0, 0.0], records[base + 1], records[base + 2]),
    }
}

/// The one-pass blend on the CPU.
pub fn reference_blend(atlas: &[f32], records: &[u32], canvas: [u32; 2]) -> Vec<f32> {
    let count = records.len() / RECORD_WORDS;
    let entries: Vec<AtlasEntry> = (0..count).map(|k| entry_of(records, k)).collect();
    let mut out = vec![0.0f32; canvas[0] as usize * canvas[1] as usize];
    for (i, o) in out.iter_mut().enumerate() {
        let (x, y) = (
            (i % canvas[0] as usize) as f32,
            (i / canvas[0] as usize) as f32,
        );
        let (mut acc, mut wsum) = (0.0f32, 0.0f32);
        for (k, e) in entries.iter().enumerate() {
            let (wt, sx, sy) = weight(records, k, x, y);
            if wt > 0.0 {
                acc += wt * atlas_sample(atlas, e, sx, sy);
                wsum += wt;
            }
        }
        *o = if wsum > 0.0 { acc / wsum } else { 0.0 };
    }
    out
}

/// Station `target` placed on the canvas and its hard mask, on the CPU.
pub fn reference_place(
    atlas: &[f32],
    records: &[u32],
    canvas: [u32; 2],
    target: usize,
) -> (Vec<f32>, Vec<f32>) {
    let count = records.len() / RECORD_WORDS;
    let n = canvas[0] as usize * canvas[1] as usize;
    let e = entry_of(records, target);
    let (mut value, mut mask) = (vec![0.0f32; n], vec![0.0f32; n]);
    for i in 0..n {
        let (x, y) = (
            (i % canvas[0] as usize) as f32,
            (i / canvas[0] as usize) as f32,
        );
        let (mut best, mut best_w) = (count, 0.0f32);
        for k in 0..count {
            let (wt, _, _) = weight(records, k, x, y);
            if wt > best_w {
                best_w = wt;
                best = k;
            }
        }
        let (_, sx, sy) = weight(records, target, x, y);
        value[i] = atlas_sample(atlas, &e, sx, sy);
        mask[i] = if best == target { 1.0 } else { 0.0 };
    }
    (value, mask)
}

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

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_pack.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct PackUniform = STITCH_PACK_PARAMS {
        width: u32,
        height: u32,
        out_format: u32,
        _p: u32,
    }
}

/// Records an f32 plane → packed `format` samples (rounded to nearest, ties to even, clamped).
pub fn encode_pack(
    rec: &mut Recorder<'_>,
    src: &GpuImage,
    format: PixelFormat,
    geometry: Geometry,
) -> Result<GpuImage> {
    let out = rec.alloc_image(src.width, src.height, format, geometry)?;
    let kernel = rec.engine().shaders().kernel(kernels::STITCH_PACK_PACK)?;
    let params = rec.uniform(
        &PackUniform {
            width: src.width,
            height: src.height,
            out_format: format.shader_code(),
            _p: 0,
        },
        "stitch_pack params",
    )?;
    let words = format.gpu_bytes(src.pixel_count()) / 4;
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    let groups = workgroups_1d(words, 256, max);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&params)),
            (1, Bind::Image(src)),
            (2, Bind::Image(&out)),
        ],
        groups,
    )?;
    Ok(out)
}
