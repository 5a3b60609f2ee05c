//! Recording: many stages into one command encoder, one submit. An op's `encode` takes a
//! [`Recorder`], allocates its outputs from the pool, writes its parameters into a pooled uniform and
//! records a dispatch; nothing runs until [`Recorder::submit`]. Reading back is a recorded copy too
//! ([`Recorder::download`]), resolved after the submit, so window → download costs exactly one
//! submission and one readback.
//!
//! Every buffer a recording binds is kept alive by the recorder until it is submitted: a pooled buffer
//! released mid-recording could otherwise be handed to a later stage and overwritten by a queue write
//! that wgpu schedules before the whole submission.

use std::sync::{Arc, OnceLock};

use crate::gpu::GpuImage;
use crate::gpu::buffers::PooledBuffer;
use crate::gpu::context::Engine;
use crate::gpu::readback::PendingReadback;
use crate::gpu::shaders::Kernel;
use crate::gpu::stats::Counters;
use crate::gpu::workgroups_1d;
use crate::image::{Geometry, HostImage, PixelFormat, Pixels};
use crate::{Error, Result};

/// A resource bound to one shader binding (paired with its `@binding` number in a dispatch).
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    /// A GPU image's storage buffer.
    Image(&'a GpuImage),
    /// A pooled buffer (uniforms, tables).
    Pooled(&'a Arc<PooledBuffer>),
    /// A buffer the caller owns and keeps alive.
    Buffer(&'a wgpu::Buffer),
    /// A storage texture view the caller owns (render-loop output).
    Texture(&'a wgpu::TextureView),
    /// A read-only table from [`Recorder::storage_table`] (the engine's shared empty table when the
    /// data was empty).
    Table(&'a Table),
}

/// A read-only storage table for one recording: uploaded data, or nothing (bound as the engine's
/// shared empty table, so an op without a table costs no upload).
#[derive(Debug, Clone)]
pub struct Table(Option<Arc<PooledBuffer>>);

/// Records GPU work for one submission.
pub struct Recorder<'e> {
    engine: &'e Engine,
    encoder: wgpu::CommandEncoder,
    keep_alive: Vec<Arc<PooledBuffer>>,
    submitted: Arc<OnceLock<(wgpu::SubmissionIndex, u64)>>,
}

impl std::fmt::Debug for Recorder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("kept_alive", &self.keep_alive.len())
            .finish_non_exhaustive()
    }
}

/// An image copy recorded for reading back; [`Download::wait`] after the recorder was submitted.
#[derive(Debug)]
pub struct Download {
    engine: Engine,
    pending: PendingReadback,
    submitted: Arc<OnceLock<(wgpu::SubmissionIndex, u64)>>,
    width: u32,
    height: u32,
    layout: DownloadLayout,
    geometry: Geometry,
}

/// How the bytes of a download are laid out.
#[derive(Debug, Clone, Copy)]
enum DownloadLayout {
    /// A packed image buffer of this format.
    Packed(PixelFormat),
    /// Raw bytes of a buffer.
    Bytes,
    /// Rows of an rgba8 texture, each padded to `padded_row` bytes; the red channel is kept.
    Rgba8Rows { padded_row: u32 },
}

impl<'e> Recorder<'e> {
    /// A new, empty recording on `engine`.
    pub fn new(engine: &'e Engine) -> Self {
        let encoder = engine
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("radpipe recording"),
            });
        Recorder {
            engine,
            encoder,
            keep_alive: Vec::new(),
            submitted: Arc::new(OnceLock::new()),
        }
    }

    /// The engine this recording belongs to.
    pub fn engine(&self) -> &'e Engine {
        self.engine
    }

    /// The command encoder, for copies an op records itself.
    pub fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        &mut self.encoder
    }

    /// Keeps `buffer` alive until this recording is submitted.
    pub fn keep(&mut self, buffer: Arc<PooledBuffer>) {
        self.keep_alive.push(buffer);
    }

    /// A pooled output image, kept alive until submission.
    pub fn alloc_image(
        &mut self,
        width: u32,
        height: u32,
        format: PixelFormat,
        geometry: Geometry,
    ) -> Result<GpuImage> {
        let image = self.engine.alloc_image(width, height, format, geometry)?;
        self.keep(image.buffer.clone());
        Ok(image)
    }

    /// A pooled uniform buffer holding `value`, kept alive until submission.
    pub fn uniform<T: bytemuck::Pod>(
        &mut self,
        value: &T,
        label: &str,
    ) -> Result<Arc<PooledBuffer>> {
        let bytes = bytemuck::bytes_of(value);
        let usage = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let buffer = Arc::new(self.engine.alloc_buffer(bytes.len() as u64, usage, label)?);
        self.engine.queue().write_buffer(buffer.buffer(), 0, bytes);
        self.keep(buffer.clone());
        Ok(buffer)
    }

    /// A read-only storage table holding `data`, kept alive; counted as an upload unless empty.
    pub fn storage_table(&mut self, data: &[u8], label: &str) -> Result<Table> {
        if data.is_empty() {
            return Ok(Table(None));
        }
        let mut bytes = data.to_vec();
        bytes.resize(bytes.len().next_multiple_of(4).max(4), 0);
        let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let buffer = Arc::new(self.engine.alloc_buffer(bytes.len() as u64, usage, label)?);
        self.engine.write_counted(buffer.buffer(), &bytes);
        self.keep(buffer.clone());
        Ok(Table(Some(buffer)))
    }

    /// Records one dispatch of `kernel` over `groups` workgroups, binding each `(binding, resource)`
    /// pair. The pairs must be exactly the bindings the kernel's entry point reaches (reflected per
    /// entry point at build time): one it does not reach, a missing one or a repeated one is an
    /// error naming the binding, not a silent skip.
    pub fn dispatch(
        &mut self,
        kernel: &Kernel,
        bindings: &[(u32, Bind<'_>)],
        groups: [u32; 3],
    ) -> Result<()> {
        check_bindings(kernel, bindings)?;
        let max = self.engine.limits().max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(Error::InvalidImage(format!(
                "{}: dispatch {groups:?} exceeds this adapter's {max} workgroups per dimension",
                kernel.label
            )));
        }
        let mut entries = Vec::with_capacity(bindings.len());
        for (binding, bind) in bindings {
            let resource = match bind {
                Bind::Image(img) => {
                    self.keep_alive.push(img.buffer.clone());
                    img.buffer.buffer().as_entire_binding()
                }
                Bind::Pooled(buf) => {
                    self.keep_alive.push((*buf).clone());
                    buf.buffer().as_entire_binding()
                }
                Bind::Buffer(buf) => buf.as_entire_binding(),
                Bind::Table(Table(Some(buf))) => {
                    self.keep_alive.push(buf.clone());
                    buf.buffer().as_entire_binding()
                }
                Bind::Table(Table(None)) => self.engine.empty_table().as_entire_binding(),
                Bind::Texture(view) => wgpu::BindingResource::TextureView(view),
            };
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource,
            });
        }
        let bind_group = self.engine.capture_errors(&kernel.label, || {
            self.engine
                .device()
                .create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&kernel.label),
                    layout: &kernel.layout,
                    entries: &entries,
                })
        })?;
        {
            let mut pass = self
                .encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(&kernel.label),
                    timestamp_writes: None,
                });
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        Counters::bump(&self.engine.counters().dispatches, 1);
        Ok(())
    }

    /// Workgroups for `items` invocations of a 1-D `kernel` on this device.
    pub fn groups_1d(&self, kernel: &Kernel, items: u64) -> [u32; 3] {
        workgroups_1d(
            items,
            kernel.workgroup_size[0],
            self.engine.limits().max_compute_workgroups_per_dimension,
        )
    }

    /// Records a copy of `image` for reading back after [`Recorder::submit`].
    pub fn download(&mut self, image: &GpuImage) -> Result<Download> {
        self.keep(image.buffer.clone());
        let pending = PendingReadback::record(
            self.engine,
            &mut self.encoder,
            image.buffer.buffer(),
            image.byte_len(),
        )?;
        Ok(Download {
            engine: self.engine.clone(),
            pending,
            submitted: self.submitted.clone(),
            width: image.width,
            height: image.height,
            layout: DownloadLayout::Packed(image.format),
            geometry: image.geometry.clone(),
        })
    }

    /// Records a copy of the first `bytes` of a buffer the caller owns (e.g. resolved timestamp queries;
    /// needs `COPY_SRC` usage), for [`Download::wait_bytes`].
    pub fn download_bytes(&mut self, buffer: &wgpu::Buffer, bytes: u64) -> Result<Download> {
        let pending = PendingReadback::record(self.engine, &mut self.encoder, buffer, bytes)?;
        Ok(Download {
            engine: self.engine.clone(),
            pending,
            submitted: self.submitted.clone(),
            width: 0,
            height: 0,
            layout: DownloadLayout::Bytes,
            geometry: Geometry::default(),
        })
    }

    /// Records a copy of a greyscale rgba8 texture (e.g. a render-loop target, which needs
    /// `COPY_SRC` usage) for reading back as a u8 image of its red channel. Rows are padded to
    /// wgpu's 256-byte copy alignment on the way and unpadded in [`Download::wait`].
    pub fn download_texture_rgba8(&mut self, texture: &wgpu::Texture) -> Result<Download> {
        if texture.format() != wgpu::TextureFormat::Rgba8Unorm {
            return Err(Error::InvalidParams(format!(
                "download_texture_rgba8 needs an Rgba8Unorm texture, not {:?}",
                texture.format()
            )));
        }
        let (width, height) = (texture.width(), texture.height());
        let padded_row = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let pending =
            PendingReadback::record_texture(self.engine, &mut self.encoder, texture, padded_row)?;
        Ok(Download {
            engine: self.engine.clone(),
            pending,
            submitted: self.submitted.clone(),
            width,
            height,
            layout: DownloadLayout::Rgba8Rows { padded_row },
            geometry: Geometry::default(),
        })
    }

    /// Finishes the encoder and submits it: one counted submission.
    pub fn submit(self) -> Result<wgpu::SubmissionIndex> {
        let Recorder {
            engine,
            encoder,
            keep_alive,
            submitted,
        } = self;
        let index = engine.capture_errors("submit", || {
            let commands = encoder.finish();
            engine.queue().submit([commands])
        })?;
        let ordinal = engine
            .counters()
            .submissions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let _ = submitted.set((index.clone(), ordinal));
        drop(keep_alive);
        Ok(index)
    }
}

/// Exactly the bindings `kernel`'s entry point reaches, each once; a mismatch is a programming error
/// in the op, reported with the shader's own names.
fn check_bindings(kernel: &Kernel, bindings: &[(u32, Bind<'_>)]) -> Result<()> {
    let name = |n: u32| {
        kernel
            .bindings
            .iter()
            .find(|b| b.binding == n)
            .map_or("?", |b| b.name)
    };
    let expected: Vec<u32> = kernel.bindings.iter().map(|b| b.binding).collect();
    for (i, (n, _)) in bindings.iter().enumerate() {
        if !expected.contains(n) {
            return Err(Error::Gpu(format!(
                "{}: binding {n} given, but the entry point does not use it (it uses {expected:?})",
                kernel.label
            )));
        }
        if bindings[..i].iter().any(|(m, _)| m == n) {
            return Err(Error::Gpu(format!(
                "{}: binding {n} (`{}`) given twice",
                kernel.label,
                name(*n)
            )));
        }
    }
    for n in &expected {
        if !bindings.iter().any(|(m, _)| m == n) {
            return Err(Error::Gpu(format!(
                "{}: binding {n} (`{}`) is used by the entry point but was not given",
                kernel.label,
                name(*n)
            )));
        }
    }
    Ok(())
}

impl Download {
    fn fetch(&mut self) -> Result<Vec<u8>> {
        let Some((index, ordinal)) = self.submitted.get().cloned() else {
            return Err(Error::Gpu(
                "download waited before its recording was submitted".into(),
            ));
        };
        self.pending.submission = Some(index);
        let bytes = self.pending.wait(&self.engine)?;
        self.engine.counters().note_wait(ordinal);
        Ok(bytes)
    }

    /// Waits for the submission and returns the raw bytes (any layout). One counted readback.
    pub fn wait_bytes(mut self) -> Result<Vec<u8>> {
        self.fetch()
    }

    /// Waits for the submission, maps the copy and returns the image. One counted readback.
    pub fn wait(mut self) -> Result<HostImage> {
        let bytes = self.fetch()?;
        let count = self.width as usize * self.height as usize;
        let pixels = match self.layout {
            DownloadLayout::Packed(format) => Pixels::from_gpu_bytes(format, &bytes, count),
            DownloadLayout::Bytes => {
                return Err(Error::InvalidParams(
                    "a byte download has no image shape; use wait_bytes".into(),
                ));
            }
            DownloadLayout::Rgba8Rows { padded_row } => Pixels::U8(
                bytes
                    .chunks_exact(padded_row as usize)
                    .take(self.height as usize)
                    .flat_map(|row| {
                        row.chunks_exact(4)
                            .take(self.width as usize)
                            .map(|px| px[0])
                    })
                    .collect(),
            ),
        };
        Ok(HostImage::new(self.width, self.height, pixels)?.with_geometry(self.geometry))
    }
}

/// The one-image readback is a [`Recorder`] of its own, so it lives here rather than in
/// `gpu::context`: the engine stays below the pipeline layer and never imports it.
impl Engine {
    /// Copies an image back to the host: one submission, one counted readback.
    pub fn download(&self, image: &GpuImage) -> Result<HostImage> {
        let mut rec = Recorder::new(self);
        let pending = rec.download(image)?;
        rec.submit()?;
        pending.wait()
    }
}
