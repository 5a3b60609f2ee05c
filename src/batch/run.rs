//! The batch executor: reader thread → GPU (this thread, two images in flight) → writer thread.
//! Per image: one upload, every stage recorded into one command encoder, one submission, one readback.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use super::spec::{BorderSpec, PipelineSpec, ResizeModeSpec, StageSpec, warp_transform};
use crate::gpu::GpuImage;
use crate::image::{HostImage, PixelFormat};
use crate::io::dicom::{DicomImage, Photometric};
use crate::io::{Input, OutputKind, OutputMeta, read_input, write_output};
use crate::ops::clahe::{self, ClaheParams};
use crate::ops::equalize::{self, EqualizeParams};
use crate::ops::histmatch::{self, MatchParams, MatchReference};
use crate::ops::histogram::Region;
use crate::ops::resize::{self, ResizeMode, ResizeParams};
use crate::ops::warp::{self, Border, Transform, WarpParams, rotation_matrix};
use crate::ops::window::{self, WindowRequest, WindowSettings};
use crate::pipeline::{Download, Recorder};
use crate::seg::infer::{Backend, Preprocess, Segmenter, display_window};
use crate::transforms::ModalityLut;
use crate::workflow::segment::{input_size, resolve_model};
use crate::{Engine, Error, Result, Stats};

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
}

/// A stage resolved for one image (its settings may depend on the file, e.g. its own window).
#[derive(Debug, Clone)]
enum Prepared {
    Window(WindowSettings),
    Resize(ResizeParams),
    Rotate(WarpParams),
    Warp(WarpParams),
    Equalize(EqualizeParams),
    Clahe(ClaheParams),
    Match {
        /// Index into the batch's uploaded references.
        reference: usize,
        name: String,
        params: MatchParams,
    },
    /// The network's mask; `window` turns stored values into 8-bit display values first.
    Segment {
        window: Option<WindowSettings>,
    },
}

impl Prepared {
    fn describe(&self) -> String {
        match self {
            Prepared::Window(s) => match s.window() {
                Some(w) => format!(
                    "window {} c{} w{} {} bits",
                    w.function.dicom_name(),
                    w.center,
                    w.width,
                    s.bits
                ),
                None => format!("VOI LUT {} bits", s.bits),
            },
            Prepared::Resize(p) => format!("resize {:?} {}x{}", p.mode, p.width, p.height),
            Prepared::Rotate(p) => match p.transform {
                Transform::Affine(m) => format!(
                    "rotate {:.3} degrees, scale {:.4}",
                    (-m[0][1]).atan2(m[0][0]).to_degrees(),
                    m[0][0].hypot(m[0][1])
                ),
                Transform::Perspective(_) => "warp".into(),
            },
            Prepared::Warp(p) => format!("warp to {}x{}", p.width, p.height),
            Prepared::Equalize(_) => "equalize".into(),
            Prepared::Match { name, .. } => format!("histogram matched to {name}"),
            Prepared::Clahe(p) => format!(
                "clahe clip {} tiles {}x{}",
                p.clip_limit, p.tiles_x, p.tiles_y
            ),
            Prepared::Segment { .. } => "BiSeNetV2 corpus callosum mask".into(),
        }
    }
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

fn prepare(spec: &PipelineSpec, input: &Input) -> Result<Vec<Prepared>> {
    let references = spec.references();
    let (mut width, mut height) = match input {
        Input::Dicom(d) => (d.width, d.height),
        Input::Raster(img) => (img.width, img.height),
    };
    // MONOCHROME1 stored values are inverted once, by the first stage that turns them into display
    // values (a window, or a histogram stage when no window came first), as `radpipe window` and
    // `radpipe equalize` do.
    let mut pending_invert =
        matches!(input, Input::Dicom(d) if d.photometric == Photometric::Monochrome1);
    let mut stored_values = true;
    let mut prepared = Vec::with_capacity(spec.stages.len());
    for stage in &spec.stages {
        let stage = match stage {
            StageSpec::Window {
                center,
                width: window_width,
                function,
                bits,
            } => {
                if !stored_values {
                    return Err(Error::InvalidParams(
                        "a window stage needs the file's stored values: only resize or rotate may come before it"
                            .into(),
                    ));
                }
                let request = WindowRequest {
                    center: *center,
                    width: *window_width,
                    function: *function,
                    bits: bits.unwrap_or(8),
                };
                let settings = match input {
                    Input::Dicom(d) => WindowSettings::from_source(d.as_ref(), 0, &request)?,
                    Input::Raster(img) => WindowSettings::for_image(img, &request)?,
                };
                pending_invert = false;
                stored_values = false;
                Prepared::Window(settings)
            }
            StageSpec::Resize {
                width: w,
                height: h,
                scale,
                mode,
            } => {
                let (out_w, out_h) = match (w, h, scale) {
                    (Some(w), Some(h), _) => (*w, *h),
                    (_, _, Some(s)) => (
                        ((f64::from(width) * s).round() as u32).max(1),
                        ((f64::from(height) * s).round() as u32).max(1),
                    ),
                    _ => {
                        return Err(Error::InvalidParams(
                            "resize needs width and height or scale".into(),
                        ));
                    }
                };
                let mut params = ResizeParams::new(out_w, out_h);
                params.mode = match mode {
                    Some(ResizeModeSpec::Area) => ResizeMode::Area,
                    _ => ResizeMode::Linear,
                };
                (width, height) = (out_w, out_h);
                Prepared::Resize(params)
            }
            StageSpec::Rotate {
                angle,
                scale,
                border,
            } => {
                let center = [
                    (f64::from(width) - 1.0) / 2.0,
                    (f64::from(height) - 1.0) / 2.0,
                ];
                let mut params = WarpParams::new(
                    Transform::Affine(rotation_matrix(center, *angle, scale.unwrap_or(1.0))),
                    width,
                    height,
                );
                params.border = border_of(*border);
                Prepared::Rotate(params)
            }
            StageSpec::Warp {
                matrix,
                inverse,
                size,
                border,
            } => {
                let transform = warp_transform(matrix).ok_or_else(|| {
                    Error::InvalidParams("a warp matrix has 6 or 9 numbers".into())
                })?;
                let [out_w, out_h] = size.unwrap_or([width, height]);
                let mut params = WarpParams::new(transform, out_w, out_h);
                params.inverse = inverse.unwrap_or(false);
                params.border = border_of(*border);
                (width, height) = (out_w, out_h);
                Prepared::Warp(params)
            }
            StageSpec::Equalize { bits, bins } => {
                let invert = std::mem::take(&mut pending_invert);
                stored_values = false;
                Prepared::Equalize(EqualizeParams {
                    bits: *bits,
                    bins: *bins,
                    invert,
                })
            }
            StageSpec::Match {
                reference,
                bits,
                bins,
            } => {
                if pending_invert {
                    return Err(Error::InvalidParams(
                        "a match stage on MONOCHROME1 stored values would keep them inverted: put a window or equalize stage before it"
                            .into(),
                    ));
                }
                stored_values = false;
                Prepared::Match {
                    reference: references
                        .iter()
                        .position(|r| *r == reference.as_path())
                        .ok_or_else(|| {
                            Error::InvalidParams(format!(
                                "match reference {} is not among the pipeline's references",
                                reference.display()
                            ))
                        })?,
                    name: reference
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    params: MatchParams {
                        bits: *bits,
                        bins: *bins,
                    },
                }
            }
            StageSpec::Clahe {
                clip_limit,
                tiles,
                bits,
                bins,
            } => {
                let invert = std::mem::take(&mut pending_invert);
                stored_values = false;
                let defaults = ClaheParams::default();
                let [tiles_x, tiles_y] = tiles.unwrap_or([defaults.tiles_x, defaults.tiles_y]);
                Prepared::Clahe(ClaheParams {
                    clip_limit: clip_limit.unwrap_or(defaults.clip_limit),
                    tiles_x,
                    tiles_y,
                    bits: *bits,
                    bins: *bins,
                    invert,
                })
            }
            StageSpec::Segment { .. } => {
                // Stored values get the file's own window to 8 bits, as `radpipe segment` feeds
                // the network; display values go in as they are (and must be 8-bit).
                let window = if stored_values {
                    display_window(input)?
                } else {
                    None
                };
                pending_invert = false;
                stored_values = false;
                Prepared::Segment { window }
            }
        };
        prepared.push(stage);
    }
    if pending_invert && stored_values && spec.output_kind()? == OutputKind::Dicom {
        let path = match input {
            Input::Dicom(d) => d.path.clone(),
            Input::Raster(_) => PathBuf::new(),
        };
        return Err(Error::unsupported(
            path,
            "a MONOCHROME1 source through geometric stages only would be written as MONOCHROME2 (inverted); \
             add a window or histogram stage, or write png/tif",
        ));
    }
    Ok(prepared)
}

fn border_of(border: Option<BorderSpec>) -> Border {
    match border {
        Some(BorderSpec::Replicate) => Border::Replicate,
        Some(BorderSpec::Reflect) => Border::Reflect101,
        _ => Border::Constant(0.0),
    }
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
            segmenter.segment_resident(rec, &display)?
        }
        None => {
            let download = rec.download(&current)?;
            rec.submit()?;
            download
        }
    };
    Ok(InFlight { job, download })
}

fn write(kind: OutputKind, job: &Job, image: &HostImage) -> Result<()> {
    let source = job.meta_source.as_deref();
    let meta = match job.stages.as_slice() {
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
            }
            if image.format() != PixelFormat::U16 {
                meta.bits_stored = None;
            }
            meta
        }
    };
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
    // The network, loaded once for the whole batch onto the engine's device.
    let segmenter = match spec.segment() {
        Some((weights, size)) => {
            let model = resolve_model(weights)?;
            Some(Segmenter::load(
                &model,
                Backend::Gpu(engine.clone()),
                Preprocess::square(input_size(&model, size)),
            )?)
        }
        None => None,
    };
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
            let image = f.download.wait().map_err(|e| e.in_file(&f.job.input));
            (f.job, image)
        };
        for (input, job) in job_rx {
            match job.and_then(|j| {
                record(engine, j, &references, segmenter.as_ref()).map_err(|e| e.in_file(&input))
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
    })
}
