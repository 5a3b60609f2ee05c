//! Segmenting without writing: a model loaded once onto the device [`DeviceChoice`] picks, then for
//! each image its mask, its measurement and the overlay picture, handed back to the caller. This is
//! what `radpipe segment` runs per batch before it writes files, and what a long-running caller (the
//! DICOM node's segment job) keeps loaded between jobs, since loading the weights costs more than
//! segmenting one localizer.

use std::path::{Path, PathBuf};

use super::{input_size, resolve_model};
use crate::image::HostImage;
use crate::seg::geometry::{MaskMeasurement, measure};
use crate::seg::infer::{
    DeviceChoice, DeviceUsed, Prepared, Preprocess, PreprocessKind, SegInput, Segmenter, prepare,
    trained_preprocess,
};
use crate::seg::overlay::{Overlay, draw_overlay};
use crate::{Engine, Error, Result};

/// A network loaded for segmentation, and where it runs.
#[derive(Debug, Clone)]
pub struct LoadedSegmenter {
    /// The network and its preprocessing.
    pub segmenter: Segmenter,
    /// Where it runs, and why there (for reports).
    pub device: DeviceUsed,
    /// The weights file loaded.
    pub model: PathBuf,
    /// The network input side.
    pub size: u32,
    /// The preprocessing that runs, and why that one (for reports).
    pub preprocess: PreprocessUsed,
}

/// Which preprocessing ran and why, for reports: `{"kind": "paddleseg", "source": "model"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PreprocessUsed {
    /// The preprocessing.
    pub kind: PreprocessKind,
    /// `"asked"` (flag or pipeline file), `"model"` (the weights' metadata or format) or
    /// `"default"` (neither says: radpipe's own).
    pub source: &'static str,
}

impl std::fmt::Display for PreprocessUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.source {
            "asked" => "asked for",
            "model" => "the model's",
            _ => "default",
        };
        write!(f, "{} ({why})", self.kind)
    }
}

/// The preprocessing to run: the one asked for, else the one `model` records
/// ([`trained_preprocess`]: a `.pdparams` is PaddleSeg's), else radpipe's own.
pub fn resolve_preprocess(model: &Path, asked: Option<PreprocessKind>) -> Result<PreprocessUsed> {
    if let Some(kind) = asked {
        return Ok(PreprocessUsed {
            kind,
            source: "asked",
        });
    }
    Ok(match trained_preprocess(model)? {
        Some(kind) => PreprocessUsed {
            kind,
            source: "model",
        },
        None => PreprocessUsed {
            kind: PreprocessKind::Radpipe,
            source: "default",
        },
    })
}

/// The result of one image.
#[derive(Debug, Clone)]
pub struct Segmented {
    /// The mask: u8 0/255 at the image's size, with the image's geometry.
    pub mask: HostImage,
    /// What [`crate::seg::geometry::measure_mask`] measured on it: box, line, final angle, centre
    /// (pixels; millimetres and patient coordinates when the geometry is known).
    pub measurement: MaskMeasurement,
    /// The picture of the result ([`crate::seg::overlay`]), the image's size.
    pub overlay: Overlay,
}

/// Loads `model` (`None`: the shipped one, [`resolve_model`]) at input side `size` (`None`: the size
/// the model records, else the default, [`input_size`]) onto the device `device` picks with
/// `engine` ([`DeviceChoice::resolve`]: `auto` runs on the CPU when `engine` is `None` or on a CPU
/// adapter).
pub fn load_segmenter(
    engine: Option<&Engine>,
    model: Option<&Path>,
    size: Option<u32>,
    device: DeviceChoice,
) -> Result<LoadedSegmenter> {
    load_segmenter_with(engine, model, size, device, None)
}

/// [`load_segmenter`] with the preprocessing asked for (`None`: the model's, else radpipe's own,
/// [`resolve_preprocess`]).
pub fn load_segmenter_with(
    engine: Option<&Engine>,
    model: Option<&Path>,
    size: Option<u32>,
    device: DeviceChoice,
    preprocess: Option<PreprocessKind>,
) -> Result<LoadedSegmenter> {
    let model = resolve_model(model)?;
    let size = input_size(&model, size);
    let preprocess = resolve_preprocess(&model, preprocess)?;
    let (backend, used) = device.resolve(engine)?;
    let pre = Preprocess::square(size).with_kind(preprocess.kind);
    let segmenter = Segmenter::load(&model, backend, pre)?;
    Ok(LoadedSegmenter {
        segmenter,
        device: used,
        model,
        size,
        preprocess,
    })
}

/// Segments a batch of prepared images in one network pass; each image's measurement or overlay may
/// fail on its own. `Err` when the pass itself fails.
pub fn segment_batch(segmenter: &Segmenter, batch: &[&Prepared]) -> Result<Vec<Result<Segmented>>> {
    let inputs: Vec<SegInput<'_>> = batch
        .iter()
        .map(|p| SegInput {
            image: &p.image,
            window: p.window.as_ref(),
        })
        .collect();
    let masks = segmenter.segment(&inputs)?;
    Ok(batch
        .iter()
        .zip(masks)
        .map(|(p, mask)| {
            let measurement = measure(&mask)?;
            let overlay = draw_overlay(&p.image, p.window.as_ref(), &mask, &measurement)?;
            Ok(Segmented {
                mask,
                measurement,
                overlay,
            })
        })
        .collect())
}

/// Segments one prepared image ([`prepare`] reads a file into one; a caller holding the pixels
/// builds it from the stored image and its window).
pub fn segment_one(segmenter: &Segmenter, image: &Prepared) -> Result<Segmented> {
    segment_batch(segmenter, &[image])?
        .pop()
        .unwrap_or_else(|| Err(Error::InvalidParams("the network returned no mask".into())))
}

/// Reads `path` (DICOM, PNG, JPEG) and segments it; errors name the file.
pub fn segment_file(segmenter: &Segmenter, path: &Path) -> Result<Segmented> {
    let image = prepare(path)?;
    segment_one(segmenter, &image).map_err(|e| e.in_file(path))
}
