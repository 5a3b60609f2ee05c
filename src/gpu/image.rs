//! An image resident on the GPU: the device-side twin of `image::HostImage`. It lives in the GPU layer
//! (not beside `HostImage`) because it owns a pooled device buffer; `image` stays a leaf.

use std::sync::Arc;

use super::buffers::PooledBuffer;
use crate::image::{Geometry, PixelFormat};

/// An image resident on the GPU: a pooled storage buffer holding packed samples (see [`PixelFormat`]).
///
/// Cloning is cheap (the buffer is shared); the buffer returns to the engine's pool when the last clone
/// is dropped.
#[derive(Debug, Clone)]
pub struct GpuImage {
    /// The storage buffer with the packed samples.
    pub buffer: Arc<PooledBuffer>,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Sample format in the buffer.
    pub format: PixelFormat,
    /// Patient geometry when known.
    pub geometry: Geometry,
}

impl GpuImage {
    /// Number of pixels.
    pub fn pixel_count(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Bytes of packed samples (whole 32-bit words).
    pub fn byte_len(&self) -> u64 {
        self.format.gpu_bytes(self.pixel_count())
    }
}
