//! Geometric warps with bilinear interpolation: affine (2×3) and perspective (3×3) matrices in OpenCV's
//! conventions — integer pixel coordinates at pixel centres, the matrix maps source → destination unless
//! [`WarpParams::inverse`] says it already maps destination → source — with constant, replicate and
//! reflect-101 borders, on u8, u16, i16 and f32 images. Also OpenCV's rotation matrix
//! ([`rotation_matrix`], `getRotationMatrix2D`) and the rotated-ROI crop built on it ([`crop_params`]).
//!
//! Two samplings, because "OpenCV semantics" means two different things:
//! - [`Sampling::Exact`] (default) is the documented formula: float source coordinates, two lerps
//!   (along x, then y) in f32, integer outputs rounded to nearest (ties to even).
//! - [`Sampling::OpenCv`] is what `cv2.warpAffine`/`cv2.warpPerspective(..., INTER_LINEAR)` actually
//!   compute: source coordinates quantised to 1/32 px (`INTER_BITS` = 5, affine coordinates via
//!   1/1024-px integers, `AB_BITS` = 10), 15-bit fixed-point weights for 8-bit images
//!   (`INTER_REMAP_COEF_BITS`) and exact products of 1/32 fractions for 16-bit and float images. On
//!   a 16-bit radiograph the 1/32-px quantisation alone moves steep edges by several LSB, so only this
//!   mode reaches bit-level parity with OpenCV (`tests/it/warp_opencv_parity.rs`).
//!
//! Both modes evaluate the destination → source map from per-column and per-row tables that the host
//! computes in f64 (`x·m00`, `y·m01 + m02`, …), so the shader and [`reference()`] start from identical
//! coordinates. The perspective OpenCV mode decides `round(32·X/W)` exactly with 64-bit fixed-point
//! integers, because f32 division flips the 1/32-px bin of a few pixels in a thousand.
//!
//! Geometry: the output's pixel spacing, position and orientation follow the map (see
//! [`warp_geometry`]): exact for rotations, flips, scalings and translations; dropped where no pixel
//! spacing can describe the result (shear, anisotropic rotation, perspective).

mod gpu;
mod map;
mod plan;
mod reference;

pub use gpu::{encode, warp_image};
pub use map::{DstToSrc, dst_to_src, warp_geometry};
pub use reference::reference;

use crate::image::PixelFormat;
use crate::ops::resample::{BORDER_CONSTANT, BORDER_REFLECT101, BORDER_REPLICATE};
use crate::{Error, Result};

/// A 3×3 matrix, rows first.
pub type Mat3 = [[f64; 3]; 3];

/// Largest matrix entry accepted (in either direction of the map): keeps every tabulated coordinate
/// finite in f32.
const MAX_ENTRY: f64 = 1e12;

/// How samples outside the source image are made up.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Border {
    /// A fixed value in the input's sample units (rounded to nearest and clamped to the input's format,
    /// as OpenCV's `saturate_cast` does).
    Constant(f64),
    /// The nearest edge sample (`aaaaaa|abcdefgh|hhhhhhh`).
    Replicate,
    /// Mirror about the edge samples without repeating them (`gfedcb|abcdefgh|gfedcba`), OpenCV's
    /// `BORDER_REFLECT_101`.
    Reflect101,
}

impl Default for Border {
    /// Constant 0, OpenCV's default.
    fn default() -> Self {
        Border::Constant(0.0)
    }
}

impl Border {
    fn code(self) -> u32 {
        match self {
            Border::Constant(_) => BORDER_CONSTANT,
            Border::Replicate => BORDER_REPLICATE,
            Border::Reflect101 => BORDER_REFLECT101,
        }
    }
}

/// Which arithmetic the bilinear interpolation uses (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampling {
    /// Float coordinates, two lerps in f32, round to nearest: the documented formula.
    #[default]
    Exact,
    /// OpenCV's fixed-point implementation (1/32-px coordinates, fixed-point weights for 8-bit).
    ///
    /// Bit-identical to cv2 4.11's warpAffine/warpPerspective except in two degenerate corners of the
    /// perspective warp: a point with W = 0 (on the horizon) and a source coordinate beyond ±2^15 px
    /// are treated as far outside, where OpenCV samples pixel (0, 0) for W = 0 and keeps the low
    /// bits of its saturated coordinates (which only a reflect-101 border would show).
    OpenCv,
}

/// The geometric transform, as OpenCV takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// `[[m00, m01, m02], [m10, m11, m12]]`: `(x', y') = (m00·x + m01·y + m02, m10·x + m11·y + m12)`.
    Affine([[f64; 3]; 2]),
    /// A homography: `x' = (m00·x + m01·y + m02) / (m20·x + m21·y + m22)`, same for `y'`.
    Perspective(Mat3),
}

impl Transform {
    /// The matrix as 3×3 (an affine matrix gets the row `[0, 0, 1]`).
    pub fn matrix(&self) -> Mat3 {
        match *self {
            Transform::Affine([r0, r1]) => [r0, r1, [0.0, 0.0, 1.0]],
            Transform::Perspective(m) => m,
        }
    }
}

/// Everything a warp needs besides the input image.
#[derive(Debug, Clone, PartialEq)]
pub struct WarpParams {
    /// The transform.
    pub transform: Transform,
    /// `true` when the matrix already maps destination → source (OpenCV's `WARP_INVERSE_MAP`);
    /// otherwise it maps source → destination and is inverted first.
    pub inverse: bool,
    /// Output columns.
    pub width: u32,
    /// Output rows.
    pub height: u32,
    /// Border handling.
    pub border: Border,
    /// Interpolation arithmetic.
    pub sampling: Sampling,
    /// Output sample format; `None` keeps the input's.
    pub out_format: Option<PixelFormat>,
}

impl WarpParams {
    /// A source → destination warp to a `width`×`height` output with the defaults: constant-0
    /// border, exact sampling, the input's format.
    pub fn new(transform: Transform, width: u32, height: u32) -> Self {
        WarpParams {
            transform,
            inverse: false,
            width,
            height,
            border: Border::default(),
            sampling: Sampling::default(),
            out_format: None,
        }
    }
}

/// OpenCV's `getRotationMatrix2D`: rotation by `angle_deg` about `center` (x, y in pixels) with
/// uniform `scale`. Positive angles turn the image counter-clockwise as displayed (y axis down).
///
/// As in OpenCV, the centre is taken in single precision (`Point2f`) and the angle converted with
/// `angle · (π/180)`, so the matrix is bit-identical to `cv2.getRotationMatrix2D`'s.
pub fn rotation_matrix(center: [f64; 2], angle_deg: f64, scale: f64) -> [[f64; 3]; 2] {
    let angle = angle_deg * (std::f64::consts::PI / 180.0);
    let alpha = angle.cos() * scale;
    let beta = angle.sin() * scale;
    let (cx, cy) = (f64::from(center[0] as f32), f64::from(center[1] as f32));
    [
        [alpha, beta, (1.0 - alpha) * cx - beta * cy],
        [-beta, alpha, beta * cx + (1.0 - alpha) * cy],
    ]
}

/// The source → destination matrix that cuts a `size` (width, height) rectangle centred on `center`
/// and rotated by `angle_deg` out of an image, upright: OpenCV's `RotatedRect` convention (positive
/// angles turn the rectangle clockwise as displayed), i.e. [`rotation_matrix`] about the centre
/// followed by `getRectSubPix`'s placement of the centre at `((width − 1)/2, (height − 1)/2)`, as one
/// warp (one interpolation).
pub fn rotated_roi_matrix(center: [f64; 2], size: [u32; 2], angle_deg: f64) -> [[f64; 3]; 2] {
    let mut m = rotation_matrix(center, angle_deg, 1.0);
    m[0][2] += (f64::from(size[0]) - 1.0) / 2.0 - center[0];
    m[1][2] += (f64::from(size[1]) - 1.0) / 2.0 - center[1];
    m
}

/// A rotated-ROI crop: the `width`×`height` region centred on `center`, rotated by `angle_deg`
/// (see [`rotated_roi_matrix`]), as an upright image; outside the source is constant 0.
pub fn crop_params(center: [f64; 2], width: u32, height: u32, angle_deg: f64) -> WarpParams {
    WarpParams::new(
        Transform::Affine(rotated_roi_matrix(center, [width, height], angle_deg)),
        width,
        height,
    )
}

/// Refuses a constant border value the image's samples cannot hold. The op itself saturates it, as
/// OpenCV's `borderValue` does (`saturate_cast`); a user-facing command calls this first so that a
/// typed value is never clamped silently.
pub fn check_border_value(border: Border, format: PixelFormat) -> Result<()> {
    let Border::Constant(v) = border else {
        return Ok(());
    };
    match crate::ops::resample::sample_range(format) {
        _ if !v.is_finite() => Err(Error::InvalidParams(format!(
            "border value {v} must be a finite number"
        ))),
        Some((lo, hi)) if !(lo..=hi).contains(&v) => Err(Error::InvalidParams(format!(
            "border value {v} is outside the {format} sample range {lo}..{hi}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_matrix_matches_opencv() {
        // cv2.getRotationMatrix2D((10.5, 20.25), 30, 1.5)
        let m = rotation_matrix([10.5, 20.25], 30.0, 1.5);
        let expected = [
            [
                1.299_038_105_676_658,
                0.749_999_999_999_999_9,
                -18.327_400_109_604_91,
            ],
            [
                -0.749_999_999_999_999_9,
                1.299_038_105_676_658,
                1.819_478_360_047_674_5,
            ],
        ];
        for (r, e) in m.iter().zip(&expected) {
            for (a, b) in r.iter().zip(e) {
                assert_eq!(a, b, "{m:?}");
            }
        }
    }
}
