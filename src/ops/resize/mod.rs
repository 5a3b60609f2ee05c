//! Resizing to a given output size: bilinear with OpenCV `resize(INTER_LINEAR)` semantics (half-pixel
//! centres, `src = (dst + ½)·src_size/dst_size − ½`, clamped at the edges), and area averaging (a box
//! filter over each output pixel's footprint, OpenCV `INTER_AREA`) as its own explicit mode for
//! shrinking. OpenCV quietly switches `INTER_LINEAR` to area averaging for an exact 2× reduction; radpipe
//! does that only in [`Sampling::OpenCv`] mode, where matching OpenCV is the point (at exactly 2× the two
//! agree up to how ties round).
//!
//! Both modes are separable: the host tabulates per output column and per output row which source
//! samples contribute with what weight, in f64 (`shaders/resize_linear.wgsl`,
//! `shaders/resize_area.wgsl`); the shaders gather and blend, and [`reference()`] does the same on the
//! CPU from the same tables.
//!
//! - [`Sampling::Exact`]: linear = two lerps in f32 (x, then y), round to nearest (ties to even); area
//!   = exact coverage weights, f32 sums.
//! - [`Sampling::OpenCv`]: linear = OpenCV's float weights (16-bit, f32) or its 11-bit fixed-point
//!   weights and vertical rounding (`INTER_RESIZE_COEF_BITS`, 8-bit), with its row clamping; area =
//!   OpenCV's `computeResizeAreaTab` weights, or integer block sums for integer factors
//!   (`resizeAreaFast`). With Intel IPP enabled (the default in opencv-python wheels) OpenCV resizes
//!   16-bit images with IPP's own arithmetic instead, which differs from its C++ code by 1 LSB on a few
//!   percent of pixels; radpipe follows the C++ code.
//!
//! The output's pixel spacing scales by input/output size per axis and its position moves to the first
//! output pixel's centre ([`super::warp::warp_geometry`] with the resize's map).
//!
//! - `plan`: the uniform blocks and the per-column/per-row tables both paths share.
//! - `gpu`: recording the resize (with the CPU adapter's loop budget) and the host round trip.
//! - `reference`: the CPU reference from the same tables.

mod gpu;
mod plan;
mod reference;

pub use gpu::{CPU_ADAPTER_LOOP_BUDGET, encode, resize_image};
pub use reference::reference;

use crate::image::PixelFormat;
use crate::ops::warp::Sampling;

/// How output pixels are made from input pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Bilinear interpolation at half-pixel centres (enlarging and shrinking).
    #[default]
    Linear,
    /// Area averaging: each output pixel is the mean of the input area it covers (shrinking only).
    Area,
}

/// Everything a resize needs besides the input image.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeParams {
    /// Output columns.
    pub width: u32,
    /// Output rows.
    pub height: u32,
    /// Interpolation.
    pub mode: ResizeMode,
    /// Arithmetic: exact (default) or OpenCV's.
    pub sampling: Sampling,
    /// Output sample format; `None` keeps the input's.
    pub out_format: Option<PixelFormat>,
}

impl ResizeParams {
    /// A bilinear, exact resize to `width`×`height`, keeping the input's format.
    pub fn new(width: u32, height: u32) -> Self {
        ResizeParams {
            width,
            height,
            mode: ResizeMode::Linear,
            sampling: Sampling::Exact,
            out_format: None,
        }
    }
}
