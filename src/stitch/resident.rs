//! A registered stitch with no CPU wait between its stages: the layout and the gains that follow from
//! the registration are decided on the GPU, so the search, the placement, the compensation, the blend
//! and the packing are recorded up front and the host waits once, for the finished canvas.
//!
//! Why: registration moves the stations, and everything after it depends on where they end up — the
//! canvas size, the overlaps the gains are solved over, the blend ramps. Done on the host, that is a
//! round trip in the middle of the pipeline (the search state back, the rest recorded after it), which
//! on a discrete GPU drains the queue. Here `shaders/stitch_layout.wgsl` turns the search's stored
//! corrections into final offsets, the canvas size and the blend records, and
//! `shaders/stitch_gain_solve.wgsl` sums the overlaps, solves the gain model in one invocation and
//! scales the atlas. The blend planes are allocated for the largest layout the search can produce
//! (the nominal canvas grown by the search reach) and used row-major at the size the GPU decided; the
//! host keeps the first w·h samples of the download, w and h read back in the same submission.
//!
//! Covers every compensation — `none`, `gain` (the default), `histogram` (tables built by
//! [`super::resident_histogram`]) and `blocks` (block gains solved by [`super::resident_blocks`] on
//! top of the gains) — with every blend mode: the blend and pyramid kernels take the canvas size from
//! the plan (`blend::Sizing::Plan`), so borders and level sizes are the exact canvas's. More than
//! [`MAX_STATIONS`] stations keep the host path in [`super::compose`], with its one wait in the middle. The arithmetic is
//! f32 throughout; [`reference_place`] and [`reference_gains`] are the same steps on the CPU, and the
//! end-to-end tests hold the result to the host path run on the offsets this one found.

use super::blend::{
    BlendMode, RECORD_WORDS, Records, Sizing, encode_blend_sized, encode_pack, multiband,
};
use super::compensate::{Compensation, Correction, GainModel};
use super::compose::{AtlasEntry, atlas_sample, encode_fill_atlas};
use super::layout::MAX_CANVAS_SIDE;
use super::resident_blocks::{block_keys, encode_blocks, relative_reach};
use super::resident_histogram::encode_histogram;
use super::search::{self, BLOCK, PairSpec, Refined, SearchParams, encode_search};
use std::sync::Arc;

use crate::gpu::GpuImage;
use crate::gpu::buffers::PooledBuffer;
use crate::gpu::shaders::kernels;
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, HostImage, PixelFormat, Pixels};
use crate::pipeline::{Bind, Recorder, Table};
use crate::{Engine, Error, Result};

/// Most stations the GPU solve handles (its normal equations live in one invocation's registers).
pub const MAX_STATIONS: usize = 16;
/// Plan block words: the station's final canvas offset (after the registration and the shift).
pub const OFFSET: usize = 10;
/// Plan block word: the station's gain.
pub const GAIN: usize = 12;
/// Global block words: canvas width and height.
pub const CANVAS: usize = 0;
/// Global block words: the shift added to every offset.
pub const SHIFT: usize = 2;
/// Global block word: 1 the layout fits the canvas allocated for it, 2 it does not.
pub const LAYOUT_STATUS: usize = 4;
/// Global block word: 0 gains not solved, 1 solved, 2 singular system, 3 gains not finite or not
/// positive.
pub const GAIN_STATUS: usize = 5;
/// Global block word: 0 block gains not solved, 1 solved, 2 the iterations did not converge, 3 gains
/// not finite.
pub const BLOCK_STATUS: usize = 6;
/// Canvas points sampled for the gain statistics: every `STRIDE`-th in each direction.
const STRIDE: i64 = 2;

/// Words of the station table (`shaders/common/placement.wgsl`): atlas offset, size, nominal offset,
/// cos and sin of the rotation.
pub fn station_table(entries: &[AtlasEntry]) -> Vec<u32> {
    let mut words = Vec::with_capacity(entries.len() * BLOCK as usize);
    for e in entries {
        let p = &e.placement;
        let (sin, cos) = p.angle.sin_cos();
        words.extend([e.offset, p.width, p.height, 0]);
        words.extend(
            [p.offset[0], p.offset[1], cos, sin]
                .iter()
                .map(|&v| (v as f32).to_bits()),
        );
        words.extend([0; 8]);
    }
    words
}

/// The canvas the blend runs on: the nominal canvas grown by twice the search's reach (an accepted
/// correction moves a station by less: its integer best lies inside the reach, plus at most ½ px) and
/// the rounding of the shift.
pub fn canvas_bound(nominal: [u32; 2], max_shift: f64) -> Result<[u32; 2]> {
    let reach = max_shift.max(0.0).ceil() as u64 + 1;
    let grow = |side: u32| u64::from(side) + 2 * reach + 4;
    let size = [grow(nominal[0]), grow(nominal[1])];
    if size.iter().any(|&s| s > u64::from(MAX_CANVAS_SIDE)) {
        return Err(Error::InvalidParams(format!(
            "stitched canvas up to {}x{} after registration is too large (at most {} per side)",
            size[0], size[1], MAX_CANVAS_SIDE
        )));
    }
    Ok([size[0] as u32, size[1] as u32])
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_layout.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct PlaceUniform = STITCH_LAYOUT_PARAMS {
        count: u32,
        feather: u32,
        feather_ramp: f32,
        max_w: u32,
        max_h: u32,
        _p: [u32; 3],
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/stitch_gain_solve.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct SolveUniform = STITCH_GAIN_SOLVE_PARAMS {
        count: u32,
        station: u32,
        unit: f32,
        alpha: f32,
        beta: f32,
        _p: [u32; 3],
    }
}

/// How the blend ramps are laid: `Some(length)` for FeatherBlender's constant ramp, `None` for linear
/// ramps over each overlap (linear and multi-band).
pub fn feather_ramp(mode: BlendMode, sharpness: f64) -> Option<f32> {
    (mode == BlendMode::Feather).then(|| (1.0 / sharpness.max(1e-6)) as f32)
}

fn station_count(entries: usize) -> Result<u32> {
    if !(2..=MAX_STATIONS).contains(&entries) {
        return Err(Error::InvalidParams(format!(
            "the GPU-resident stitch takes 2 to {MAX_STATIONS} stations, not {entries}"
        )));
    }
    Ok(entries as u32)
}

/// Records the layout: the plan (`BLOCK` words per station plus a global block) and the blend
/// records, both written on the GPU from the search state.
pub fn encode_place(
    rec: &mut Recorder<'_>,
    table: &Table,
    search: &GpuImage,
    count: usize,
    ramp: Option<f32>,
    max_canvas: [u32; 2],
) -> Result<(GpuImage, GpuImage)> {
    let n = station_count(count)?;
    let plan = rec.alloc_image((n + 1) * BLOCK, 1, PixelFormat::F32, Geometry::default())?;
    let records = rec.alloc_image(
        n * RECORD_WORDS as u32,
        1,
        PixelFormat::F32,
        Geometry::default(),
    )?;
    // Pooled buffers come back with old contents: the words no kernel writes (statuses of stages
    // that do not run, spare words) must read 0.
    rec.encoder().clear_buffer(plan.buffer.buffer(), 0, None);
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::STITCH_LAYOUT_PLACE)?;
    let params = rec.uniform(
        &PlaceUniform {
            count: n,
            feather: u32::from(ramp.is_some()),
            feather_ramp: ramp.unwrap_or(0.0),
            max_w: max_canvas[0],
            max_h: max_canvas[1],
            _p: [0; 3],
        },
        "stitch_layout params",
    )?;
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&params)),
            (1, Bind::Table(table)),
            (2, Bind::Image(search)),
            (3, Bind::Image(&plan)),
            (4, Bind::Image(&records)),
        ],
        [1, 1, 1],
    )?;
    Ok((plan, records))
}

/// Records the gain compensation: overlap sums, the solve, and every station's atlas samples scaled
/// by its gain. `unit` turns samples into 8-bit units (255 / the largest |sample|).
pub fn encode_gains(
    rec: &mut Recorder<'_>,
    table: &Table,
    plan: &GpuImage,
    atlas: &GpuImage,
    entries: &[AtlasEntry],
    unit: f64,
    model: &GainModel,
) -> Result<()> {
    let n = station_count(entries.len())?;
    let pairs = n * (n - 1) / 2;
    let sums = rec.alloc_image(pairs * 4, 1, PixelFormat::F32, Geometry::default())?;
    let uniform = |station: u32| SolveUniform {
        count: n,
        station,
        unit: unit as f32,
        alpha: (1.0 / (model.sigma_n * model.sigma_n)) as f32,
        beta: (1.0 / (model.sigma_g * model.sigma_g)) as f32,
        _p: [0; 3],
    };
    // `solve` reads no atlas, `scale` no sums: each passes only what its entry point reaches.
    fn binds<'a>(
        params: &'a Arc<PooledBuffer>,
        table: &'a Table,
        plan: &'a GpuImage,
        atlas: Option<&'a GpuImage>,
        sums: Option<&'a GpuImage>,
    ) -> Vec<(u32, Bind<'a>)> {
        let mut binds = vec![
            (0, Bind::Pooled(params)),
            (1, Bind::Table(table)),
            (2, Bind::Image(plan)),
        ];
        binds.extend(atlas.map(|a| (3, Bind::Image(a))));
        binds.extend(sums.map(|s| (4, Bind::Image(s))));
        binds
    }
    let shaders = rec.engine().shaders();
    let params = rec.uniform(&uniform(0), "stitch_gain_solve params")?;
    let kernel = shaders.kernel(kernels::STITCH_GAIN_SOLVE_OVERLAP_SUMS)?;
    rec.dispatch(
        &kernel,
        &binds(&params, table, plan, Some(atlas), Some(&sums)),
        [pairs, 1, 1],
    )?;
    let kernel = shaders.kernel(kernels::STITCH_GAIN_SOLVE_SOLVE)?;
    rec.dispatch(
        &kernel,
        &binds(&params, table, plan, None, Some(&sums)),
        [1, 1, 1],
    )?;
    let kernel = shaders.kernel(kernels::STITCH_GAIN_SOLVE_SCALE)?;
    let max = rec.engine().limits().max_compute_workgroups_per_dimension;
    for (k, e) in entries.iter().enumerate() {
        let params = rec.uniform(&uniform(k as u32), "stitch_gain_solve params")?;
        let pixels = u64::from(e.placement.width) * u64::from(e.placement.height);
        rec.dispatch(
            &kernel,
            &binds(&params, table, plan, Some(atlas), None),
            workgroups_1d(pixels, 256, max),
        )?;
    }
    Ok(())
}

/// What the plan says, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Canvas size.
    pub canvas: [u32; 2],
    /// The shift added to every offset (whole pixels).
    pub shift: [f64; 2],
    /// Each station's registration correction (zero when refused or not searched).
    pub corrections: Vec<[f64; 2]>,
    /// Final offset of every station as the GPU placed it (f32 arithmetic).
    pub offsets: Vec<[f64; 2]>,
    /// Gain of every station (1 when not compensated).
    pub gains: Vec<f64>,
}

/// Reads the plan words, refusing a layout that outgrew its canvas or gains that could not be solved
/// (with the host path's messages).
pub fn decode_plan(words: &[f32], count: usize) -> Result<Plan> {
    let g = count * BLOCK as usize;
    if words.len() < g + BLOCK as usize {
        return Err(Error::Gpu("stitch plan came back too short".into()));
    }
    if words[g + LAYOUT_STATUS] != 1.0 {
        return Err(Error::Gpu(format!(
            "registered layout {}x{} does not fit the canvas allocated for it",
            words[g + CANVAS],
            words[g + CANVAS + 1]
        )));
    }
    match words[g + GAIN_STATUS] as u32 {
        0 | 1 => {}
        2 => {
            return Err(Error::InvalidParams(
                "gain compensation: singular system (stations without overlap?)".into(),
            ));
        }
        _ => {
            return Err(Error::InvalidParams(
                "gain compensation found no valid gains".into(),
            ));
        }
    }
    match words[g + BLOCK_STATUS] as u32 {
        0 | 1 => {}
        2 => {
            return Err(Error::InvalidParams(
                "block gain compensation: the solve did not converge".into(),
            ));
        }
        _ => {
            return Err(Error::InvalidParams(
                "block gain compensation found no valid gains".into(),
            ));
        }
    }
    let block = |k: usize, w: usize| f64::from(words[k * BLOCK as usize + w]);
    Ok(Plan {
        canvas: [words[g + CANVAS] as u32, words[g + CANVAS + 1] as u32],
        shift: [f64::from(words[g + SHIFT]), f64::from(words[g + SHIFT + 1])],
        corrections: (0..count)
            .map(|k| {
                [
                    block(k, search::CORR as usize),
                    block(k, search::CORR as usize + 1),
                ]
            })
            .collect(),
        offsets: (0..count)
            .map(|k| [block(k, OFFSET), block(k, OFFSET + 1)])
            .collect(),
        gains: (0..count).map(|k| block(k, GAIN)).collect(),
    })
}

/// What the resident stitch needs besides the engine and the atlas.
#[derive(Debug, Clone)]
pub struct ResidentJob<'a> {
    /// The stations as uploaded (packed samples).
    pub uploaded: &'a [GpuImage],
    /// Atlas entries at their nominal (normalised) placements.
    pub entries: &'a [AtlasEntry],
    /// The nominal canvas.
    pub canvas: [u32; 2],
    /// Pairs to register.
    pub pairs: &'a [PairSpec],
    /// Search range and acceptance.
    pub search: SearchParams,
    /// Exposure compensation.
    pub compensate: Compensation,
    /// Each station's compensation neighbour (an earlier station; `None` for the first).
    pub neighbours: &'a [Option<usize>],
    /// 255 / the largest |sample| over all stations.
    pub unit: f64,
    /// Gain model.
    pub model: GainModel,
    /// Blending.
    pub blend: BlendMode,
    /// Multi-band levels.
    pub bands: u32,
    /// Feather sharpness.
    pub sharpness: f64,
    /// The stations' sample format (the canvas's).
    pub format: PixelFormat,
}

/// The resident stitch's result: the canvas (no geometry yet), the plan and each pair's registration.
#[derive(Debug, Clone)]
pub struct ResidentResult {
    /// The canvas: the first w·h samples of the planes, w×h as the GPU decided.
    pub image: HostImage,
    /// Final layout and gains.
    pub plan: Plan,
    /// Each pair's registration outcome, in `pairs` order.
    pub refined: Vec<Refined>,
}

/// Whether [`stitch_resident`] covers this station count (every compensation is covered).
pub fn covers(stations: usize) -> bool {
    (2..=MAX_STATIONS).contains(&stations)
}

/// Registers, lays out, compensates, blends and packs on the GPU; the host waits once, for the canvas
/// and the plan (two readbacks).
pub fn stitch_resident(
    engine: &Engine,
    atlas: &GpuImage,
    job: &ResidentJob<'_>,
) -> Result<ResidentResult> {
    if !covers(job.entries.len()) {
        return Err(Error::InvalidParams(format!(
            "the GPU-resident stitch takes 2 to {MAX_STATIONS} stations, not {}",
            job.entries.len()
        )));
    }
    if job.compensate == Compensation::Histogram {
        // Refuse a format without tables before any work, with the host path's message.
        super::compensate::lut_domain(job.format)?;
    }
    // The block keys come from the nominal layout, before anything is recorded.
    let block_keys = match job.compensate {
        Compensation::Blocks => Some(block_keys(
            job.entries,
            job.model.block_size,
            relative_reach(job.entries.len(), job.search.max_shift),
        )?),
        _ => None,
    };
    let count = job.entries.len();
    let max_canvas = canvas_bound(job.canvas, job.search.max_shift)?;
    let mut rec = Recorder::new(engine);
    let unity = vec![Correction::gain(1.0); count];
    encode_fill_atlas(&mut rec, job.uploaded, job.entries, &unity, atlas)?;
    let state = encode_search(&mut rec, atlas, job.entries, job.pairs, &job.search)?;
    let words: Vec<u8> = station_table(job.entries)
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    let table = rec.storage_table(&words, "stitch station table")?;
    let ramp = feather_ramp(job.blend, job.sharpness);
    let (plan, records) = encode_place(&mut rec, &table, &state, count, ramp, max_canvas)?;
    match job.compensate {
        Compensation::Gain | Compensation::Blocks => {
            encode_gains(
                &mut rec,
                &table,
                &plan,
                atlas,
                job.entries,
                job.unit,
                &job.model,
            )?;
            if let Some(keys) = &block_keys {
                encode_blocks(
                    &mut rec,
                    &table,
                    &plan,
                    atlas,
                    job.entries,
                    keys,
                    job.unit,
                    &job.model,
                )?;
            }
        }
        Compensation::Histogram => encode_histogram(
            &mut rec,
            &table,
            &plan,
            atlas,
            job.entries,
            job.neighbours,
            job.format,
            job.search.max_shift,
        )
        .map(|_tables| ())?,
        Compensation::None => {}
    }
    let records = Records::Gpu {
        table: &records,
        count: count as u32,
    };
    // The blend planes are allocated for the largest canvas and used at the plan's size, row-major:
    // the first w·h samples of the packed result are the canvas, with the exact canvas's borders and
    // pyramid level sizes.
    let sizing = Sizing::Plan {
        plan: &plan,
        base: (count * BLOCK as usize + CANVAS) as u32,
    };
    let blended = match job.blend {
        BlendMode::Linear | BlendMode::Feather => {
            encode_blend_sized(&mut rec, atlas, records, max_canvas, sizing)?
        }
        BlendMode::Multiband => {
            rec.submit()?;
            let out = multiband(engine, atlas, records, max_canvas, job.bands, sizing)?;
            rec = Recorder::new(engine);
            out
        }
    };
    let packed = encode_pack(&mut rec, &blended, job.format, Geometry::default())?;
    let canvas_download = rec.download(&packed)?;
    let plan_download = rec.download(&plan)?;
    rec.submit()?;
    let full = canvas_download.wait()?;
    let words = match plan_download.wait()?.pixels {
        Pixels::F32(v) => v,
        _ => return Err(Error::Gpu("stitch plan came back in another format".into())),
    };
    let plan = decode_plan(&words, count)?;
    let refined = search::decode(&words, job.pairs, &job.search)?;
    let image = first_samples(full, plan.canvas)?;
    Ok(ResidentResult {
        image,
        plan,
        refined,
    })
}

/// The first `w·h` samples of a plane allocated larger, as a `w`×`h` image.
fn first_samples(full: HostImage, [w, h]: [u32; 2]) -> Result<HostImage> {
    let n = w as usize * h as usize;
    if n > full.pixel_count() {
        return Err(Error::Gpu(format!(
            "stitch plan canvas {w}x{h} larger than the {}x{} allocated",
            full.width, full.height
        )));
    }
    fn first<T>(mut v: Vec<T>, n: usize) -> Vec<T> {
        v.truncate(n);
        v
    }
    let pixels = match full.pixels {
        Pixels::U8(v) => Pixels::U8(first(v, n)),
        Pixels::U16(v) => Pixels::U16(first(v, n)),
        Pixels::I16(v) => Pixels::I16(first(v, n)),
        Pixels::F32(v) => Pixels::F32(first(v, n)),
    };
    HostImage::new(w, h, pixels)
}

/// One station of the table, decoded as the shaders read it.
#[derive(Debug, Clone, Copy)]
pub(super) struct TableStation {
    pub(super) atlas: u32,
    pub(super) size: [u32; 2],
    nominal: [f32; 2],
    cos: f32,
    sin: f32,
}

impl TableStation {
    pub(super) fn read(table: &[u32], k: usize) -> Self {
        let w = &table[k * BLOCK as usize..(k + 1) * BLOCK as usize];
        TableStation {
            atlas: w[0],
            size: [w[1], w[2]],
            nominal: [f32::from_bits(w[4]), f32::from_bits(w[5])],
            cos: f32::from_bits(w[6]),
            sin: f32::from_bits(w[7]),
        }
    }

    fn centre(&self) -> [f32; 2] {
        [
            (self.size[0] as f32 - 1.0) * 0.5,
            (self.size[1] as f32 - 1.0) * 0.5,
        ]
    }

    fn canvas_point(&self, off: [f32; 2], s: [f32; 2]) -> [f32; 2] {
        let c = self.centre();
        let d = [s[0] - c[0], s[1] - c[1]];
        [
            off[0] + c[0] + self.cos * d[0] - self.sin * d[1],
            off[1] + c[1] + self.sin * d[0] + self.cos * d[1],
        ]
    }

    pub(super) fn station_point(&self, off: [f32; 2], p: [f32; 2]) -> [f32; 2] {
        let c = self.centre();
        let d = [p[0] - off[0] - c[0], p[1] - off[1] - c[1]];
        [
            c[0] + self.cos * d[0] + self.sin * d[1],
            c[1] - self.sin * d[0] + self.cos * d[1],
        ]
    }

    pub(super) fn covers(&self, off: [f32; 2], p: [f32; 2]) -> bool {
        let s = self.station_point(off, p);
        let (w, h) = (self.size[0] as f32, self.size[1] as f32);
        s[0] > -0.5 && s[1] > -0.5 && s[0] < w - 0.5 && s[1] < h - 0.5
    }

    pub(super) fn bbox(&self, off: [f32; 2]) -> [f32; 4] {
        let (w, h) = (self.size[0] as f32, self.size[1] as f32);
        let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
        for s in [
            [-0.5, -0.5],
            [w - 0.5, -0.5],
            [-0.5, h - 0.5],
            [w - 0.5, h - 0.5],
        ] {
            let p = self.canvas_point(off, s);
            b = [
                b[0].min(p[0]),
                b[1].min(p[1]),
                b[2].max(p[0]),
                b[3].max(p[1]),
            ];
        }
        b
    }

    /// Bilinear sample at station pixel coordinates `s`, as the shaders' `atlas_sample`.
    pub(super) fn sample(&self, atlas: &[f32], s: [f32; 2]) -> f32 {
        atlas_sample(atlas, &self.entry(), s[0], s[1])
    }

    /// The atlas entry [`atlas_sample`] reads (it uses only the atlas offset and the size).
    fn entry(&self) -> AtlasEntry {
        AtlasEntry {
            offset: self.atlas,
            placement: super::layout::Placement::new([0.0, 0.0], self.size[0], self.size[1]),
        }
    }
}

/// Final offsets of the stations as the plan holds them.
pub(super) fn plan_offsets(plan: &[f32], count: usize) -> Vec<[f32; 2]> {
    let b = BLOCK as usize;
    (0..count)
        .map(|k| [plan[k * b + OFFSET], plan[k * b + OFFSET + 1]])
        .collect()
}

/// Every `stride`-th canvas point of two stations' bounding-box overlap (counted from its first
/// whole-pixel point) that both cover, with each station's pixel coordinates there — the points the
/// resident shaders take their overlap statistics over.
pub(super) fn shared_points<'a>(
    (a, oa): (&'a TableStation, [f32; 2]),
    (b, ob): (&'a TableStation, [f32; 2]),
    stride: usize,
) -> impl Iterator<Item = ([f32; 2], [f32; 2])> + 'a {
    box_overlap(a.bbox(oa), b.bbox(ob))
        .into_iter()
        .flat_map(move |r| {
            let xs = r[0].ceil() as i64..=r[2].floor() as i64;
            let ys = r[1].ceil() as i64..=r[3].floor() as i64;
            ys.step_by(stride).flat_map(move |y| {
                xs.clone().step_by(stride).filter_map(move |x| {
                    let p = [x as f32, y as f32];
                    (a.covers(oa, p) && b.covers(ob, p))
                        .then(|| (a.station_point(oa, p), b.station_point(ob, p)))
                })
            })
        })
}

pub(super) fn box_overlap(a: [f32; 4], b: [f32; 4]) -> Option<[f32; 4]> {
    let r = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    (r[2] - r[0] >= 1.0 && r[3] - r[1] >= 1.0).then_some(r)
}

/// `shaders/stitch_layout.wgsl` on the CPU: the plan and the blend records from the station table and
/// the search state.
pub fn reference_place(
    table: &[u32],
    search: &[f32],
    count: usize,
    ramp: Option<f32>,
    max_canvas: [u32; 2],
) -> (Vec<f32>, Vec<u32>) {
    let b = BLOCK as usize;
    let mut plan = vec![0.0f32; (count + 1) * b];
    let mut records = vec![0u32; count * RECORD_WORDS];
    let stations: Vec<TableStation> = (0..count).map(|k| TableStation::read(table, k)).collect();
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    let mut offsets = Vec::with_capacity(count);
    for (k, st) in stations.iter().enumerate() {
        plan[k * b..k * b + 10].copy_from_slice(&search[k * b..k * b + 10]);
        let off = [
            st.nominal[0] + search[k * b],
            st.nominal[1] + search[k * b + 1],
        ];
        let bb = st.bbox(off);
        lo = [lo[0].min(bb[0]), lo[1].min(bb[1])];
        hi = [hi[0].max(bb[2]), hi[1].max(bb[3])];
        offsets.push(off);
        plan[k * b + GAIN] = 1.0;
    }
    let shift = [-(lo[0].floor() + 1.0), -(lo[1].floor() + 1.0)];
    let size = [(hi[0] + shift[0]).ceil(), (hi[1] + shift[1]).ceil()];
    let fits = size[0] >= 1.0
        && size[1] >= 1.0
        && size[0] <= max_canvas[0] as f32
        && size[1] <= max_canvas[1] as f32;
    let g = count * b;
    plan[g + CANVAS] = size[0];
    plan[g + CANVAS + 1] = size[1];
    plan[g + SHIFT] = shift[0];
    plan[g + SHIFT + 1] = shift[1];
    plan[g + LAYOUT_STATUS] = if fits { 1.0 } else { 2.0 };
    for (k, st) in stations.iter().enumerate() {
        let off = [offsets[k][0] + shift[0], offsets[k][1] + shift[1]];
        offsets[k] = off;
        plan[k * b + OFFSET] = off[0];
        plan[k * b + OFFSET + 1] = off[1];
        let c = st.centre();
        let t = [off[0] + c[0], off[1] + c[1]];
        let r = &mut records[k * RECORD_WORDS..(k + 1) * RECORD_WORDS];
        r[0] = st.atlas;
        r[1] = st.size[0];
        r[2] = st.size[1];
        let map = [
            st.cos,
            st.sin,
            c[0] - st.cos * t[0] - st.sin * t[1],
            -st.sin,
            st.cos,
            c[1] + st.sin * t[0] - st.cos * t[1],
        ];
        for (w, v) in r[4..10].iter_mut().zip(map) {
            *w = v.to_bits();
        }
        for w in &mut r[10..14] {
            *w = ramp.unwrap_or(0.0).to_bits();
        }
    }
    if ramp.is_none() {
        let mut set = |k: usize, side: usize, length: f32| {
            let w = &mut records[k * RECORD_WORDS + 10 + side];
            *w = f32::from_bits(*w).max(length).to_bits();
        };
        for i in 0..count {
            for j in i + 1..count {
                let (a, bb) = (stations[i].bbox(offsets[i]), stations[j].bbox(offsets[j]));
                let Some(r) = box_overlap(a, bb) else {
                    continue;
                };
                let (ow, oh) = (r[2] - r[0], r[3] - r[1]);
                if oh <= ow {
                    let (up, down) = if a[1] <= bb[1] { (i, j) } else { (j, i) };
                    set(up, 3, oh);
                    set(down, 2, oh);
                } else {
                    let (left, right) = if a[0] <= bb[0] { (i, j) } else { (j, i) };
                    set(left, 1, ow);
                    set(right, 0, ow);
                }
            }
        }
    }
    (plan, records)
}

/// `shaders/stitch_gain_solve.wgsl` on the CPU (sums in f64, the solve in f32): the plan with its
/// gains and gain status, and the atlas scaled.
pub fn reference_gains(
    table: &[u32],
    plan: &mut [f32],
    atlas: &mut [f32],
    count: usize,
    unit: f64,
    model: &GainModel,
) {
    let b = BLOCK as usize;
    let stations: Vec<TableStation> = (0..count).map(|k| TableStation::read(table, k)).collect();
    let offsets = plan_offsets(plan, count);
    let mut sums = Vec::new();
    for i in 0..count {
        for j in i + 1..count {
            let (si, sj) = (&stations[i], &stations[j]);
            let (mut n, mut a, mut c) = (0.0f64, 0.0f64, 0.0f64);
            for (s, t) in shared_points((si, offsets[i]), (sj, offsets[j]), STRIDE as usize) {
                n += 1.0;
                a += f64::from(si.sample(atlas, s));
                c += f64::from(sj.sample(atlas, t));
            }
            sums.push((i, j, n as f32, a as f32, c as f32));
        }
    }
    let alpha = (1.0 / (model.sigma_n * model.sigma_n)) as f32;
    let beta = (1.0 / (model.sigma_g * model.sigma_g)) as f32;
    let unit = unit as f32;
    let mut m = vec![vec![0.0f32; count]; count];
    let mut v = vec![0.0f32; count];
    for (k, st) in stations.iter().enumerate() {
        let area = st.size[0] as f32 * st.size[1] as f32;
        v[k] = beta * area;
        m[k][k] = beta * area;
    }
    for &(i, j, n, a, c) in &sums {
        if n <= 0.0 {
            continue;
        }
        let nij = n * (STRIDE * STRIDE) as f32;
        let (mi, mj) = (a / n * unit, c / n * unit);
        for (p, q, ip, iq) in [(i, j, mi, mj), (j, i, mj, mi)] {
            v[p] += beta * nij;
            m[p][p] += beta * nij + 2.0 * alpha * ip * ip * nij;
            m[p][q] -= 2.0 * alpha * ip * iq * nij;
        }
    }
    let mut status = 1.0f32;
    for col in 0..count {
        let mut pivot = col;
        for row in col + 1..count {
            if m[row][col].abs() > m[pivot][col].abs() {
                pivot = row;
            }
        }
        // NaN fails this test too, as in the shader.
        if matches!(
            m[pivot][col].abs().partial_cmp(&1.0e-30),
            None | Some(std::cmp::Ordering::Less)
        ) {
            status = 2.0;
            break;
        }
        m.swap(col, pivot);
        v.swap(col, pivot);
        let (upper, lower) = m.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (row, r) in lower.iter_mut().enumerate() {
            let f = r[col] / pivot_row[col];
            for (x, p) in r[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            v[col + 1 + row] -= f * v[col];
        }
    }
    let mut g = vec![0.0f32; count];
    if status == 1.0 {
        for row in (0..count).rev() {
            let s: f32 = (row + 1..count).map(|k| m[row][k] * g[k]).sum();
            g[row] = (v[row] - s) / m[row][row];
        }
        let g0 = g[0];
        for x in &mut g {
            *x /= g0;
            if !(*x > 0.0 && *x <= 3.0e38) {
                status = 3.0;
            }
        }
    }
    for (k, st) in stations.iter().enumerate() {
        let gain = if status == 1.0 { g[k] } else { 1.0 };
        plan[k * b + GAIN] = gain;
        let start = st.atlas as usize;
        let len = st.size[0] as usize * st.size[1] as usize;
        for x in &mut atlas[start..start + len] {
            *x *= gain;
        }
    }
    plan[count * b + GAIN_STATUS] = status;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_words(count: usize, layout: f32, gain: f32) -> Vec<f32> {
        let b = BLOCK as usize;
        let mut w = vec![0.0f32; (count + 1) * b];
        for k in 0..count {
            w[k * b + OFFSET] = 10.0 * k as f32;
            w[k * b + OFFSET + 1] = 0.5;
            w[k * b + GAIN] = 1.0 + k as f32 / 10.0;
        }
        let g = count * b;
        w[g + CANVAS] = 300.0;
        w[g + CANVAS + 1] = 200.0;
        w[g + SHIFT] = -3.0;
        w[g + LAYOUT_STATUS] = layout;
        w[g + GAIN_STATUS] = gain;
        w
    }

    #[test]
    fn a_plan_decodes_and_its_failures_are_named() {
        let plan = decode_plan(&plan_words(2, 1.0, 1.0), 2).expect("plan");
        assert_eq!(plan.canvas, [300, 200]);
        assert_eq!(plan.shift, [-3.0, 0.0]);
        assert_eq!(plan.offsets, vec![[0.0, 0.5], [10.0, 0.5]]);
        assert_eq!(plan.gains[0], 1.0);
        assert!((plan.gains[1] - 1.1).abs() < 1e-6);
        let err = |layout, gain| {
            decode_plan(&plan_words(2, layout, gain), 2)
                .expect_err("refused")
                .to_string()
        };
        assert!(err(2.0, 1.0).contains("does not fit"), "{}", err(2.0, 1.0));
        assert!(err(1.0, 2.0).contains("singular"), "{}", err(1.0, 2.0));
        assert!(
            err(1.0, 3.0).contains("no valid gains"),
            "{}",
            err(1.0, 3.0)
        );
        assert!(
            decode_plan(&[0.0; 8], 2).is_err(),
            "a short plan is refused"
        );
    }

    #[test]
    fn the_canvas_bound_holds_every_accepted_correction_and_refuses_oversize() {
        // For ±20 px the search's reach is 21 and an accepted integer best lies within ±20, so a
        // station moves at most 20.5 px per axis: the layout grows by at most 41 px plus 2 of
        // rounding; the bound allows 2 · 21 + 4 = 46.
        assert_eq!(
            canvas_bound([1000, 3000], 20.0).expect("bound"),
            [1046, 3046]
        );
        let err = canvas_bound([65_500, 100], 20.0)
            .expect_err("too large")
            .to_string();
        assert!(err.contains("too large"), "{err}");
        assert!(covers(3));
        assert!(!covers(MAX_STATIONS + 1));
        assert!(!covers(1));
    }
}
