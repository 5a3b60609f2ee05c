//! Running BiSeNetV2 on images, on the engine's own wgpu device or on burn's CPU backend.
//!
//! On the GPU nothing goes through the CPU between the upload of the stored pixels and the readback of
//! the mask: one recording windows each image (`window_level`), resizes and normalises it into a batch
//! buffer (`shaders/seg_preprocess.wgsl`) and copies that buffer into burn's input tensor — burn runs
//! on the same `wgpu::Device` and queue (registered once per device with `WgpuSetup`), so the hand-off
//! is a buffer-to-buffer copy on one queue. After the forward pass the foreground margin (class-1 logit
//! minus the largest other) is copied back into a radpipe buffer, resized to each image's size and
//! thresholded (`shaders/seg_mask.wgsl`), and only the packed u8 masks are read back: per image one
//! counted upload and one counted readback ([`crate::Engine::stats`]).
//!
//! Ordering on the shared queue is what makes the copies safe: burn's pending work is flushed
//! (`Device::flush`) before radpipe submits a copy into or out of a burn buffer, and the buffer's
//! allocation is held until that submission is queued, so burn cannot hand it out again before the
//! copy has run.
//!
//! Which of the two runs is [`DeviceChoice`]'s business: `auto` (the default) takes the GPU only when
//! it is a real one. On the CPU the same stages run as Rust references —
//! [`crate::ops::window::reference`], [`preprocess_reference`], [`mask_reference`] — and the network
//! runs on burn's Flex backend.
//!
//! [`PreprocessKind`] picks the resize and normalisation: radpipe's own (above), or PaddleSeg 2.8's
//! exactly (OpenCV's bilinear, numpy's `Normalize`; see `paddle`), which runs on the CPU on either
//! backend and is uploaded into burn's input tensor — OpenCV's float32 arithmetic is not one a
//! shader can promise to repeat bit for bit.

mod choice;
mod device;
mod gpu;
mod paddle;
mod reference;
mod segmenter;

pub use choice::{CPU_BACKEND_NAME, DeviceChoice, DeviceUsed, is_cpu_adapter};
pub use device::burn_device;
pub use gpu::{encode_mask, encode_preprocess, foreground_margin};
pub use paddle::{
    PREPROCESS_KEY, PreprocessKind, paddle_input, paddle_normalise, paddle_resize,
    trained_preprocess,
};
pub use reference::{
    MIN_IMAGE_SIDE, Prepared, display_reference, display_window, margin_resized, mask_reference,
    network_input, normalise_planes, prepare, preprocess_reference, resize_reference,
};

use burn::tensor::Device;

use crate::image::HostImage;
use crate::ops::window::WindowSettings;
use crate::seg::bisenet::BiSeNetV2;
use crate::{Engine, Error, Result};

/// Resize target and normalisation of the network input (PaddleSeg's `Resize` + `Normalize`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
    /// Whose arithmetic: radpipe's own or PaddleSeg's (see [`PreprocessKind`]).
    pub kind: PreprocessKind,
    /// Network input width.
    pub width: u32,
    /// Network input height.
    pub height: u32,
    /// Mean subtracted after scaling display values to [0, 1] (PaddleSeg default 0.5).
    pub mean: f32,
    /// Divisor after subtracting the mean (PaddleSeg default 0.5).
    pub std: f32,
}

/// Smallest network input side radpipe accepts (one cell of the 1/32 semantic map).
pub const MIN_INPUT_SIDE: u32 = 32;
/// Largest network input side radpipe accepts.
pub const MAX_INPUT_SIDE: u32 = 4096;

impl Preprocess {
    /// A square network input of `size`, PaddleSeg's default normalisation (mean 0.5, std 0.5).
    pub fn square(size: u32) -> Self {
        Preprocess {
            kind: PreprocessKind::Radpipe,
            width: size,
            height: size,
            mean: 0.5,
            std: 0.5,
        }
    }

    /// The same with `kind`'s arithmetic.
    pub fn with_kind(self, kind: PreprocessKind) -> Self {
        Preprocess { kind, ..self }
    }

    /// Checks the sizes and the normalisation.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [("width", self.width), ("height", self.height)] {
            if !(MIN_INPUT_SIDE..=MAX_INPUT_SIDE).contains(&v) {
                return Err(Error::InvalidParams(format!(
                    "network input {what} {v} must be within {MIN_INPUT_SIDE}..={MAX_INPUT_SIDE}"
                )));
            }
        }
        if !(self.std.is_finite() && self.std > 0.0 && self.mean.is_finite()) {
            return Err(Error::InvalidParams(format!(
                "normalisation mean {} / std {} must be finite with std > 0",
                self.mean, self.std
            )));
        }
        Ok(())
    }

    /// Multiplier applied to a display value (0..255).
    pub fn gain(&self) -> f32 {
        1.0 / (255.0 * self.std)
    }

    /// Offset added after the multiplier.
    pub fn bias(&self) -> f32 {
        -self.mean / self.std
    }
}

/// One image to segment: its stored pixels and, unless they are display values already (8-bit
/// PNG/JPEG), the window that turns them into 8-bit display values.
#[derive(Debug, Clone, Copy)]
pub struct SegInput<'a> {
    /// Stored pixels.
    pub image: &'a HostImage,
    /// Window to 8-bit display values, or `None` for an image that already holds them.
    pub window: Option<&'a WindowSettings>,
}

/// Where the network runs.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The engine's wgpu device (shared with radpipe's shaders).
    Gpu(Engine),
    /// burn's Flex CPU backend.
    Cpu,
}

/// A loaded network plus its preprocessing, ready to segment batches of images.
#[derive(Debug, Clone)]
pub struct Segmenter {
    model: BiSeNetV2,
    device: Device,
    backend: Backend,
    pre: Preprocess,
    /// Test-time augmentation: average the margins of the image and its left-right mirror.
    flip_tta: bool,
}
