//! `radpipe warp | resize | rotate | crop`: read a DICOM or raster file, resample it on the GPU
//! ([`crate::ops::warp`], [`crate::ops::resize`]) and write PNG, TIFF, raw or a derived DICOM.
//!
//! The pixel values are never re-mapped: PNG/TIFF in → the same bit depth out; DICOM in → the stored
//! values are resampled and the derived DICOM carries the source's Rescale Slope/Intercept and first
//! window, so modality values (HU, …) and the display are preserved, with the pixel spacing the op
//! computed, the source's photometric interpretation (MONOCHROME1 stays MONOCHROME1) and a Patient
//! Orientation that follows the matrix. Also here: the parsers for the command line's `--matrix`, `--size` and `--center` values,
//! so a host application accepts the same text.

use std::path::Path;

use crate::image::{HostImage, PixelFormat};
use crate::io::dicom::{Axes, DerivedDicom, DicomImage, write_derived_dicom};
use crate::io::{Input, OutputKind, atomic, output_kind, raster, raw, read_input};
use crate::ops::resize::{ResizeMode, ResizeParams, resize_image};
use crate::ops::warp::{
    Border, Sampling, Transform, WarpParams, rotated_roi_matrix, rotation_matrix, warp_image,
};
use crate::transforms::ModalityLut;
use crate::{Engine, Error, Result};

/// The geometric operation to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum GeometricOp {
    /// A warp by an affine or perspective matrix.
    Warp {
        /// The matrix.
        transform: Transform,
        /// The matrix maps destination → source (else source → destination).
        inverse: bool,
        /// Output (width, height); default: the input's size.
        size: Option<(u32, u32)>,
        /// Border handling.
        border: Border,
    },
    /// A resize to a given size.
    Resize {
        /// Output (width, height).
        size: (u32, u32),
        /// Linear or area.
        mode: ResizeMode,
    },
    /// A rotation about a centre with scale (OpenCV `getRotationMatrix2D`; positive = counter-clockwise).
    Rotate {
        /// Degrees.
        angle: f64,
        /// Centre (x, y) in pixels; default: the image centre `((w − 1)/2, (h − 1)/2)`.
        center: Option<[f64; 2]>,
        /// Uniform scale.
        scale: f64,
        /// Output (width, height); default: the input's size.
        size: Option<(u32, u32)>,
        /// Border handling.
        border: Border,
    },
    /// An upright crop of a rotated rectangle (OpenCV `RotatedRect`: positive = clockwise on screen).
    Crop {
        /// Centre (x, y) of the rectangle in pixels.
        center: [f64; 2],
        /// Rectangle (and output) (width, height).
        size: (u32, u32),
        /// Degrees.
        angle: f64,
        /// Border handling.
        border: Border,
    },
}

/// What to do, in full.
#[derive(Debug, Clone, PartialEq)]
pub struct GeometricRequest {
    /// The operation.
    pub op: GeometricOp,
    /// Exact (default) or OpenCV-compatible arithmetic.
    pub sampling: Sampling,
    /// Frame of a multi-frame DICOM (0-based).
    pub frame: u32,
}

/// What was done, for the CLI to print and tests to check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GeometricReport {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Output sample format.
    pub format: PixelFormat,
    /// Output pixel spacing `[row, column]` in mm, when known.
    pub pixel_spacing: Option<[f64; 2]>,
    /// What the derived DICOM (if any) could not carry over, and similar remarks.
    pub notes: Vec<String>,
}

/// Applies `request` to `input` (frame `request.frame` for multi-frame DICOM) and writes `output`.
pub fn warp_file(
    engine: &Engine,
    input: &Path,
    output: &Path,
    request: &GeometricRequest,
) -> Result<GeometricReport> {
    atomic::ensure_not_input(output, &[input])?;
    let kind = output_kind(output)?;
    let read = read_input(input)?;
    let (image, dicom) = match &read {
        Input::Dicom(d) => (d.frame(request.frame)?, Some(d.as_ref())),
        Input::Raster(img) => {
            if request.frame != 0 {
                return Err(Error::InvalidParams(format!(
                    "frame {} requested, a raster image has one frame",
                    request.frame
                ))
                .in_file(input));
            }
            (img.clone(), None)
        }
    };
    check_output_kind(output, kind, &image, "this image is")?;
    let result = run(engine, &image, request).map_err(|e| e.in_file(input))?;
    let mut notes = Vec::new();
    match kind {
        OutputKind::Png => raster::write_png(output, &result)?,
        OutputKind::Tiff => raster::write_tiff(output, &result)?,
        OutputKind::Raw => raw::write_raw(output, &result)?,
        OutputKind::Dicom => {
            let axes = output_axes(&image, &request.op);
            write_dicom(output, &result, dicom, request, axes, &mut notes)?
        }
    }
    Ok(GeometricReport {
        width: result.width,
        height: result.height,
        format: result.format(),
        pixel_spacing: result.geometry.pixel_spacing,
        notes,
    })
}

/// Refuses, before any GPU work, outputs that cannot hold the result. `samples` names what is being
/// written in the message ("this image is"; stitching: "the stations are"). A MONOCHROME1 source is
/// fine for every format: a DICOM output keeps MONOCHROME1, PNG/TIFF/raw hold the stored values.
pub(crate) fn check_output_kind(
    output: &Path,
    kind: OutputKind,
    image: &HostImage,
    samples: &str,
) -> Result<()> {
    let format = image.format();
    match kind {
        OutputKind::Png | OutputKind::Tiff
            if !matches!(format, PixelFormat::U8 | PixelFormat::U16) =>
        {
            Err(Error::unsupported(
                output,
                format!(
                    "PNG/TIFF output takes u8 or u16 samples and {samples} {format}; write .dcm or .raw"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// How the output's pixel axes lie in the input's, for the derived DICOM's Patient Orientation:
/// from the affine matrix; `None` for a perspective warp (no single direction per axis).
pub fn output_axes(image: &HostImage, op: &GeometricOp) -> Option<Axes> {
    let linear = |m: [[f64; 3]; 2]| [[m[0][0], m[0][1]], [m[1][0], m[1][1]]];
    match op {
        GeometricOp::Warp {
            transform: Transform::Affine(m),
            inverse,
            ..
        } => Axes::from_affine(linear(*m), *inverse),
        GeometricOp::Warp { .. } => None,
        GeometricOp::Resize { .. } => Some(Axes::SAME),
        GeometricOp::Rotate {
            angle,
            center,
            scale,
            ..
        } => {
            let center = center.unwrap_or_else(|| image_center(image));
            Axes::from_affine(linear(rotation_matrix(center, *angle, *scale)), false)
        }
        GeometricOp::Crop {
            center,
            size,
            angle,
            ..
        } => Axes::from_affine(
            linear(rotated_roi_matrix(*center, [size.0, size.1], *angle)),
            false,
        ),
    }
}

/// The image centre in OpenCV pixel coordinates: `((w − 1)/2, (h − 1)/2)`, the point a 180° turn
/// maps the image onto itself about.
pub fn image_center(image: &HostImage) -> [f64; 2] {
    [
        (f64::from(image.width) - 1.0) / 2.0,
        (f64::from(image.height) - 1.0) / 2.0,
    ]
}

/// Runs `request` on the GPU.
pub fn run(engine: &Engine, image: &HostImage, request: &GeometricRequest) -> Result<HostImage> {
    let own_size = (image.width, image.height);
    let warp = |transform: Transform, inverse: bool, size: (u32, u32), border: Border| {
        crate::ops::warp::check_border_value(border, image.format())?;
        let mut p = WarpParams::new(transform, size.0, size.1);
        p.inverse = inverse;
        p.border = border;
        p.sampling = request.sampling;
        warp_image(engine, image, &p)
    };
    match &request.op {
        GeometricOp::Warp {
            transform,
            inverse,
            size,
            border,
        } => warp(*transform, *inverse, size.unwrap_or(own_size), *border),
        GeometricOp::Resize { size, mode } => {
            let mut p = ResizeParams::new(size.0, size.1);
            p.mode = *mode;
            p.sampling = request.sampling;
            resize_image(engine, image, &p)
        }
        GeometricOp::Rotate {
            angle,
            center,
            scale,
            size,
            border,
        } => {
            finite("--angle", *angle)?;
            finite("--scale", *scale)?;
            if *scale == 0.0 {
                return Err(Error::InvalidParams(
                    "--scale 0 maps the whole image to one point".into(),
                ));
            }
            let center = center.unwrap_or_else(|| image_center(image));
            finite_point("--center", center)?;
            let m = rotation_matrix(center, *angle, *scale);
            warp(
                Transform::Affine(m),
                false,
                size.unwrap_or(own_size),
                *border,
            )
        }
        GeometricOp::Crop {
            center,
            size,
            angle,
            border,
        } => {
            finite("--angle", *angle)?;
            finite_point("--center", *center)?;
            let m = rotated_roi_matrix(*center, [size.0, size.1], *angle);
            warp(Transform::Affine(m), false, *size, *border)
        }
    }
}

fn finite(what: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParams(format!(
            "{what} {v} must be a finite number"
        )))
    }
}

fn finite_point(what: &str, p: [f64; 2]) -> Result<()> {
    if p.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::InvalidParams(format!(
            "{what} {},{} must be finite numbers",
            p[0], p[1]
        )))
    }
}

fn describe(request: &GeometricRequest, out: &HostImage) -> String {
    let sampling = match request.sampling {
        Sampling::Exact => "exact",
        Sampling::OpenCv => "OpenCV-compatible",
    };
    let what = match &request.op {
        GeometricOp::Warp {
            transform, inverse, ..
        } => {
            let rows: Vec<String> = match transform {
                Transform::Affine(m) => m.iter().map(|r| format!("{r:?}")).collect(),
                Transform::Perspective(m) => m.iter().map(|r| format!("{r:?}")).collect(),
            };
            format!(
                "warped ({} matrix {}{})",
                if matches!(transform, Transform::Affine(_)) {
                    "affine"
                } else {
                    "perspective"
                },
                rows.join(" "),
                if *inverse {
                    ", destination to source"
                } else {
                    ""
                }
            )
        }
        GeometricOp::Resize { mode, .. } => format!(
            "resized ({})",
            match mode {
                ResizeMode::Linear => "bilinear",
                ResizeMode::Area => "area average",
            }
        ),
        GeometricOp::Rotate { angle, scale, .. } => {
            format!("rotated by {angle} degrees, scale {scale}")
        }
        GeometricOp::Crop { center, angle, .. } => format!(
            "rotated ROI cropped at ({}, {}), {angle} degrees",
            center[0], center[1]
        ),
    };
    format!(
        "{what} to {}x{} by radpipe, bilinear {sampling} sampling",
        out.width, out.height
    )
}

fn write_dicom(
    output: &Path,
    image: &HostImage,
    source: Option<&DicomImage>,
    request: &GeometricRequest,
    axes: Option<Axes>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let mut rescale = None;
    let mut window = None;
    let mut bits_stored = None;
    if let Some(src) = source {
        match src.modality_lut(request.frame) {
            ModalityLut::Rescale { slope, intercept } => rescale = Some((slope, intercept)),
            ModalityLut::Table(_) => notes.push(
                "the source's Modality LUT Sequence is not carried into the derived DICOM (the writer \
                 supports Rescale Slope/Intercept only)"
                    .into(),
            ),
        }
        window = src.windows(request.frame).first().copied();
        let fits = image.pixels.min_max().is_some_and(|(lo, hi)| {
            let bits = i32::from(src.bits_stored.clamp(1, 16));
            let (min, max) = if image.format() == PixelFormat::I16 {
                (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
            } else {
                (0.0, 2f64.powi(bits) - 1.0)
            };
            lo >= min && hi <= max
        });
        if fits && src.bits_stored <= image.format().bytes_per_pixel() as u16 * 8 {
            bits_stored = Some(src.bits_stored);
        }
    }
    write_derived_dicom(
        output,
        image,
        &DerivedDicom {
            sources: source.into_iter().collect(),
            frame: request.frame,
            description: describe(request, image),
            rescale,
            bits_stored,
            window,
            axes,
            ..DerivedDicom::default()
        },
    )
}

fn numbers(text: &str, what: &str) -> Result<Vec<f64>> {
    text.split(',')
        .map(|s| {
            let s = s.trim();
            s.parse::<f64>().map_err(|_| {
                Error::InvalidParams(format!("{what}: '{s}' is not a number (in '{text}')"))
            })
        })
        .collect()
}

/// Parses `--matrix`: 6 comma-separated numbers (affine `m00,m01,m02,m10,m11,m12`) or 9 (perspective,
/// row by row). NaN and infinity parse here and are refused by the op's validation.
pub fn parse_matrix(text: &str) -> Result<Transform> {
    let v = numbers(text, "--matrix")?;
    match v.len() {
        6 => Ok(Transform::Affine([[v[0], v[1], v[2]], [v[3], v[4], v[5]]])),
        9 => Ok(Transform::Perspective([
            [v[0], v[1], v[2]],
            [v[3], v[4], v[5]],
            [v[6], v[7], v[8]],
        ])),
        n => Err(Error::InvalidParams(format!(
            "--matrix takes 6 numbers (affine) or 9 (perspective), got {n} in '{text}'"
        ))),
    }
}

/// Parses `--size WxH` (also `W,H`).
pub fn parse_size(text: &str) -> Result<(u32, u32)> {
    let bad = || {
        Error::InvalidParams(format!(
            "--size '{text}' is not WIDTHxHEIGHT (e.g. 512x512)"
        ))
    };
    let (w, h) = text.split_once(['x', 'X', ',']).ok_or_else(bad)?;
    let w: u64 = w.trim().parse().map_err(|_| bad())?;
    let h: u64 = h.trim().parse().map_err(|_| bad())?;
    match (u32::try_from(w), u32::try_from(h)) {
        (Ok(w), Ok(h)) => Ok((w, h)),
        _ => Err(Error::InvalidParams(format!("--size {text} is too large"))),
    }
}

/// Parses a point `X,Y` (`what` names the option in errors).
pub fn parse_point(text: &str, what: &str) -> Result<[f64; 2]> {
    let v = numbers(text, what)?;
    match v[..] {
        [x, y] => Ok([x, y]),
        _ => Err(Error::InvalidParams(format!(
            "{what} takes X,Y, got '{text}'"
        ))),
    }
}

/// Parses a single number (`what` names the option in errors).
pub fn parse_number(text: &str, what: &str) -> Result<f64> {
    let v = numbers(text, what)?;
    match v[..] {
        [x] => Ok(x),
        _ => Err(Error::InvalidParams(format!(
            "{what} takes one number, got '{text}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_accept_the_documented_forms() {
        assert_eq!(
            parse_matrix("1,0,-2.5, 0,1,3").expect("affine"),
            Transform::Affine([[1.0, 0.0, -2.5], [0.0, 1.0, 3.0]])
        );
        assert!(matches!(
            parse_matrix("1,0,0,0,1,0,0,0,1"),
            Ok(Transform::Perspective(_))
        ));
        assert!(parse_matrix("1,0,0,0,1").is_err());
        assert!(parse_matrix("1,0,0,0,1,x").is_err());
        assert!(matches!(
            parse_matrix("1,0,0,0,nan,0"),
            Ok(Transform::Affine(_))
        ));
        assert_eq!(parse_size("640x480").expect("size"), (640, 480));
        assert_eq!(parse_size("64,48").expect("size"), (64, 48));
        assert!(parse_size("640").is_err());
        assert!(parse_size("-1x5").is_err());
        assert!(parse_size("99999999999x5").is_err());
        assert_eq!(parse_point("-1.5,2", "--center").expect("pt"), [-1.5, 2.0]);
        assert!(parse_point("1", "--center").is_err());
        assert_eq!(parse_number("-30", "--angle").expect("n"), -30.0);
    }
}
