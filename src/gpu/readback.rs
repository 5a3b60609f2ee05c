//! The one way back to the CPU. A readback is a copy into a pooled staging buffer, recorded in the same
//! command encoder as the work that produced the data (so window → download is one submission), then
//! the documented `map_async` protocol after the submit: request the map, poll the device until that
//! submission is done, copy the bytes out, unmap. Every readback is counted.

use std::sync::mpsc;

use super::buffers::PooledBuffer;
use super::context::Engine;
use super::stats::Counters;
use crate::{Error, Result};

/// Staging buffer usage.
pub const STAGING_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::MAP_READ.union(wgpu::BufferUsages::COPY_DST);

/// A copy recorded into a staging buffer, waiting for its submission.
#[derive(Debug)]
pub struct PendingReadback {
    pub(crate) staging: PooledBuffer,
    pub(crate) bytes: u64,
    pub(crate) submission: Option<wgpu::SubmissionIndex>,
}

impl PendingReadback {
    /// Records `source[0..bytes]` → staging into `encoder`.
    pub(crate) fn record(
        engine: &Engine,
        encoder: &mut wgpu::CommandEncoder,
        source: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Self> {
        let bytes = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let staging = engine.alloc_buffer(bytes, STAGING_USAGE, "radpipe readback staging")?;
        encoder.copy_buffer_to_buffer(source, 0, staging.buffer(), 0, bytes);
        Ok(PendingReadback {
            staging,
            bytes,
            submission: None,
        })
    }

    /// Records a whole 2-D texture → staging copy with rows padded to `padded_row` bytes.
    pub(crate) fn record_texture(
        engine: &Engine,
        encoder: &mut wgpu::CommandEncoder,
        texture: &wgpu::Texture,
        padded_row: u32,
    ) -> Result<Self> {
        let bytes = u64::from(padded_row) * u64::from(texture.height());
        let staging =
            engine.alloc_buffer(bytes, STAGING_USAGE, "radpipe texture readback staging")?;
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: staging.buffer(),
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded_row),
                    rows_per_image: Some(texture.height()),
                },
            },
            texture.size(),
        );
        Ok(PendingReadback {
            staging,
            bytes,
            submission: None,
        })
    }

    /// Maps the staging buffer after its submission finished and returns the bytes. Counted.
    pub(crate) fn wait(&self, engine: &Engine) -> Result<Vec<u8>> {
        let buffer = self.staging.buffer();
        let slice = buffer.slice(0..self.bytes);
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        engine
            .device()
            .poll(wgpu::PollType::Wait {
                submission_index: self.submission.clone(),
                timeout: None,
            })
            .map_err(|e| engine.gpu_failure(format!("waiting for readback: {e}")))?;
        rx.recv()
            .map_err(|_| Error::Gpu("readback callback dropped (device lost?)".into()))?
            .map_err(|e| Error::Gpu(format!("mapping readback buffer: {e}")))?;
        let data = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("reading mapped buffer: {e}")))?;
            view.to_vec()
        };
        buffer.unmap();
        Counters::bump(&engine.counters().readbacks, 1);
        Counters::bump(&engine.counters().readback_bytes, self.bytes);
        Ok(data)
    }
}
