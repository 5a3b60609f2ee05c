//! `radpipe segment`: read DICOM/PNG/JPEG images, segment them with BiSeNetV2 (GPU or CPU, see
//! [`DeviceChoice`]), write each mask as `OUTDIR/<stem>_mask.png` (0/255, the input's size), measure it
//! ([`crate::seg::geometry`]) and, when asked, draw the result on the image
//! (`<stem>_overlay.png`, [`crate::seg::overlay`]).
//!
//! [`segment_one`] and [`segment_file`] do the same for one image without writing anything, for
//! callers that store the results themselves (the DICOM node's segment job).
//!
//! DICOM images are windowed to 8-bit display values first (the file's window, else its VOI LUT, else
//! the frame's range), as the original system fed the network 8-bit images; 8-bit PNG/JPEG images are
//! used as they are, 16-bit rasters are windowed over their range. A file that cannot be read, is too
//! small or fails is reported in its own entry and the others go on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::io::{atomic, raster};
use crate::seg::geometry::{Fit, MaskMeasurement, PatientAxis};
use crate::{Engine, Error, Result};

pub use crate::seg::infer::{
    DeviceChoice, DeviceUsed, MIN_IMAGE_SIDE, Prepared, PreprocessKind, prepare,
};
use crate::seg::weights::trained_input_size;

mod one;
pub use one::{
    LoadedSegmenter, PreprocessUsed, Segmented, load_segmenter, load_segmenter_with,
    resolve_preprocess, segment_batch, segment_file, segment_one,
};

/// Default network input side.
pub const DEFAULT_INPUT_SIZE: u32 = 512;

/// Where radpipe looks for its shipped model (none ships yet: see the training issue).
pub const DEFAULT_MODEL: &str = "models/bisenet_v2_corpus_callosum.safetensors";

/// What `segment_files` should do.
#[derive(Debug, Clone)]
pub struct SegmentRequest {
    /// Weights (.pdparams, .safetensors, .bpk); `None` = the shipped default model.
    pub model: Option<PathBuf>,
    /// Output folder (must exist).
    pub out_dir: PathBuf,
    /// Network input size (square).
    pub size: u32,
    /// Images per network batch.
    pub batch: usize,
    /// Device (default `auto`: see [`DeviceChoice`]).
    pub device: DeviceChoice,
    /// Also write `<stem>_overlay.png` (the picture of the result, [`crate::seg::overlay`]) here.
    pub overlay_dir: Option<PathBuf>,
    /// Preprocessing; `None` = the model's ([`resolve_preprocess`]).
    pub preprocess: Option<PreprocessKind>,
}

/// The report entry of one input (one object of the JSON array).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SegmentEntry {
    /// The input path as given.
    pub file: String,
    /// The mask written, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// The overlay picture written, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlay: Option<String>,
    /// Pixels of the largest component (0 for an empty mask).
    pub area_px: usize,
    /// Minimum-area box, pixels (absent for an empty mask).
    #[serde(rename = "box", skip_serializing_if = "Option::is_none")]
    pub bbox: Option<crate::seg::geometry::OrientedBox>,
    /// Least-squares line, pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<crate::seg::geometry::Line>,
    /// Final angle (mean of box and line), degrees, image coordinates; `null` when there is none.
    pub angle_deg: Option<f64>,
    /// True when the network found no foreground.
    pub empty: bool,
    /// Foreground pixels in all components.
    pub mask_px: usize,
    /// The fit in millimetres, when the pixel spacing is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mm: Option<Fit>,
    /// Centre and axis in patient coordinates, when position and orientation are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientAxis>,
    /// What went wrong with this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the network ran, and why there.
    pub device: DeviceUsed,
    /// Which preprocessing made the network input, and why that one.
    pub preprocess: PreprocessUsed,
}

impl SegmentEntry {
    fn failed(file: &Path, run: &(DeviceUsed, PreprocessUsed), error: String) -> Self {
        SegmentEntry {
            file: file.display().to_string(),
            mask: None,
            overlay: None,
            area_px: 0,
            bbox: None,
            line: None,
            angle_deg: None,
            empty: false,
            mask_px: 0,
            mm: None,
            patient: None,
            error: Some(error),
            device: run.0.clone(),
            preprocess: run.1,
        }
    }

    fn measured(
        file: &Path,
        mask: &Path,
        overlay: Option<&Path>,
        run: &(DeviceUsed, PreprocessUsed),
        m: MaskMeasurement,
    ) -> Self {
        SegmentEntry {
            file: file.display().to_string(),
            mask: Some(mask.display().to_string()),
            overlay: overlay.map(|p| p.display().to_string()),
            area_px: m.area_px,
            bbox: m.pixels.map(|f| f.bbox),
            line: m.pixels.and_then(|f| f.line),
            angle_deg: m.pixels.and_then(|f| f.angle_deg),
            empty: m.area_px == 0,
            mask_px: m.mask_px,
            mm: m.mm,
            patient: m.patient,
            error: None,
            device: run.0.clone(),
            preprocess: run.1,
        }
    }
}

/// The network input side: the one asked for, else the size `model` was trained at when its file
/// records it, else [`DEFAULT_INPUT_SIZE`].
pub fn input_size(model: &Path, requested: Option<u32>) -> u32 {
    requested
        .or_else(|| trained_input_size(model))
        .unwrap_or(DEFAULT_INPUT_SIZE)
}

/// The model file to use: the one given, else the shipped default (models/, see models/MODEL.md).
pub fn resolve_model(model: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = model {
        return Ok(p.to_path_buf());
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL);
    if shipped.is_file() {
        return Ok(shipped);
    }
    Err(Error::InvalidParams(format!(
        "no segmentation model: the shipped {DEFAULT_MODEL} is missing from this installation; pass \
         --model PATH with PaddleSeg weights (.pdparams), .safetensors or a burn \
         record (.bpk)"
    )))
}

/// `OUTDIR/<stem>_mask.png` for every input; refuses two inputs with the same stem and an output
/// that is an input.
pub fn mask_paths(inputs: &[PathBuf], out_dir: &Path) -> Result<Vec<PathBuf>> {
    let paths = side_paths(inputs, out_dir, "_mask.png")?;
    ensure_not_inputs(&paths, inputs)?;
    Ok(paths)
}

/// `DIR/<stem>_overlay.png` for every input (the `--overlay` pictures); refuses two inputs with the
/// same stem. Not checked against the inputs here, so that the CLI's output plan names `--overlay`
/// when one would be overwritten ([`segment_files`] checks them too).
pub fn overlay_paths(inputs: &[PathBuf], dir: &Path) -> Result<Vec<PathBuf>> {
    side_paths(inputs, dir, "_overlay.png")
}

fn ensure_not_inputs(outputs: &[PathBuf], inputs: &[PathBuf]) -> Result<()> {
    let all: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    outputs
        .iter()
        .try_for_each(|p| atomic::ensure_not_input(p, &all))
}

/// `DIR/<stem><suffix>` for every input; refuses two inputs with the same stem.
fn side_paths(inputs: &[PathBuf], dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut seen: HashMap<PathBuf, &Path> = HashMap::new();
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::InvalidParams(format!("{}: no file name", input.display())))?;
        let path = dir.join(format!("{stem}{suffix}"));
        if let Some(other) = seen.insert(path.clone(), input) {
            return Err(Error::InvalidParams(format!(
                "{} and {} would both write {}; segment them into different folders",
                other.display(),
                input.display(),
                path.display()
            )));
        }
        out.push(path);
    }
    Ok(out)
}

/// Segments `inputs`, writes the masks (and the overlays when asked), and returns one entry per
/// input (failed files included, with their error). `engine` is the device `request.device` chooses
/// among ([`DeviceChoice::resolve`]); `None` runs on the CPU unless `gpu` is asked for.
pub fn segment_files(
    engine: Option<&Engine>,
    inputs: &[PathBuf],
    request: &SegmentRequest,
) -> Result<Vec<SegmentEntry>> {
    if inputs.is_empty() {
        return Err(Error::InvalidParams("no input files".into()));
    }
    if request.batch == 0 {
        return Err(Error::InvalidParams("batch size must be at least 1".into()));
    }
    let folders = std::iter::once(&request.out_dir).chain(request.overlay_dir.as_ref());
    for folder in folders {
        if !folder.is_dir() {
            return Err(Error::io(
                folder,
                std::io::Error::new(std::io::ErrorKind::NotFound, "output folder does not exist"),
            ));
        }
    }
    let masks = mask_paths(inputs, &request.out_dir)?;
    let overlays = match &request.overlay_dir {
        Some(dir) => {
            let paths = overlay_paths(inputs, dir)?;
            ensure_not_inputs(&paths, inputs)?;
            paths.into_iter().map(Some).collect()
        }
        None => vec![None; inputs.len()],
    };
    let loaded = load_segmenter_with(
        engine,
        request.model.as_deref(),
        Some(request.size),
        request.device,
        request.preprocess,
    )?;
    let device = &(loaded.device.clone(), loaded.preprocess);
    let mut entries: Vec<Option<SegmentEntry>> = vec![None; inputs.len()];
    let mut pending: Vec<(usize, Prepared)> = Vec::new();
    let flush = |pending: &mut Vec<(usize, Prepared)>, entries: &mut Vec<Option<SegmentEntry>>| {
        if pending.is_empty() {
            return;
        }
        let batch: Vec<&Prepared> = pending.iter().map(|(_, p)| p).collect();
        match segment_batch(&loaded.segmenter, &batch) {
            Ok(results) => {
                for ((i, _), result) in pending.iter().zip(results) {
                    let (input, mask, overlay) = (&inputs[*i], &masks[*i], overlays[*i].as_deref());
                    let entry = result
                        .and_then(|s| write_one(&s, mask, overlay).map(|()| s.measurement))
                        .map(|m| SegmentEntry::measured(input, mask, overlay, device, m))
                        .unwrap_or_else(|e| {
                            SegmentEntry::failed(input, device, e.in_file(input).to_string())
                        });
                    entries[*i] = Some(entry);
                }
            }
            Err(e) => {
                for (i, _) in pending.iter() {
                    let input = &inputs[*i];
                    let message = format!("{}: {e}", input.display());
                    entries[*i] = Some(SegmentEntry::failed(input, device, message));
                }
            }
        }
        pending.clear();
    };
    for (i, input) in inputs.iter().enumerate() {
        match prepare(input) {
            Ok(p) => pending.push((i, p)),
            Err(e) => {
                let message = e.in_file(input).to_string();
                entries[i] = Some(SegmentEntry::failed(input, device, message));
            }
        }
        if pending.len() >= request.batch {
            flush(&mut pending, &mut entries);
        }
    }
    flush(&mut pending, &mut entries);
    Ok(entries
        .into_iter()
        .zip(inputs)
        .map(|(e, input)| {
            e.unwrap_or_else(|| {
                let message = format!("{}: not processed", input.display());
                SegmentEntry::failed(input, device, message)
            })
        })
        .collect())
}

/// Writes one result's mask and, when a path is given, its overlay.
fn write_one(s: &Segmented, mask: &Path, overlay: Option<&Path>) -> Result<()> {
    raster::write_png(mask, &s.mask)?;
    match overlay {
        Some(path) => s.overlay.write_png(path),
        None => Ok(()),
    }
}

/// Writes the report (a JSON array, one object per input) atomically.
pub fn write_report(path: &Path, entries: &[SegmentEntry]) -> Result<()> {
    let json = serde_json::to_vec_pretty(entries)
        .map_err(|e| Error::InvalidParams(format!("report: {e}")))?;
    atomic::write_atomic(path, |w| {
        use std::io::Write;
        w.write_all(&json)
            .and_then(|()| w.write_all(b"\n"))
            .map_err(|e| Error::io(path, e))
    })
}
