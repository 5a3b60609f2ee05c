//! `radpipe equalize` and `radpipe match`: read a DICOM frame or a raster image, run the histogram
//! stages on the GPU (one upload, one submission, one readback), write PNG, TIFF, raw or a derived
//! DICOM atomically.
//!
//! Both work on stored pixel values: the Modality LUT is monotonic for practically every file, and
//! equalization would undo any linear rescale anyway. For equalization a MONOCHROME1 source is
//! inverted on the way out so the result displays as MONOCHROME2, as `radpipe window` does (a DICOM
//! output says MONOCHROME2); matching stays in the stored domain (its output is data for the next
//! stage, not a display image), so a DICOM output keeps the source's photometric interpretation.

use std::path::Path;

use crate::image::{HostImage, PixelFormat};
use crate::io::dicom::{DerivedDicom, DicomImage, Photometric, Samples, write_derived_dicom};
use crate::io::{Input, OutputKind, atomic, output_kind, raster, raw, read_input};
use crate::ops::clahe::{ClaheParams, clahe_image};
use crate::ops::equalize::{EqualizeParams, equalize_image};
use crate::ops::histmatch::{HostMatchReference, MatchParams, match_image};
use crate::ops::histogram::Binning;
use crate::{Engine, Error, Result};

/// Global equalization or CLAHE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// One histogram for the whole image (OpenCV's `equalizeHist`).
    Global,
    /// Contrast-limited adaptive equalization over a tile grid (OpenCV's CLAHE).
    Clahe,
}

/// What `radpipe equalize` was asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct EqualizeRequest {
    /// Global or CLAHE.
    pub method: Method,
    /// CLAHE clip limit (OpenCV's `clipLimit`; default 40).
    pub clip_limit: f64,
    /// CLAHE tile grid, columns × rows (default 8×8).
    pub tiles: (u32, u32),
    /// Bins (power of two; default one per value).
    pub bins: Option<u32>,
    /// Significant bits of 16-bit samples (e.g. 12).
    pub bits: Option<u32>,
    /// Frame of a multi-frame DICOM file.
    pub frame: u32,
}

impl Default for EqualizeRequest {
    fn default() -> Self {
        EqualizeRequest {
            method: Method::Global,
            clip_limit: 40.0,
            tiles: (8, 8),
            bins: None,
            bits: None,
            frame: 0,
        }
    }
}

/// What was done, for the CLI to print and tests to check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EqualizeReport {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Output sample format.
    pub format: PixelFormat,
    /// The method.
    pub method: Method,
    /// Bins used.
    pub bins: u32,
    /// Output range is `0..2^bits`.
    pub bits: u32,
    /// Whether a MONOCHROME1 source was inverted.
    pub inverted: bool,
}

/// What `radpipe match` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MatchReport {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Output sample format.
    pub format: PixelFormat,
    /// Bins used.
    pub bins: u32,
}

/// A frame read for a histogram workflow, with its DICOM source when there is one.
struct Frame {
    image: HostImage,
    dicom: Option<Box<DicomImage>>,
}

fn read_frame(path: &Path, frame: u32) -> Result<Frame> {
    match read_input(path)? {
        Input::Dicom(d) => Ok(Frame {
            image: d.frame(frame).map_err(|e| e.in_file(path))?,
            dicom: Some(d),
        }),
        Input::Raster(image) => {
            if frame != 0 {
                return Err(Error::InvalidParams(format!(
                    "frame {frame} requested, a raster image has one frame"
                ))
                .in_file(path));
            }
            Ok(Frame { image, dicom: None })
        }
    }
}

/// Writes `image`; a DICOM output gets `derived` with the Bits Stored of `bits`.
fn write_output(
    output: &Path,
    kind: OutputKind,
    image: &HostImage,
    bits: u32,
    derived: DerivedDicom<'_>,
) -> Result<()> {
    match kind {
        OutputKind::Png => raster::write_png(output, image),
        OutputKind::Tiff => raster::write_tiff(output, image),
        OutputKind::Raw => raw::write_raw(output, image),
        OutputKind::Dicom => {
            let bits_stored = (image.format() == PixelFormat::U16).then_some(bits as u16);
            write_derived_dicom(
                output,
                image,
                &DerivedDicom {
                    bits_stored,
                    ..derived
                },
            )
        }
    }
}

/// Equalizes `input` (global or CLAHE) into `output`.
pub fn equalize_file(
    engine: &Engine,
    input: &Path,
    output: &Path,
    request: &EqualizeRequest,
) -> Result<EqualizeReport> {
    atomic::ensure_not_input(output, &[input])?;
    let kind = output_kind(output)?;
    let with_file = |e: Error| e.in_file(input);
    let frame = read_frame(input, request.frame)?;
    let invert = frame
        .dicom
        .as_ref()
        .is_some_and(|d| d.photometric == Photometric::Monochrome1);
    let format = frame.image.format();
    let binning = Binning::new(format, request.bits, request.bins).map_err(with_file)?;
    let result = match request.method {
        Method::Global => {
            let params = EqualizeParams {
                bits: request.bits,
                bins: request.bins,
                invert,
            };
            equalize_image(engine, &frame.image, &params)
        }
        Method::Clahe => {
            let params = ClaheParams {
                clip_limit: request.clip_limit,
                tiles_x: request.tiles.0,
                tiles_y: request.tiles.1,
                bits: request.bits,
                bins: request.bins,
                invert,
            };
            clahe_image(engine, &frame.image, &params)
        }
    }
    .map_err(with_file)?;
    let bits = if format == PixelFormat::F32 {
        32
    } else {
        binning.bits
    };
    let description = match request.method {
        Method::Global => format!(
            "histogram equalized by radpipe: {} bins, {bits}-bit range",
            binning.bins
        ),
        Method::Clahe => format!(
            "CLAHE by radpipe: clip limit {}, {}x{} tiles, {} bins, {bits}-bit range",
            request.clip_limit, request.tiles.0, request.tiles.1, binning.bins
        ),
    };
    write_output(
        output,
        kind,
        &result,
        bits,
        DerivedDicom {
            frame: request.frame,
            samples: Samples::Display,
            ..DerivedDicom::from_source(frame.dicom.as_deref(), description)
        },
    )?;
    Ok(EqualizeReport {
        width: result.width,
        height: result.height,
        format: result.format(),
        method: request.method,
        bins: binning.bins,
        bits,
        inverted: invert,
    })
}

/// Matches the histogram of `input` to that of `reference` (both whole images) into `output`.
pub fn match_file(
    engine: &Engine,
    input: &Path,
    reference: &Path,
    output: &Path,
    params: &MatchParams,
    frame: u32,
) -> Result<MatchReport> {
    atomic::ensure_not_input(output, &[input, reference])?;
    let kind = output_kind(output)?;
    let source = read_frame(input, frame)?;
    let target = read_frame(reference, 0)?;
    let (format, ref_format) = (source.image.format(), target.image.format());
    if format != ref_format {
        return Err(Error::InvalidParams(format!(
            "reference is {ref_format}, {} is {format}: match images of the same sample format",
            input.display()
        ))
        .in_file(reference));
    }
    let binning = params.binning(format).map_err(|e| e.in_file(input))?;
    let result = match_image(
        engine,
        &source.image,
        None,
        &HostMatchReference::Image {
            image: &target.image,
            rect: None,
            mask: None,
        },
        params,
    )
    .map_err(|e| e.in_file(input))?;
    let description = format!(
        "histogram matched by radpipe to {} ({} bins)",
        reference
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        binning.bins
    );
    write_output(
        output,
        kind,
        &result,
        binning.bits,
        DerivedDicom {
            frame,
            ..DerivedDicom::from_source(source.dicom.as_deref(), description)
        },
    )?;
    Ok(MatchReport {
        width: result.width,
        height: result.height,
        format: result.format(),
        bins: binning.bins,
    })
}
