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

pub mod pyramid;

use crate::gpu::GpuImage;
use crate::gpu::shaders::{KernelId, kernels};
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, PixelFormat};
use crate::pipeline::{Bind, Recorder, Table};
use crate::stitch::atlas::{AtlasEntry, atlas_sample};
use crate::{Error, Result};

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

/// Where the blend kernels find the station records.
#[derive(Debug, Clone, Copy)]
pub enum Records<'a> {
    /// Words made on the host (the tests' oracle builds them), uploaded with each dispatch.
    Host(&'a [u32]),
    /// Records a kernel wrote on the GPU (`shaders/stitch_layout.wgsl`, see
    /// [`crate::stitch::place`]), for `count` stations: nothing waits for them on the host.
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
    /// The canvas a GPU-decided plan holds at word `base` ([`crate::stitch::plan`]): planes are allocated
    /// for the largest canvas and used row-major at the plan's size (level *l*: ⌈·/2⌉ *l* times).
    Plan {
        /// The plan.
        plan: &'a GpuImage,
        /// Word of the canvas width (the height follows).
        base: u32,
    },
}

impl<'a> Sizing<'a> {
    pub(crate) fn base(&self) -> u32 {
        match self {
            Sizing::Fixed => NO_PLAN,
            Sizing::Plan { base, .. } => *base,
        }
    }

    /// The plan binding (the engine's empty table when sizes are fixed).
    pub(crate) fn bind(&self, empty: &'a Table) -> Bind<'a> {
        match self {
            Sizing::Fixed => Bind::Table(empty),
            Sizing::Plan { plan, .. } => Bind::Image(plan),
        }
    }
}

pub(crate) fn f32_plane(rec: &mut Recorder<'_>, w: u32, h: u32) -> Result<GpuImage> {
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

pub(crate) fn place_sized(
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
        placement: crate::stitch::layout::Placement::new(
            [0.0, 0.0],
            records[base + 1],
            records[base + 2],
        ),
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
