//! The stitching pipeline, end to end: check the stations, bring them to one pixel spacing (the
//! bilinear resize kernel), place them, upload them once, and then work on one *atlas* — a single
//! f32 storage buffer holding every station one after another — so registration, compensation and
//! blending each bind one buffer whatever the number of stations. Without registration nothing comes
//! back before the final canvas. With it, the whole rest is decided on the GPU too
//! ([`super::resident`], [`super::resident_histogram`], [`super::resident_blocks`]): one wait, at the
//! end. The host path below (layout, statistics and solves on the host, from the host copies of the
//! stations the caller passed in, so no image travels back) serves a stitch without registration and
//! more stations than the GPU solve takes; it is also what the resident path is tested against.

use super::blend::{
    BlendMode, Records, Sizing, encode_blend, encode_pack, multiband, ramps, records,
};
use super::compensate::{
    Compensation, Correction, GainModel, StationSamples, corrections, eight_bit_unit, encode_apply,
};
use super::layout::{
    Layout, Placement, angles_from_geometry, canvas_geometry, common_spacing, overlap,
    placements_from_geometry, resampled_size,
};
use super::resident::{self, ResidentJob, ResidentResult, stitch_resident};
use super::search::{PairSpec, SearchParams, register_pairs};
use super::{Station, StitchError};
use crate::gpu::GpuImage;
use crate::image::{Geometry, HostImage, PixelFormat};
use crate::ops::resize::{ResizeParams, resize_image};
use crate::pipeline::Recorder;
use crate::{Engine, Result};

/// Where one station's f32 samples start in the atlas, and where it sits on the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AtlasEntry {
    /// First word of the station in the atlas.
    pub offset: u32,
    /// Placement (its width and height are the station's).
    pub placement: Placement,
}

/// Bilinear sample of an atlas entry at station coordinates, clamped to the edges — the f32
/// arithmetic of `atlas_sample` in `shaders/common/atlas.wgsl`.
pub fn atlas_sample(atlas: &[f32], e: &AtlasEntry, sx: f32, sy: f32) -> f32 {
    let (w, h) = (e.placement.width, e.placement.height);
    let x = sx.clamp(0.0, (w - 1) as f32);
    let y = sy.clamp(0.0, (h - 1) as f32);
    let x0 = (x.floor() as u32).min(w - 1);
    let y0 = (y.floor() as u32).min(h - 1);
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let at = |xx: u32, yy: u32| atlas[(e.offset + yy * w + xx) as usize];
    let top = at(x0, y0) + tx * (at(x1, y0) - at(x0, y0));
    let bottom = at(x0, y1) + tx * (at(x1, y1) - at(x0, y1));
    top + ty * (bottom - top)
}

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

/// Refuses inputs that cannot be stitched together.
pub fn check_stations(stations: &[Station]) -> Result<()> {
    if stations.len() < 2 {
        return Err(StitchError::TooFewStations(stations.len()).into());
    }
    let first = &stations[0];
    for s in &stations[1..] {
        if let (Some(a), Some(b)) = (&first.modality, &s.modality)
            && a.trim() != b.trim()
        {
            return Err(StitchError::MixedModality {
                first: first.name.clone(),
                a: a.clone(),
                other: s.name.clone(),
                b: b.clone(),
            }
            .into());
        }
        if let (Some(a), Some(b)) = (&first.photometric, &s.photometric)
            && a.trim() != b.trim()
        {
            return Err(StitchError::MixedPhotometric {
                first: first.name.clone(),
                a: a.clone(),
                other: s.name.clone(),
                b: b.clone(),
            }
            .into());
        }
        if first.image.format() != s.image.format() {
            return Err(StitchError::MixedFormat {
                first: first.name.clone(),
                a: first.image.format().to_string(),
                other: s.name.clone(),
                b: s.image.format().to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// Brings every station to the first station's pixel spacing (bilinear resize on the GPU).
fn common_spacing_stations(
    engine: &Engine,
    stations: &[Station],
    warnings: &mut Vec<String>,
) -> Result<Vec<Station>> {
    let Some(target) = common_spacing(stations) else {
        return Ok(stations.to_vec());
    };
    stations
        .iter()
        .map(|s| {
            let spacing = s.image.geometry.pixel_spacing.unwrap_or(target);
            match resampled_size([s.image.width, s.image.height], spacing, target) {
                None => Ok(s.clone()),
                Some([w, h]) => {
                    warnings.push(format!(
                        "{}: resampled from {}x{} at {:?} mm to {w}x{h} at {:?} mm",
                        s.name, s.image.width, s.image.height, spacing, target
                    ));
                    let mut image = resize_image(engine, &s.image, &ResizeParams::new(w, h))?;
                    let mut g = image.geometry.clone();
                    g.pixel_spacing = Some(target);
                    image.geometry = g;
                    Ok(Station { image, ..s.clone() })
                }
            }
        })
        .collect()
}

/// Fills the atlas with every station, corrected.
fn fill_atlas(
    engine: &Engine,
    uploaded: &[GpuImage],
    entries: &[AtlasEntry],
    corrections: &[Correction],
    atlas: &GpuImage,
) -> Result<()> {
    let mut rec = Recorder::new(engine);
    encode_fill_atlas(&mut rec, uploaded, entries, corrections, atlas)?;
    rec.submit()?;
    Ok(())
}

/// Records every station into the atlas, corrected (one gain-apply dispatch per station).
pub fn encode_fill_atlas(
    rec: &mut Recorder<'_>,
    uploaded: &[GpuImage],
    entries: &[AtlasEntry],
    corrections: &[Correction],
    atlas: &GpuImage,
) -> Result<()> {
    for ((img, e), c) in uploaded.iter().zip(entries).zip(corrections) {
        encode_apply(rec, img, c, atlas, e.offset)?;
    }
    Ok(())
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

/// The result of [`resident::stitch_resident`] as a [`Stitched`]: final placements from the plan,
/// refused registrations as warnings, the canvas geometry from the first station's final placement.
fn resident_report(
    done: ResidentResult,
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

/// Stitches `stations` (input order: the first is the reference) into one canvas.
pub fn stitch(engine: &Engine, stations: &[Station], params: &StitchParams) -> Result<Stitched> {
    check_stations(stations)?;
    let mut warnings = Vec::new();
    let mut timings = Vec::new();
    let mut clock = std::time::Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, f64)>| {
        timings.push((name, clock.elapsed().as_secs_f64()));
        clock = std::time::Instant::now();
    };
    let names: Vec<String> = stations.iter().map(|s| s.name.clone()).collect();
    let stations = common_spacing_stations(engine, stations, &mut warnings)?;

    // Placement.
    let placements: Vec<Placement> = match &params.offsets {
        Some(offsets) => {
            if offsets.len() != stations.len() {
                return Err(StitchError::OffsetCount {
                    given: offsets.len(),
                    stations: stations.len(),
                }
                .into());
            }
            let images: Vec<&HostImage> = stations.iter().map(|s| &s.image).collect();
            let angles = angles_from_geometry(&images);
            offsets
                .iter()
                .zip(&stations)
                .zip(angles)
                .map(|((o, s), angle)| Placement {
                    offset: *o,
                    angle,
                    width: s.image.width,
                    height: s.image.height,
                })
                .collect()
        }
        None => placements_from_geometry(&stations)?,
    };
    let (mut layout, _) = Layout::normalised(placements)?;
    let neighbours = layout.neighbours(&names)?;
    lap("layout", &mut timings);

    // Upload once; the atlas holds every station as f32.
    let uploaded: Vec<GpuImage> = stations
        .iter()
        .map(|s| engine.upload(&s.image))
        .collect::<Result<_>>()?;
    let mut entries = Vec::with_capacity(stations.len());
    let mut total: u64 = 0;
    for p in &layout.stations {
        entries.push(AtlasEntry {
            offset: u32::try_from(total).map_err(|_| {
                crate::Error::InvalidParams("stations too large for one atlas".into())
            })?,
            placement: *p,
        });
        total += u64::from(p.width) * u64::from(p.height);
    }
    let total = u32::try_from(total)
        .map_err(|_| crate::Error::InvalidParams("stations too large for one atlas".into()))?;
    let atlas = engine.alloc_image(total, 1, PixelFormat::F32, Geometry::default())?;
    let host: Vec<Vec<f32>> = stations
        .iter()
        .map(|s| {
            (0..s.image.pixel_count())
                .map(|i| s.image.pixels.get_f64(i) as f32)
                .collect()
        })
        .collect();
    lap("upload", &mut timings);

    // Registration.
    let mut ncc = vec![None; stations.len()];
    if params.refine {
        let stats: Vec<(f64, f64)> = host.iter().map(|v| mean_std(v)).collect();
        // Every pair from the nominal placements, searched in one submission; a pair's fixed station
        // moves with the correction its own pair found (on the GPU, see `search`).
        let pairs: Vec<PairSpec> = (1..stations.len())
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
            .collect();
        let search = SearchParams {
            max_shift: params.max_shift,
            min_score: params.min_ncc,
        };
        if resident::covers(stations.len()) {
            let job = ResidentJob {
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
            let done = stitch_resident(engine, &atlas, &job)?;
            lap("register+compensate+blend+download", &mut timings);
            return Ok(resident_report(
                done, &stations, &entries, names, warnings, timings,
            ));
        }
        let unity = stations
            .iter()
            .map(|_| Correction::gain(1.0))
            .collect::<Vec<_>>();
        fill_atlas(engine, &uploaded, &entries, &unity, &atlas)?;
        let refined = register_pairs(engine, &atlas, &entries, &pairs, &search)?;
        for (pair, refined) in pairs.iter().zip(refined) {
            let i = pair.b;
            ncc[i] = Some(refined.score);
            if refined.accepted {
                let p = &mut entries[i].placement;
                p.offset = [
                    p.offset[0] + refined.shift[0],
                    p.offset[1] + refined.shift[1],
                ];
            } else {
                warnings.push(format!(
                    "{}: registration refused ({}); keeping the nominal offset",
                    names[i],
                    refined.reason.unwrap_or_default()
                ));
            }
        }
        let (l, shift) = Layout::normalised(entries.iter().map(|e| e.placement).collect())?;
        for (e, p) in entries.iter_mut().zip(&l.stations) {
            e.placement = *p;
        }
        let _ = shift;
        layout = l;
        lap("register", &mut timings);
    }

    // Compensation.
    let samples: Vec<StationSamples<'_>> = host
        .iter()
        .zip(&entries)
        .map(|(v, e)| StationSamples {
            values: v,
            placement: &e.placement,
        })
        .collect();
    let (corr, gains) = corrections(
        params.compensate,
        &samples,
        &neighbours,
        stations[0].image.format(),
        &params.gain_model,
    )?;
    fill_atlas(engine, &uploaded, &entries, &corr, &atlas)?;
    lap("compensate", &mut timings);

    // Blending.
    let canvas = layout.canvas;
    let ramps = ramps(&layout, params.blend, params.sharpness);
    let recs = records(&entries, &ramps);
    let format = stations[0].image.format();
    let geometry = canvas_geometry(&stations[0].image.geometry, &layout.stations[0]);
    let mut rec = Recorder::new(engine);
    let blended = match params.blend {
        BlendMode::Linear | BlendMode::Feather => {
            encode_blend(&mut rec, &atlas, Records::Host(&recs), canvas)?
        }
        BlendMode::Multiband => {
            drop(rec);
            let out = multiband(
                engine,
                &atlas,
                Records::Host(&recs),
                canvas,
                params.bands,
                Sizing::Fixed,
            )?;
            rec = Recorder::new(engine);
            out
        }
    };
    let packed = encode_pack(&mut rec, &blended, format, geometry)?;
    let download = rec.download(&packed)?;
    rec.submit()?;
    let image = download.wait()?;
    lap("blend+download", &mut timings);

    let reports = entries
        .iter()
        .enumerate()
        .map(|(i, e)| StationReport {
            file: names[i].clone(),
            offset: e.placement.offset,
            gain: gains[i],
            ncc: ncc[i],
        })
        .collect();
    Ok(Stitched {
        image,
        layout,
        stations: reports,
        warnings,
        timings,
    })
}
