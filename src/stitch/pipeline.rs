//! The stitch, end to end, on one production path: check the stations, bring them to one pixel
//! spacing (the bilinear resize kernel), place them at their nominal offsets, upload them once into
//! the atlas ([`super::atlas`]), and record everything else for the GPU — the registration search
//! ([`super::register`]; none without registration, so every correction stays zero), the final
//! layout ([`super::place`]), the compensation ([`super::compensate`]), the blend
//! ([`super::blend`]) and the pack — so the host waits once, for the canvas and the plan
//! ([`super::plan`]) in one readback.
//!
//! Why one path: a host path beside it (f64 layout and solves on the host) was a second
//! implementation of every model to keep in step; it lives on only as the tests' oracle
//! (`tests/it/stitch_oracle/`), which the single path is compared against on the simulations.

use super::Station;
use super::atlas::{AtlasEntry, station_table};
use super::blend::pyramid::{max_bands, multiband};
use super::blend::{BlendMode, Records, Sizing, encode_blend_sized, encode_pack};
use super::compensate::blocks::{block_keys, encode_blocks, relative_reach};
use super::compensate::gains::encode_gains;
use super::compensate::histogram::encode_histogram;
use super::compensate::{
    Compensation, Correction, GainModel, eight_bit_unit, encode_fill_atlas, lut_domain,
};
use super::layout::{Layout, Placement, canvas_geometry, check_stations, nominal_layout, overlap};
use super::place::{canvas_bound, encode_place, feather_ramp, station_count};
use super::plan::{self, Plan, decode_plan};
use super::register::search::{
    PairSpec, Refined, SearchParams, decode as decode_search, encode_search,
};
use crate::gpu::GpuImage;
use crate::image::{Geometry, HostImage, PixelFormat, Pixels};
use crate::pipeline::Recorder;
use crate::{Engine, Error, Result};

/// What to do.
#[derive(Debug, Clone, PartialEq)]
pub struct StitchParams {
    /// Top-left canvas position of each station (output pixels); `None`: from the DICOM geometry.
    pub offsets: Option<Vec<[f64; 2]>>,
    /// Refine offsets by NCC registration.
    pub refine: bool,
    /// Search range of the refinement (canvas pixels, each direction).
    pub max_shift: f64,
    /// Lowest NCC accepted; below it the nominal offset is kept with a warning.
    pub min_ncc: f64,
    /// Exposure compensation.
    pub compensate: Compensation,
    /// Gain model parameters.
    pub gain_model: GainModel,
    /// Blending.
    pub blend: BlendMode,
    /// Pyramid levels of multi-band blending.
    pub bands: u32,
    /// Feather sharpness (1/ramp length in pixels).
    pub sharpness: f64,
}

impl Default for StitchParams {
    fn default() -> Self {
        StitchParams {
            offsets: None,
            refine: false,
            max_shift: 20.0,
            min_ncc: 0.5,
            compensate: Compensation::Gain,
            gain_model: GainModel::default(),
            blend: BlendMode::Linear,
            bands: 5,
            sharpness: 0.02,
        }
    }
}

impl StitchParams {
    /// Checks every number against its range, naming it as the CLI flag (`--max-shift`, ...) that
    /// sets it; the node's config uses the same rule. Offsets are checked by the layout.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidParams(m));
        if !(self.max_shift.is_finite() && (0.0..=500.0).contains(&self.max_shift)) {
            return bad(format!(
                "--max-shift {} must be between 0 and 500 pixels",
                self.max_shift
            ));
        }
        if !(self.min_ncc.is_finite() && (-1.0..=1.0).contains(&self.min_ncc)) {
            return bad(format!(
                "--min-ncc {} must be a correlation between -1 and 1",
                self.min_ncc
            ));
        }
        if !(1..=16).contains(&self.bands) {
            return bad(format!(
                "--bands {} must be between 1 and 16 pyramid levels",
                self.bands
            ));
        }
        if !(self.sharpness.is_finite() && self.sharpness > 0.0) {
            return bad(format!("--sharpness {} must be positive", self.sharpness));
        }
        Ok(())
    }
}

/// One station in the result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StationReport {
    /// Its name.
    pub file: String,
    /// Final top-left canvas position (see [`Placement`]).
    pub offset: [f64; 2],
    /// Gain applied (effective gain for blocks/histogram).
    pub gain: f64,
    /// NCC against its neighbour after refinement (`None` for the first station or without
    /// `refine`).
    pub ncc: Option<f64>,
}

/// The stitched image and how it was made.
#[derive(Debug, Clone)]
pub struct Stitched {
    /// The canvas, in the stations' sample format, with the canvas geometry.
    pub image: HostImage,
    /// Final placements.
    pub layout: Layout,
    /// Per-station report, station 0 first.
    pub stations: Vec<StationReport>,
    /// Things the caller should tell the user (refused registrations, resampled stations).
    pub warnings: Vec<String>,
    /// Wall-clock seconds per stage (GPU work is counted where its result is waited for).
    pub timings: Vec<(&'static str, f64)>,
}

fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// The result of [`stitch_on_gpu`] as a [`Stitched`]: final placements from the plan,
/// refused registrations as warnings, the canvas geometry from the first station's final placement.
fn report(
    done: GpuResult,
    stations: &[Station],
    entries: &[AtlasEntry],
    names: Vec<String>,
    mut warnings: Vec<String>,
    timings: Vec<(&'static str, f64)>,
) -> Stitched {
    // Reported in f64 from the nominal offsets, as the host path does: the GPU placed them in f32
    // (within ~1e-3 px of these at canvas sizes up to 16k).
    let plan = &done.plan;
    let placements: Vec<Placement> = entries
        .iter()
        .zip(&plan.corrections)
        .map(|(e, c)| Placement {
            offset: [
                e.placement.offset[0] + c[0] + plan.shift[0],
                e.placement.offset[1] + c[1] + plan.shift[1],
            ],
            ..e.placement
        })
        .collect();
    let mut ncc = vec![None; entries.len()];
    for (i, refined) in done.refined.iter().enumerate() {
        // Pairs run over stations 1.. in order, one each (see `stitch`).
        let b = i + 1;
        ncc[b] = Some(refined.score);
        if !refined.accepted {
            warnings.push(format!(
                "{}: registration refused ({}); keeping the nominal offset",
                names[b],
                refined.reason.clone().unwrap_or_default()
            ));
        }
    }
    let mut image = done.image;
    image.geometry = canvas_geometry(&stations[0].image.geometry, &placements[0]);
    let reports = names
        .into_iter()
        .zip(&placements)
        .enumerate()
        .map(|(i, (file, p))| StationReport {
            file,
            offset: p.offset,
            gain: done.plan.gains[i],
            ncc: ncc[i],
        })
        .collect();
    Stitched {
        image,
        layout: Layout {
            canvas: done.plan.canvas,
            stations: placements,
        },
        stations: reports,
        warnings,
        timings,
    }
}

/// Where each station goes in the atlas (one after another), and the atlas's length in words.
pub fn atlas_entries(layout: &Layout) -> Result<(Vec<AtlasEntry>, u32)> {
    let too_large = || crate::Error::InvalidParams("stations too large for one atlas".into());
    let mut entries = Vec::with_capacity(layout.stations.len());
    let mut total: u64 = 0;
    for p in &layout.stations {
        entries.push(AtlasEntry {
            offset: u32::try_from(total).map_err(|_| too_large())?,
            placement: *p,
        });
        total += u64::from(p.width) * u64::from(p.height);
    }
    Ok((entries, u32::try_from(total).map_err(|_| too_large())?))
}

/// Every station's samples as f32 (the host copies the statistics below are taken from).
pub fn host_samples(stations: &[Station]) -> Vec<Vec<f32>> {
    stations
        .iter()
        .map(|s| {
            (0..s.image.pixel_count())
                .map(|i| s.image.pixels.get_f64(i) as f32)
                .collect()
        })
        .collect()
}

/// The pairs to register, from the nominal placements: each station after the first against its
/// neighbour, centred on the stations' means and scaled by 1 / the larger standard deviation.
pub fn registration_pairs(
    host: &[Vec<f32>],
    entries: &[AtlasEntry],
    neighbours: &[Option<usize>],
) -> Vec<PairSpec> {
    let stats: Vec<(f64, f64)> = host.iter().map(|v| mean_std(v)).collect();
    (1..entries.len())
        .filter_map(|i| {
            let j = neighbours[i]?;
            let r = overlap(&entries[j].placement, &entries[i].placement)?;
            let scale = 1.0 / stats[j].1.max(stats[i].1).max(1.0);
            Some(PairSpec {
                a: j,
                b: i,
                overlap: r,
                mean_a: stats[j].0 as f32,
                mean_b: stats[i].0 as f32,
                scale: scale as f32,
            })
        })
        .collect()
}

/// Stations of the largest full-spine or long-leg study; more are stitched (up to the GPU layout's
/// limit) with a warning.
pub const STUDY_STATIONS: usize = 5;

/// Stitches `stations` (input order: the first is the reference) into one canvas. After the upload
/// everything — registration, layout, compensation, blend, pack — is recorded on the GPU and the
/// host waits once. Without registration nothing is searched: every correction stays zero and the
/// search reach is 0, so the canvas bound is the nominal canvas (plus rounding).
pub fn stitch(engine: &Engine, stations: &[Station], params: &StitchParams) -> Result<Stitched> {
    check_stations(stations)?;
    let mut warnings = Vec::new();
    if stations.len() > STUDY_STATIONS {
        warnings.push(format!(
            "{} stations: a full-spine or long-leg study has 2 to {STUDY_STATIONS}; they are placed as \
             given, check that each is a separate exposure of this study",
            stations.len()
        ));
    }
    let mut timings = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, f64)>| {
        timings.push((name, clock.elapsed().as_secs_f64()));
        clock = std::time::Instant::now();
    };
    let names: Vec<String> = stations.iter().map(|s| s.name.clone()).collect();
    let (stations, layout, neighbours) =
        nominal_layout(engine, stations, params.offsets.as_deref(), &mut warnings)?;
    lap("layout", &mut timings);

    // Upload once; the atlas holds every station as f32.
    let uploaded: Vec<GpuImage> = stations
        .iter()
        .map(|s| engine.upload(&s.image))
        .collect::<Result<_>>()?;
    let (entries, total) = atlas_entries(&layout)?;
    let atlas = engine.alloc_image(total, 1, PixelFormat::F32, Geometry::default())?;
    let host = host_samples(&stations);
    lap("upload", &mut timings);

    let pairs = if params.refine {
        registration_pairs(&host, &entries, &neighbours)
    } else {
        Vec::new()
    };
    let search = SearchParams {
        max_shift: if params.refine { params.max_shift } else { 0.0 },
        min_score: params.min_ncc,
    };
    let job = GpuJob {
        uploaded: &uploaded,
        entries: &entries,
        canvas: layout.canvas,
        pairs: &pairs,
        search,
        compensate: params.compensate,
        neighbours: &neighbours,
        unit: eight_bit_unit(host.iter().map(Vec::as_slice)),
        model: params.gain_model,
        blend: params.blend,
        bands: params.bands,
        sharpness: params.sharpness,
        format: stations[0].image.format(),
    };
    let done = stitch_on_gpu(engine, &atlas, &job)?;
    let stages = if params.refine {
        "register+compensate+blend+download"
    } else {
        "compensate+blend+download"
    };
    lap(stages, &mut timings);
    Ok(report(done, &stations, &entries, names, warnings, timings))
}

/// What the GPU stitch needs besides the engine and the atlas.
#[derive(Debug, Clone)]
struct GpuJob<'a> {
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

/// The GPU stitch's result: the canvas (no geometry yet), the plan and each pair's registration.
#[derive(Debug, Clone)]
struct GpuResult {
    /// The canvas: the first w·h samples of the planes, w×h as the GPU decided.
    pub image: HostImage,
    /// Final layout and gains.
    pub plan: Plan,
    /// Each pair's registration outcome, in `pairs` order.
    pub refined: Vec<Refined>,
}

/// Registers, lays out, compensates, blends and packs on the GPU; the host waits once, for the canvas
/// and the plan (two readbacks).
fn stitch_on_gpu(engine: &Engine, atlas: &GpuImage, job: &GpuJob<'_>) -> Result<GpuResult> {
    station_count(job.entries.len())?;
    if job.compensate == Compensation::Histogram {
        // Refuse a format without tables before any work, with the host path's message.
        lut_domain(job.format)?;
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
        base: plan::global(count, plan::CANVAS) as u32,
    };
    let blended = match job.blend {
        BlendMode::Linear | BlendMode::Feather => {
            encode_blend_sized(&mut rec, atlas, records, max_canvas, sizing)?
        }
        BlendMode::Multiband => {
            rec.submit()?;
            // As many levels as the nominal canvas allows, not the larger bound the planes are
            // allocated at: without registration that is the canvas itself.
            let bands = job.bands.min(max_bands(job.canvas));
            let out = multiband(engine, atlas, records, max_canvas, bands, sizing)?;
            rec = Recorder::new(engine);
            out
        }
    };
    let packed = encode_pack(&mut rec, &blended, job.format, Geometry::default())?;
    // One readback: the packed canvas with the plan words after it.
    let (canvas_bytes, plan_bytes) = (packed.byte_len(), plan.byte_len());
    let both = rec.alloc_image(
        u32::try_from((canvas_bytes + plan_bytes) / 4)
            .map_err(|_| Error::InvalidParams("stitched canvas too large to read back".into()))?,
        1,
        PixelFormat::F32,
        Geometry::default(),
    )?;
    let encoder = rec.encoder();
    encoder.copy_buffer_to_buffer(
        packed.buffer.buffer(),
        0,
        both.buffer.buffer(),
        0,
        canvas_bytes,
    );
    encoder.copy_buffer_to_buffer(
        plan.buffer.buffer(),
        0,
        both.buffer.buffer(),
        canvas_bytes,
        plan_bytes,
    );
    let download = rec.download(&both)?;
    rec.submit()?;
    let words = match download.wait()?.pixels {
        Pixels::F32(v) => v,
        _ => return Err(Error::Gpu("stitch plan came back in another format".into())),
    };
    let (canvas_words, words) = words.split_at((canvas_bytes / 4) as usize);
    let plan = decode_plan(words, count)?;
    let refined = decode_search(words, job.pairs, &job.search)?;
    let full = HostImage::new(
        packed.width,
        packed.height,
        Pixels::from_gpu_bytes(
            job.format,
            bytemuck::cast_slice(canvas_words),
            packed.pixel_count(),
        ),
    )?;
    let image = first_samples(full, plan.canvas)?;
    Ok(GpuResult {
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
