//! The batch executor: reader thread → GPU (this thread, two images in flight) → writer thread.
//! Per image: one upload, every stage recorded into one command encoder, one submission, one readback.
//!
//! The stages themselves, resolved for each image from the pipeline spec, live in `stages`; this
//! file is the executor: decoding, recording, the threads and the report.

mod segment;
mod stages;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use crate::batch::spec::PipelineSpec;
use crate::gpu::GpuImage;
use crate::image::{HostImage, PixelFormat};
use crate::io::dicom::DicomImage;
use crate::io::{Input, OutputKind, OutputMeta, read_input, write_output};
use crate::ops::clahe;
use crate::ops::equalize;
use crate::ops::histmatch::{self, MatchReference};
use crate::ops::histogram::Region;
use crate::ops::resize;
use crate::ops::warp;
use crate::ops::window;
use crate::pipeline::{Download, Recorder};
use crate::seg::infer::{Backend, DeviceUsed, Segmenter};
use crate::transforms::ModalityLut;
use crate::workflow::segment::{PreprocessUsed, load_segmenter_with};
use crate::{Engine, Error, Result, Stats};
use segment::segment_on_cpu;
use stages::{Prepared, prepare};

/// Images decoded ahead of the GPU, and images in flight on the GPU.
const READ_AHEAD: usize = 2;
const IN_FLIGHT: usize = 2;

/// Progress of one file.
#[derive(Debug)]
pub enum BatchEvent<'a> {
    /// Written to its output.
    Done {
        /// The input.
        input: &'a Path,
        /// The output written.
        output: &'a Path,
    },
    /// Skipped.
    Failed {
        /// The input.
        input: &'a Path,
        /// Why.
        error: &'a Error,
    },
}

/// What a batch did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchReport {
    /// Files written.
    pub processed: usize,
    /// Files skipped, with the reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Engine counters over the batch.
    pub stats: Stats,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Where the segment stage's network ran, when the pipeline has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_device: Option<DeviceUsed>,
    /// Which preprocessing the segment stage ran, when the pipeline has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_preprocess: Option<PreprocessUsed>,
}

/// One decoded image with everything the GPU and the writer need.
struct Job {
    input: PathBuf,
    output: PathBuf,
    stored: HostImage,
    stages: Vec<Prepared>,
    meta_source: Option<Box<DicomImage>>,
}

/// An image on the GPU, waiting for its readback.
struct InFlight {
    job: Job,
    download: Download,
    /// The readback is the 8-bit input of a network on burn's CPU backend, not yet the mask.
    segment_on_cpu: bool,
}

/// Sorted entries of `dir` that are not folders (hidden files and temporary `.partial` files
/// skipped). Dangling links, FIFOs and devices are listed on purpose: reading them fails through the
/// input gate, so each is reported as a skipped file instead of vanishing from the report.
pub fn collect_inputs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.is_dir())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && !n.ends_with(".partial"))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn decode(spec: &PipelineSpec, input: &Path, output: PathBuf) -> Result<Job> {
    let read = read_input(input)?;
    let stages = prepare(spec, &read).map_err(|e| e.in_file(input))?;
    let (stored, meta_source) = match read {
        Input::Dicom(d) => (d.frame(0)?, Some(d)),
        Input::Raster(img) => (img, None),
    };
    Ok(Job {
        input: input.to_path_buf(),
        output,
        stored,
        stages,
        meta_source,
    })
}

fn record(
    engine: &Engine,
    job: Job,
    references: &[GpuImage],
    segmenter: Option<&Segmenter>,
) -> Result<InFlight> {
    let uploaded: GpuImage = engine.upload(&job.stored)?;
    let mut rec = Recorder::new(engine);
    let mut current = uploaded;
    let (body, segment_window) = match job.stages.split_last() {
        Some((Prepared::Segment { window }, body)) => (body, Some(window.clone())),
        _ => (job.stages.as_slice(), None),
    };
    for stage in body {
        current = match stage {
            Prepared::Window(settings) => window::encode(&mut rec, &current, settings)?,
            Prepared::Resize(params) => resize::encode(&mut rec, &current, params)?,
            Prepared::Rotate(params) | Prepared::Warp(params) => {
                warp::encode(&mut rec, &current, params)?
            }
            Prepared::Equalize(params) => equalize::encode(&mut rec, &current, params)?,
            Prepared::Clahe(params) => clahe::encode(&mut rec, &current, params)?,
            Prepared::Match {
                reference, params, ..
            } => {
                let image = references.get(*reference).ok_or_else(|| {
                    Error::InvalidParams("match reference was not uploaded".into())
                })?;
                let reference = MatchReference::Image {
                    image,
                    region: Region::ALL,
                };
                histmatch::encode(&mut rec, &current, &Region::ALL, &reference, params)?
            }
            Prepared::Segment { .. } => {
                return Err(Error::InvalidParams(
                    "a segment stage must be the last stage".into(),
                ));
            }
        };
    }
    let download = match segment_window {
        Some(settings) => {
            let segmenter = segmenter.ok_or_else(|| {
                Error::InvalidParams("the segmentation model was not loaded".into())
            })?;
            let display = match &settings {
                Some(s) => window::encode(&mut rec, &current, s)?,
                None => current,
            };
            if let Backend::Cpu = segmenter.backend() {
                let download = rec.download(&display)?;
                rec.submit()?;
                return Ok(InFlight {
                    job,
                    download,
                    segment_on_cpu: true,
                });
            }
            segmenter.segment_resident(rec, &display)?
        }
        None => {
            let download = rec.download(&current)?;
            rec.submit()?;
            download
        }
    };
    Ok(InFlight {
        job,
        download,
        segment_on_cpu: false,
    })
}

fn write(kind: OutputKind, job: &Job, image: &HostImage) -> Result<()> {
    let source = job.meta_source.as_deref();
    let mut meta = match job.stages.as_slice() {
        [Prepared::Window(s)] => crate::workflow::window::output_meta(s, source),
        stages => {
            let mut meta = OutputMeta {
                source,
                description: format!(
                    "radpipe pipeline: {}",
                    stages
                        .iter()
                        .map(Prepared::describe)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ..OutputMeta::default()
            };
            if let Some(last_value_stage) = stages.iter().rev().find(|s| {
                !matches!(
                    s,
                    Prepared::Resize(_) | Prepared::Rotate(_) | Prepared::Warp(_)
                )
            }) {
                meta.bits_stored = match last_value_stage {
                    Prepared::Window(s) => {
                        crate::workflow::window::output_meta(s, source).bits_stored
                    }
                    Prepared::Equalize(p) => p.bits.map(|b| b as u16),
                    Prepared::Clahe(p) => p.bits.map(|b| b as u16),
                    Prepared::Match { params, .. } => params.bits.map(|b| b as u16),
                    Prepared::Resize(_)
                    | Prepared::Rotate(_)
                    | Prepared::Warp(_)
                    | Prepared::Segment { .. } => None,
                };
            } else if let Some(src) = source {
                // Only geometric stages: the samples are still stored values of modality units.
                if let ModalityLut::Rescale { slope, intercept } = src.modality_lut(0) {
                    meta.rescale = Some((slope, intercept));
                }
                meta.window = src.windows(0).first().copied();
            }
            if image.format() != PixelFormat::U16 {
                meta.bits_stored = None;
            }
            meta
        }
    };
    meta.samples = stages::samples(&job.stages);
    meta.axes = stages::axes(&job.stages);
    write_output(&job.output, kind, image, &meta)
}

/// Output path for each input (`OUT_DIR/<stem>.<ext>`); inputs whose stems collide are refused.
fn plan_outputs(inputs: &[PathBuf], out_dir: &Path, ext: &str) -> Vec<(PathBuf, Result<PathBuf>)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for input in inputs {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        *seen.entry(stem).or_default() += 1;
    }
    inputs
        .iter()
        .map(|input| {
            let stem = input
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let out = if seen.get(&stem).copied().unwrap_or(0) > 1 {
                Err(Error::InvalidParams(format!(
                    "another input has the same name stem '{stem}'; outputs would collide"
                ))
                .in_file(input))
            } else {
                Ok(out_dir.join(format!("{stem}.{ext}")))
            };
            (input.clone(), out)
        })
        .collect()
}

/// Runs `spec` over `inputs`, writing into `out_dir`; calls `on_event` for each file as it finishes.
pub fn run_batch(
    engine: &Engine,
    spec: &PipelineSpec,
    inputs: &[PathBuf],
    out_dir: &Path,
    mut on_event: impl FnMut(BatchEvent<'_>),
) -> Result<BatchReport> {
    let kind = spec.output_kind()?;
    if !out_dir.is_dir() {
        return Err(Error::io(
            out_dir,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "output directory does not exist",
            ),
        ));
    }
    let start = Instant::now();
    let before = engine.stats();
    // Match references: read and uploaded once for the whole batch (their stored values, frame 0).
    let references: Vec<GpuImage> = spec
        .references()
        .into_iter()
        .map(|path| {
            let image = match read_input(path)? {
                Input::Dicom(d) => d.frame(0).map_err(|e| e.in_file(path))?,
                Input::Raster(img) => img,
            };
            engine.upload(&image).map_err(|e| e.in_file(path))
        })
        .collect::<Result<_>>()?;
    // The network, loaded once for the whole batch onto the device the stage's choice picks.
    let loaded = match spec.segment() {
        Some((weights, size, device)) => Some(load_segmenter_with(
            Some(engine),
            weights,
            size,
            device,
            spec.segment_preprocess(),
        )?),
        None => None,
    };
    let segmenter = loaded.as_ref().map(|l| &l.segmenter);
    let plan = plan_outputs(inputs, out_dir, &spec.output);
    let mut failed = Vec::new();
    let mut processed = 0;

    std::thread::scope(|scope| -> Result<()> {
        let (job_tx, job_rx): (SyncSender<(PathBuf, Result<Job>)>, Receiver<_>) =
            sync_channel(READ_AHEAD);
        let (done_tx, done_rx) = sync_channel::<(Job, Result<HostImage>)>(READ_AHEAD);
        let (result_tx, result_rx) = std::sync::mpsc::channel::<(PathBuf, PathBuf, Result<()>)>();

        scope.spawn(move || {
            for (input, output) in plan {
                let job = output.and_then(|out| {
                    let mut sources = vec![input.as_path()];
                    sources.extend(spec.references());
                    crate::io::atomic::ensure_not_input(&out, &sources)?;
                    decode(spec, &input, out)
                });
                if job_tx.send((input, job)).is_err() {
                    break;
                }
            }
        });
        scope.spawn(move || {
            for (job, image) in done_rx {
                let result = image.and_then(|img| write(kind, &job, &img));
                if result_tx.send((job.input, job.output, result)).is_err() {
                    break;
                }
            }
        });

        let mut report = |input: PathBuf, output: Option<PathBuf>, result: Result<()>| match result
        {
            Ok(()) => {
                processed += 1;
                let out = output.unwrap_or_default();
                on_event(BatchEvent::Done {
                    input: &input,
                    output: &out,
                });
            }
            Err(e) => {
                on_event(BatchEvent::Failed {
                    input: &input,
                    error: &e,
                });
                failed.push((input, e.to_string()));
            }
        };

        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let finish = |f: InFlight| {
            let image = f.download.wait().and_then(|img| {
                if f.segment_on_cpu {
                    segment_on_cpu(segmenter, img)
                } else {
                    Ok(img)
                }
            });
            let image = image.map_err(|e| e.in_file(&f.job.input));
            (f.job, image)
        };
        for (input, job) in job_rx {
            match job.and_then(|j| {
                record(engine, j, &references, segmenter).map_err(|e| e.in_file(&input))
            }) {
                Ok(flight) => in_flight.push_back(flight),
                Err(e) => report(input, None, Err(e)),
            }
            while in_flight.len() > IN_FLIGHT {
                if let Some(f) = in_flight.pop_front() {
                    let _ = done_tx.send(finish(f));
                }
            }
            while let Ok((i, o, r)) = result_rx.try_recv() {
                report(i, Some(o), r);
            }
        }
        while let Some(f) = in_flight.pop_front() {
            let _ = done_tx.send(finish(f));
        }
        drop(done_tx);
        for (i, o, r) in result_rx {
            report(i, Some(o), r);
        }
        Ok(())
    })?;

    Ok(BatchReport {
        processed,
        failed,
        stats: engine.stats().since(&before),
        seconds: start.elapsed().as_secs_f64(),
        segment_preprocess: loaded.as_ref().map(|l| l.preprocess),
        segment_device: loaded.map(|l| l.device),
    })
}
