//! The CPU stages: reading and windowing an image for the network, and the Rust references of the
//! preprocessing and mask shaders (the `--device cpu` path and the tests' ground truth).

use std::path::Path;

use super::gpu::scale;
use super::{Preprocess, PreprocessKind, SegInput};
use crate::image::{HostImage, PixelFormat};
use crate::io::{Input, read_input};
use crate::ops::window::{self, WindowRequest, WindowSettings};
use crate::{Error, Result};

/// Source indices and weight along one axis, as both shaders compute them (f32).
fn axis(d: u32, scale: f32, size: u32) -> (usize, usize, f32) {
    let last = (size - 1) as f32;
    let s = ((d as f32 + 0.5) * scale - 0.5).clamp(0.0, last);
    let i0 = s.floor();
    let i1 = (i0 + 1.0).min(last);
    (i0 as usize, i1 as usize, s - i0)
}

fn bilinear(src: &[f32], w: u32, h: u32, dst_w: u32, dst_h: u32) -> Vec<f32> {
    let (sx, sy) = (scale(w, dst_w), scale(h, dst_h));
    let cols: Vec<_> = (0..dst_w).map(|x| axis(x, sx, w)).collect();
    let w = w as usize;
    let mut out = Vec::with_capacity(dst_w as usize * dst_h as usize);
    for y in 0..dst_h {
        let (y0, y1, fy) = axis(y, sy, h);
        for &(x0, x1, fx) in &cols {
            let top = (1.0 - fx) * src[y0 * w + x0] + fx * src[y0 * w + x1];
            let bottom = (1.0 - fx) * src[y1 * w + x0] + fx * src[y1 * w + x1];
            out.push((1.0 - fy) * top + fy * bottom);
        }
    }
    out
}

/// Smallest image side radpipe segments (smaller images carry no anatomy worth a scan plane).
pub const MIN_IMAGE_SIDE: u32 = 8;

/// One input read and prepared: stored pixels and the window to 8-bit display values.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Stored pixels.
    pub image: HostImage,
    /// Window to 8-bit display values (`None`: already display values).
    pub window: Option<WindowSettings>,
}

/// How a read input becomes 8-bit display values for the network: DICOM is windowed (the file's
/// window, else its VOI LUT, else the frame's range), 8-bit PNG/JPEG are used as they are (`None`),
/// 16-bit rasters are windowed over their range. Shared by [`prepare`] and `radpipe run`'s segment
/// stage.
pub fn display_window(input: &Input) -> Result<Option<WindowSettings>> {
    let request = WindowRequest::default();
    match input {
        Input::Dicom(d) => WindowSettings::from_source(d.as_ref(), 0, &request).map(Some),
        Input::Raster(img) if img.format() == PixelFormat::U8 => Ok(None),
        Input::Raster(img) => WindowSettings::for_image(img, &request).map(Some),
    }
}

/// Reads an input file and decides how it becomes 8-bit display values ([`display_window`]), as
/// `radpipe segment` and `radpipe train` both feed the network. Images smaller than
/// [`MIN_IMAGE_SIDE`] are refused.
pub fn prepare(path: &Path) -> Result<Prepared> {
    let input = read_input(path)?;
    let window = display_window(&input).map_err(|e| e.in_file(path))?;
    let image = match input {
        Input::Dicom(d) => d.frame(0)?,
        Input::Raster(img) => img,
    };
    let prepared = Prepared { image, window };
    let (w, h) = (prepared.image.width, prepared.image.height);
    if w < MIN_IMAGE_SIDE || h < MIN_IMAGE_SIDE {
        return Err(Error::InvalidImage(format!(
            "image {w}x{h} is too small to segment (at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})"
        ))
        .in_file(path));
    }
    Ok(prepared)
}

/// CPU reference of `seg_preprocess.wgsl`: `channels` planes of the resized, normalised image.
pub fn preprocess_reference(display: &HostImage, pre: &Preprocess, channels: usize) -> Vec<f32> {
    let src: Vec<f32> = (0..display.pixel_count())
        .map(|i| display.pixels.get_f64(i) as f32)
        .collect();
    let plane = bilinear(&src, display.width, display.height, pre.width, pre.height);
    normalise_planes(&plane, pre, channels)
}

/// The network input for `display` (8-bit display values) with `pre`'s arithmetic: radpipe's
/// ([`preprocess_reference`]) or PaddleSeg's ([`super::paddle_input`]); `channels` equal planes.
pub fn network_input(display: &HostImage, pre: &Preprocess, channels: usize) -> Result<Vec<f32>> {
    match pre.kind {
        PreprocessKind::Radpipe => Ok(preprocess_reference(display, pre, channels)),
        PreprocessKind::Paddleseg | PreprocessKind::PaddlesegU8 => {
            super::paddle_input(display, pre, channels)
        }
    }
}

/// The normalisation half of [`preprocess_reference`]: display values (0..255) already at the network
/// size → `channels` equal planes of `v · gain + bias`. Training feeds its augmented images through
/// this, so the network sees the same normalisation as at inference.
pub fn normalise_planes(plane: &[f32], pre: &Preprocess, channels: usize) -> Vec<f32> {
    let (gain, bias) = (pre.gain(), pre.bias());
    let mut out = Vec::with_capacity(plane.len() * channels);
    for _ in 0..channels {
        out.extend(plane.iter().map(|&v| v * gain + bias));
    }
    out
}

/// The bilinear resize `seg_preprocess.wgsl` (and [`preprocess_reference`]) applies: half-pixel
/// centres, source coordinates clamped to the image.
pub fn resize_reference(src: &[f32], width: u32, height: u32, dst_w: u32, dst_h: u32) -> Vec<f32> {
    bilinear(src, width, height, dst_w, dst_h)
}

/// The margin resized to `width`×`height` (f32, as `seg_mask.wgsl` computes it before thresholding).
pub fn margin_resized(margin: &[f32], net: (u32, u32), width: u32, height: u32) -> Vec<f32> {
    bilinear(margin, net.0, net.1, width, height)
}

/// CPU reference of `seg_mask.wgsl`: 255 where the resized margin is > 0.
pub fn mask_reference(margin: &[f32], net: (u32, u32), width: u32, height: u32) -> Vec<u8> {
    margin_resized(margin, net, width, height)
        .into_iter()
        .map(|v| if v > 0.0 { 255 } else { 0 })
        .collect()
}

/// The display image the network sees for `input` (CPU path).
pub fn display_reference(input: &SegInput<'_>) -> Result<HostImage> {
    match input.window {
        Some(settings) => window::reference(input.image, settings),
        None => Ok(input.image.clone()),
    }
}
