//! Writing a processed image as a derived DICOM object a PACS accepts next to its sources: same
//! patient and study, a new series and instance, `DERIVED\SECONDARY`, a Source Image Sequence that
//! names every input, and the IOD the content deserves — validated with dciodvfy (dicom3tools) in
//! the tests, with no errors.
//!
//! **IOD.** A derived image of CR/DX sources with a usable pixel spacing is Digital X-Ray Image
//! Storage – For Presentation with the DX modules (so viewers hang and measure it as a radiograph);
//! everything else is Secondary Capture. The exact rules, and why each is needed, are in [`iod`].
//! [`derived_iod`] tells a caller which one an image will get.
//!
//! **Photometric interpretation** describes the samples as written, decided per call by
//! [`Samples`]: stored values (resampled, stitched, histogram-matched) keep the first source's —
//! a MONOCHROME1 CR stays MONOCHROME1, pixel values unchanged, the inversion is left to the viewer;
//! display values (`radpipe window`, `equalize`: MONOCHROME1 already inverted) and label masks are
//! MONOCHROME2; RGB is RGB. In a DX object the Presentation LUT Shape follows it (INVERSE for
//! MONOCHROME1, IDENTITY for MONOCHROME2, PS3.3 C.8.11.3) and so does Pixel Intensity
//! Relationship Sign.
//!
//! **Sources.** All of them (a stitch has 2–5): each is referenced in the Source Image Sequence;
//! patient, study, body part, laterality and orientation come from the first; lossy compression
//! and burned-in annotation are YES if any source's are.
//!
//! **Determinism.** The same sources, pixels and derivation give the same bytes on every run. UIDs
//! are `2.25.` UIDs hashed ([`uids`]) from every source's SOP Instance UID, the derivation
//! description, the pixel attributes and the pixels (instance); from every source's series, the
//! study, the derivation and the SOP class (series — every image of a series processed the same
//! way lands in one derived series). No wall-clock time: Content Date/Time are the source's.
//!
//! The data set is built from scratch rather than by editing the source, so nothing of the
//! source's pixel module, private tags or acquisition details leaks into an object whose pixels they
//! no longer describe. Output is Explicit VR Little Endian, written through
//! [`write_atomic`](crate::io::atomic::write_atomic).

mod iod;
mod modules;
mod orientation;
mod pixels;
mod uids;

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::FileMetaTableBuilder;

use super::attrs::{self, Obj};
use super::{DicomImage, Photometric, error_chain};
use crate::io::atomic::{ensure_not_input, write_atomic};
use crate::transforms::Window;
use crate::{Error, HostImage, Result};
pub use iod::Iod;
use modules::Plan;
pub use orientation::Axes;
use pixels::{Content, dim};

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// What the samples of a derived image are, which decides its photometric interpretation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Samples {
    /// The first source's stored values, resampled, stitched or matched: its Photometric
    /// Interpretation is kept (MONOCHROME1 stays MONOCHROME1).
    #[default]
    Stored,
    /// Display values with any MONOCHROME1 inversion already applied: MONOCHROME2.
    Display,
    /// A label image (segmentation mask): MONOCHROME2, always Secondary Capture.
    Labels,
}

/// What to write with a derived image besides its pixels and geometry.
#[derive(Debug, Clone, Default)]
pub struct DerivedDicom<'a> {
    /// The images it was derived from, the first first: patient and study attributes come from the
    /// first, and every one is referenced in the Source Image Sequence. Empty writes empty
    /// patient/study attributes and a new Study Instance UID.
    pub sources: Vec<&'a DicomImage>,
    /// The frame of each source that was used (0-based; referenced for multi-frame sources).
    pub frame: u32,
    /// Derivation Description (0008,2111): what was done to the sources.
    pub description: String,
    /// Rescale Slope and Intercept to write (the pixel values map to modality values through them);
    /// `None` writes none (a DX object writes slope 1, intercept 0).
    pub rescale: Option<(f64, f64)>,
    /// Bits Stored; default 8 for `U8`, 16 for `U16`/`I16`. Every sample must fit in it.
    pub bits_stored: Option<u16>,
    /// Window Center/Width and VOI LUT Function to write (a DX object without one gets the
    /// samples' range).
    pub window: Option<Window>,
    /// What the samples are (stored values, display values, labels).
    pub samples: Samples,
    /// How the output's pixel axes lie in the first source's, for Patient Orientation; `None` when
    /// unknown (a perspective warp).
    pub axes: Option<Axes>,
    /// Inputs that were not DICOM files (a PNG station): nothing can reference them, and the result
    /// is Secondary Capture.
    pub raster_inputs: usize,
}

impl<'a> DerivedDicom<'a> {
    /// Options for an image derived from `source` (if any) by `description`, axes kept.
    pub fn from_source(source: Option<&'a DicomImage>, description: impl Into<String>) -> Self {
        DerivedDicom {
            sources: source.into_iter().collect(),
            description: description.into(),
            axes: Some(Axes::SAME),
            ..DerivedDicom::default()
        }
    }
}

/// Writes `image` as a derived DICOM file at `path` (Explicit VR Little Endian), as the IOD
/// [`derived_iod`] gives.
///
/// Only `U8`, `U16` and `I16` images can be written; `F32` gives an [`Error::InvalidParams`], as do a
/// Bits Stored that does not fit the format or the samples, an invalid window or rescale, and a `path`
/// that is one of the sources; every error names `path`.
pub fn write_derived_dicom(path: &Path, image: &HostImage, opts: &DerivedDicom<'_>) -> Result<()> {
    let content = Content::grey(image, opts).map_err(|e| e.in_file(path))?;
    write(path, &content, opts)
}

/// Writes an 8-bit RGB image (`rgb`: `width × height` interleaved R, G, B samples, row-major) as a
/// derived Secondary Capture at `path`: Photometric Interpretation RGB, Planar Configuration 0, with
/// the same source handling as [`write_derived_dicom`] (e.g. a localizer with a segmentation drawn
/// in). `opts.rescale`, `bits_stored`, `window` and `samples` do not apply and are ignored.
pub fn write_derived_rgb(
    path: &Path,
    width: u32,
    height: u32,
    rgb: &[u8],
    opts: &DerivedDicom<'_>,
) -> Result<()> {
    let expected = u64::from(width) * u64::from(height) * 3;
    if width == 0 || height == 0 || rgb.len() as u64 != expected {
        return Err(Error::InvalidImage(format!(
            "{width}x{height} RGB image needs {expected} bytes, got {}",
            rgb.len()
        ))
        .in_file(path));
    }
    dim(width).and(dim(height)).map_err(|e| e.in_file(path))?;
    write(path, &Content::Rgb { width, height, rgb }, opts)
}

/// The IOD [`write_derived_dicom`] writes `image` with `opts` as, and for Secondary Capture the
/// first DX requirement that failed.
pub fn derived_iod(
    image: &HostImage,
    opts: &DerivedDicom<'_>,
) -> Result<(Iod, Option<&'static str>)> {
    let content = Content::grey(image, opts)?;
    Ok(decide(&content, opts).iod)
}

/// The IOD, photometric interpretation, orientation, laterality and anatomy of `content`.
struct Decision {
    iod: (Iod, Option<&'static str>),
    photometric: &'static str,
    orientation: Option<String>,
    image_laterality: Option<String>,
    anatomy: Option<(String, String, String)>,
}

fn decide(content: &Content<'_>, opts: &DerivedDicom<'_>) -> Decision {
    let first = opts.sources.first().map(|s| &s.header);
    let text = |tag| first.and_then(|h| attrs::text(h, tag));
    let photometric = match content {
        Content::Rgb { .. } => "RGB",
        Content::Grey { .. } => match (opts.samples, opts.sources.first()) {
            (Samples::Stored, Some(s)) if s.photometric == Photometric::Monochrome1 => {
                "MONOCHROME1"
            }
            _ => "MONOCHROME2",
        },
    };
    let geometry = match content {
        Content::Grey { image, .. } => image.geometry.clone(),
        Content::Rgb { .. } => Default::default(),
    };
    let orientation = orientation::patient_orientation(
        text(tags::PATIENT_ORIENTATION).as_deref(),
        opts.axes,
        geometry.image_orientation,
    );
    let body_part = text(tags::BODY_PART_EXAMINED).map(|b| b.to_ascii_uppercase());
    let image_laterality = text(tags::IMAGE_LATERALITY)
        .filter(|l| matches!(l.as_str(), "R" | "L" | "U" | "B"))
        .or_else(|| text(tags::LATERALITY).filter(|l| matches!(l.as_str(), "R" | "L")))
        .or_else(|| {
            body_part
                .as_deref()
                .filter(|b| iod::unpaired(b))
                .map(|_| "U".to_string())
        });
    let coded = first
        .and_then(|h| attrs::first_item(h, tags::ANATOMIC_REGION_SEQUENCE))
        .and_then(|item| {
            Some((
                attrs::text(item, tags::CODE_VALUE)?,
                attrs::text(item, tags::CODING_SCHEME_DESIGNATOR)?,
                attrs::text(item, tags::CODE_MEANING)?,
            ))
        });
    let anatomy = coded.or_else(|| {
        let (code, meaning) = iod::anatomic_region(body_part.as_deref()?)?;
        Some((code.to_string(), "SCT".to_string(), meaning.to_string()))
    });
    let (signed, bits_stored) = match content {
        Content::Grey {
            signed,
            bits_stored,
            ..
        } => (*signed, *bits_stored),
        Content::Rgb { .. } => (false, 8),
    };
    let facts = iod::Facts {
        sources: opts
            .sources
            .iter()
            .map(|s| iod::SourceFacts {
                modality: s.modality.clone(),
                sop_class: s.sop_class_uid.clone(),
            })
            .collect(),
        raster_input: opts.raster_inputs > 0,
        colour: matches!(content, Content::Rgb { .. }),
        samples: opts.samples,
        spacing: geometry.pixel_spacing,
        signed,
        bits_stored,
        rescale: opts.rescale,
        orientation_known: orientation.is_some(),
        laterality_known: image_laterality.is_some(),
        anatomy_known: anatomy.is_some() || body_part.is_none(),
    };
    Decision {
        iod: iod::choose(&facts),
        photometric,
        orientation,
        image_laterality,
        anatomy,
    }
}

fn write(path: &Path, content: &Content<'_>, opts: &DerivedDicom<'_>) -> Result<()> {
    let inputs: Vec<&Path> = opts.sources.iter().map(|s| s.path.as_path()).collect();
    ensure_not_input(path, &inputs)?;
    let decision = decide(content, opts);
    let iod = decision.iod.0;
    let (width, height) = content.size();

    let source_uids: Vec<&[u8]> = opts
        .sources
        .iter()
        .map(|s| s.sop_instance_uid.as_deref().unwrap_or_default().as_bytes())
        .collect();
    let attributes = match content {
        Content::Grey { image, .. } => format!(
            "{width}x{height} {:?} bits {:?} rescale {:?} window {:?} geometry {:?}",
            image.format(),
            opts.bits_stored,
            opts.rescale,
            opts.window,
            image.geometry
        ),
        Content::Rgb { .. } => format!("{width}x{height} RGB"),
    };
    let attributes = format!(
        "{attributes} {} {} frame {} axes {:?}",
        iod.sop_class(),
        decision.photometric,
        opts.frame,
        opts.axes
    );
    let mut parts = source_uids.clone();
    parts.extend([
        opts.description.as_bytes(),
        attributes.as_bytes(),
        content.bytes(),
    ]);
    let sop_instance = uids::derived_uid("instance", &parts);
    let source_text = |s: &DicomImage, tag| attrs::text(&s.header, tag).unwrap_or_default();
    let mut series_parts: Vec<String> = opts
        .sources
        .iter()
        .map(|s| source_text(s, tags::SERIES_INSTANCE_UID))
        .collect();
    series_parts.extend(
        opts.sources
            .first()
            .map(|s| source_text(s, tags::STUDY_INSTANCE_UID)),
    );
    series_parts.push(opts.description.clone());
    series_parts.push(iod.sop_class().to_string());
    // Without a source there is no series to group by: one series per object.
    if opts.sources.is_empty() {
        series_parts.push(sop_instance.clone());
    }
    let series_refs: Vec<&[u8]> = series_parts.iter().map(|s| s.as_bytes()).collect();
    let series_uid = uids::derived_uid("series", &series_refs);

    let plan = Plan {
        iod,
        sources: &opts.sources,
        frame: opts.frame,
        photometric: decision.photometric,
        sop_instance,
        series_uid,
        description: &opts.description,
        orientation: decision.orientation,
        image_laterality: decision.image_laterality,
        anatomy: decision.anatomy,
    };
    let mut obj = Obj::new_empty();
    modules::common(&mut obj, &plan);
    modules::general_image(&mut obj, &plan);
    match content {
        Content::Grey {
            image,
            bits_allocated,
            bits_stored,
            signed,
        } => {
            pixels::grey_pixels(
                &mut obj,
                &plan,
                opts,
                image,
                (*bits_allocated, *bits_stored, *signed),
            );
        }
        Content::Rgb { width, height, rgb } => {
            pixels::rgb_pixels(&mut obj, *width, *height, rgb);
        }
    }
    encode(path, obj, iod, &plan.sop_instance)
}

/// Adds the file meta group, encodes and writes `obj` atomically.
fn encode(path: &Path, obj: Obj, iod: Iod, sop_instance: &str) -> Result<()> {
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(EXPLICIT_LE)
                .media_storage_sop_class_uid(iod.sop_class())
                .media_storage_sop_instance_uid(sop_instance),
        )
        .map_err(|e| {
            Error::format(
                path,
                format!("cannot build the file meta group: {}", error_chain(&e)),
            )
        })?;
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).map_err(|e| {
        Error::io(
            path,
            std::io::Error::other(format!("cannot encode DICOM: {}", error_chain(&e))),
        )
    })?;
    write_atomic(path, |w| {
        std::io::Write::write_all(w, &bytes).map_err(|e| Error::io(path, e))
    })
}
