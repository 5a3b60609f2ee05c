//! Parameters from the Python layer's normalised arguments, checked with the CLI's messages.

use radpipe::ops::warp::{Border, Sampling, Transform};
use radpipe::transforms::{DisplaySource, LutTable, ModalityLut, VoiFunction, Window};
use radpipe::workflow::warp::GeometricOp;
use radpipe::{Error, HostImage, Result};

/// `border="constant"|"replicate"|"reflect"` (`"reflect101"`, `"reflect_101"` too).
pub fn border(kind: &str, value: f64) -> Result<Border> {
    match kind.to_ascii_lowercase().as_str() {
        "constant" => Ok(Border::Constant(value)),
        "replicate" => Ok(Border::Replicate),
        "reflect" | "reflect101" | "reflect_101" => Ok(Border::Reflect101),
        other => Err(Error::InvalidParams(format!(
            "border '{other}': expected constant, replicate or reflect"
        ))),
    }
}

/// `sampling="exact"|"opencv"`.
pub fn sampling(kind: &str) -> Result<Sampling> {
    match kind.to_ascii_lowercase().as_str() {
        "exact" => Ok(Sampling::Exact),
        "opencv" => Ok(Sampling::OpenCv),
        other => Err(Error::InvalidParams(format!(
            "sampling '{other}': expected exact or opencv"
        ))),
    }
}

/// An affine (6 numbers, row-major 2×3) or perspective (9, 3×3) matrix.
pub fn transform(m: &[f64], perspective: bool) -> Result<Transform> {
    match (perspective, m.len()) {
        (false, 6) => Ok(Transform::Affine([[m[0], m[1], m[2]], [m[3], m[4], m[5]]])),
        (true, 9) => Ok(Transform::Perspective([
            [m[0], m[1], m[2]],
            [m[3], m[4], m[5]],
            [m[6], m[7], m[8]],
        ])),
        (false, n) => Err(Error::InvalidParams(format!(
            "m: an affine matrix is 2x3 (6 numbers), got {n}"
        ))),
        (true, n) => Err(Error::InvalidParams(format!(
            "m: a perspective matrix is 3x3 (9 numbers), got {n}"
        ))),
    }
}

/// A geometric op as the Python layer describes it: `(kind, numbers, size, border, border_value,
/// flag)` — see `python/radpipe/__init__.py` for how each function fills it.
#[derive(Debug, Clone)]
pub struct GeometricSpec {
    /// `warp_affine`, `warp_perspective`, `resize`, `rotate`, `crop`.
    pub kind: String,
    /// The matrix (warps), `[angle, scale, cx, cy]` (rotate; centre NaN = the image centre) or
    /// `[cx, cy, angle]` (crop).
    pub numbers: Vec<f64>,
    /// Output (width, height).
    pub size: Option<(u32, u32)>,
    /// Border kind.
    pub border: String,
    /// Border value.
    pub border_value: f64,
    /// `inverse` for warps.
    pub inverse: bool,
    /// `linear` or `area` for resize.
    pub mode: String,
    /// `exact` or `opencv`.
    pub sampling: String,
}

impl GeometricSpec {
    /// The workflow op (the same one `radpipe warp/resize/rotate/crop` builds).
    pub fn op(&self) -> Result<GeometricOp> {
        let n = &self.numbers;
        let border = || border(&self.border, self.border_value);
        let need = |count: usize| {
            if n.len() == count {
                Ok(())
            } else {
                Err(Error::InvalidParams(format!(
                    "{}: {count} numbers expected, got {}",
                    self.kind,
                    n.len()
                )))
            }
        };
        Ok(match self.kind.as_str() {
            "warp_affine" | "warp_perspective" => GeometricOp::Warp {
                transform: transform(n, self.kind == "warp_perspective")?,
                inverse: self.inverse,
                size: self.size,
                border: border()?,
            },
            "resize" => GeometricOp::Resize {
                size: self
                    .size
                    .ok_or_else(|| Error::InvalidParams("resize: dsize is required".into()))?,
                mode: match self.mode.to_ascii_lowercase().as_str() {
                    "linear" => radpipe::ops::resize::ResizeMode::Linear,
                    "area" => radpipe::ops::resize::ResizeMode::Area,
                    other => {
                        return Err(Error::InvalidParams(format!(
                            "mode '{other}': expected linear or area"
                        )));
                    }
                },
            },
            "rotate" => {
                need(4)?;
                GeometricOp::Rotate {
                    angle: n[0],
                    scale: n[1],
                    center: (!(n[2].is_nan() && n[3].is_nan())).then_some([n[2], n[3]]),
                    size: self.size,
                    border: border()?,
                }
            }
            "crop" => {
                need(3)?;
                GeometricOp::Crop {
                    center: [n[0], n[1]],
                    size: self
                        .size
                        .ok_or_else(|| Error::InvalidParams("crop: size is required".into()))?,
                    angle: n[2],
                    border: border()?,
                }
            }
            other => return Err(Error::InvalidParams(format!("unknown op {other}"))),
        })
    }
}

/// VOI LUT function by name (`linear`, `linear_exact`, `sigmoid`; DICOM spellings too).
pub fn voi_function(name: Option<&str>) -> Result<Option<VoiFunction>> {
    name.map(|f| {
        VoiFunction::parse(f).ok_or_else(|| {
            Error::InvalidParams(format!(
                "function '{f}': expected linear, linear_exact or sigmoid"
            ))
        })
    })
    .transpose()
}

/// An array of stored values with a Rescale Slope/Intercept: what `window(array, slope=, intercept=)`
/// windows, as a [`DisplaySource`] so the window is resolved exactly as for a DICOM file.
pub struct ArraySource<'a> {
    /// Stored values.
    pub image: &'a HostImage,
    /// Rescale Slope.
    pub slope: f64,
    /// Rescale Intercept.
    pub intercept: f64,
}

impl DisplaySource for ArraySource<'_> {
    fn origin(&self) -> Option<&std::path::Path> {
        None
    }
    fn frame_count(&self) -> u32 {
        1
    }
    fn modality_lut(&self, _frame: u32) -> ModalityLut {
        ModalityLut::Rescale {
            slope: self.slope,
            intercept: self.intercept,
        }
    }
    fn windows(&self, _frame: u32) -> Vec<Window> {
        Vec::new()
    }
    fn voi_lut(&self, _frame: u32) -> Option<LutTable> {
        None
    }
    fn modality_range(&self, _frame: u32) -> Option<(f64, f64)> {
        let (lo, hi) = self.image.pixels.min_max()?;
        let (a, b) = (
            lo * self.slope + self.intercept,
            hi * self.slope + self.intercept,
        );
        Some((a.min(b), a.max(b)))
    }
    fn displays_inverted(&self) -> bool {
        false
    }
}
