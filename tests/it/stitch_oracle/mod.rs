//! The f64 host path of the stitch, kept as the test oracle of the single GPU path (`stitch_sim.rs`
//! compares the two on the simulations): registration read back after the search, the layout
//! normalised again in f64, the compensation solved on the host from the stations' host copies
//! ([`compensate`]), the blend records built on the host and the kernels run at the exact canvas.
//! It shares the kernels and the nominal layout with production, so a difference it finds lies in
//! what production decides on the GPU: the corrected layout, the gains, the tables, the ramps.

pub mod compensate;

use compensate::{StationSamples, corrections};
use radpipe::gpu::GpuImage;
use radpipe::image::{PixelFormat, Pixels};
use radpipe::pipeline::Recorder;
use radpipe::stitch::Station;
use radpipe::stitch::atlas::AtlasEntry;
use radpipe::stitch::blend::pyramid::multiband;
use radpipe::stitch::blend::{BlendMode, RECORD_WORDS, Records, Sizing, encode_blend, encode_pack};
use radpipe::stitch::compensate::{Correction, encode_fill_atlas};
use radpipe::stitch::layout::{Layout, canvas_geometry, overlap};
use radpipe::stitch::layout::{check_stations, nominal_layout};
use radpipe::stitch::pipeline::{
    StationReport, StitchParams, Stitched, atlas_entries, host_samples, registration_pairs,
};
use radpipe::stitch::register::search::{PairSpec, Refined, SearchParams, decode, encode_search};
use radpipe::{Engine, Error, Geometry, Result};

/// Fills the atlas with every station, corrected (one submission).
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

/// Stitches `stations` on the host path: what `radpipe::stitch::stitch` did without registration
/// (and above 16 stations) before the GPU path became the only one.
pub fn host_stitch(
    engine: &Engine,
    stations: &[Station],
    params: &StitchParams,
) -> Result<Stitched> {
    check_stations(stations)?;
    let mut warnings = Vec::new();
    let names: Vec<String> = stations.iter().map(|s| s.name.clone()).collect();
    let (stations, mut layout, neighbours) =
        nominal_layout(engine, stations, params.offsets.as_deref(), &mut warnings)?;
    let uploaded: Vec<GpuImage> = stations
        .iter()
        .map(|s| engine.upload(&s.image))
        .collect::<Result<_>>()?;
    let (mut entries, total) = atlas_entries(&layout)?;
    let atlas = engine.alloc_image(total, 1, PixelFormat::F32, Geometry::default())?;
    let host = host_samples(&stations);

    // Registration.
    let mut ncc = vec![None; stations.len()];
    if params.refine {
        let pairs = registration_pairs(&host, &entries, &neighbours);
        let search = SearchParams {
            max_shift: params.max_shift,
            min_score: params.min_ncc,
        };
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
        // The oracle is not timed.
        timings: Vec::new(),
    })
}

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

/// Registers every pair on the GPU: one submission, one readback of the state, one wait.
pub fn register_pairs(
    engine: &Engine,
    atlas: &GpuImage,
    entries: &[AtlasEntry],
    pairs: &[PairSpec],
    params: &SearchParams,
) -> Result<Vec<Refined>> {
    let mut rec = Recorder::new(engine);
    let state = encode_search(&mut rec, atlas, entries, pairs, params)?;
    let download = rec.download(&state)?;
    rec.submit()?;
    match download.wait()?.pixels {
        Pixels::F32(v) => decode(&v, pairs, params),
        _ => Err(Error::Gpu(
            "registration state came back in another format".into(),
        )),
    }
}
