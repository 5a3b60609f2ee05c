//! The [`Engine`]: one wgpu device and queue plus everything built once for them — shader pipelines,
//! the buffer pool, the counters. Either the engine opens the device itself ([`Engine::new`]) or a host
//! application hands over its own ([`Engine::from_device`]) so radpipe can live inside a render loop
//! without a second device.

use std::sync::{Arc, Mutex};

use super::adapter::{self, AdapterSummary};
use super::buffers::{BufferPool, PooledBuffer};
use super::shaders::ShaderRegistry;
use super::stats::{Counters, Stats};
use crate::gpu::GpuImage;
use crate::image::{Geometry, HostImage, PixelFormat};
use crate::{Error, Result};

/// Usage of image storage buffers: read and written by shaders, copy source and destination.
pub const IMAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// How [`Engine::with_options`] picks and opens a device.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Backends to consider; `None` reads `WGPU_BACKEND`, else the primary ones (Vulkan, Metal, DX12):
    /// OpenGL is opt-in (`WGPU_BACKEND=gl`), its compute support is the weakest.
    pub backends: Option<wgpu::Backends>,
    /// Case-insensitive substring of the adapter name; `None` reads `WGPU_ADAPTER_NAME`.
    pub adapter_name: Option<String>,
    /// PCI bus id of the adapter (`0000:17:00.0`, or nvidia-smi's `00000000:17:00.0`), to pick one
    /// of several identical GPUs; compared by [`adapter::same_pci_bus_id`]. `None`: any.
    pub pci_bus_id: Option<String>,
    /// Idle pooled buffers kept for reuse, in bytes.
    pub max_idle_pool_bytes: u64,
    /// Caps the bytes of one image buffer below the adapter's own limit (to exercise the over-limit
    /// path in tests, or to leave room for a host's own resources).
    pub max_image_bytes: Option<u64>,
    /// Test aid: fill every newly allocated output image with this 32-bit pattern before use, so a
    /// kernel that forgets a pixel is caught.
    pub poison: Option<u32>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            backends: None,
            adapter_name: None,
            pci_bus_id: None,
            max_idle_pool_bytes: 1 << 30,
            max_image_bytes: None,
            poison: None,
        }
    }
}

struct EngineInner {
    /// Unique in the process (see [`Engine::uid`]).
    uid: u64,
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    adapter: Option<wgpu::Adapter>,
    instance: Option<wgpu::Instance>,
    counters: Arc<Counters>,
    pool: BufferPool,
    shaders: ShaderRegistry,
    poison: Option<u32>,
    max_image_bytes: Option<u64>,
    uncaptured: Arc<Mutex<Vec<String>>>,
    empty_table: wgpu::Buffer,
}

/// A GPU context: device, queue, pipelines, buffer pool and counters. Cheap to clone (shared).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("adapter", &self.inner.info.name)
            .field("backend", &self.inner.info.backend)
            .finish_non_exhaustive()
    }
}

fn instance_for(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

fn backends_from(options: &EngineOptions) -> wgpu::Backends {
    options
        .backends
        .or_else(wgpu::Backends::from_env)
        .unwrap_or(wgpu::Backends::PRIMARY)
}

const NO_ADAPTER_HELP: &str = "install a Vulkan driver (on Debian/Ubuntu without a GPU: `apt-get install \
     mesa-vulkan-drivers` for the lavapipe CPU adapter), or check WGPU_BACKEND / WGPU_ADAPTER_NAME";

impl Engine {
    /// Opens the best adapter (see [`adapter::choose`]), honouring `WGPU_BACKEND` and `WGPU_ADAPTER_NAME`.
    pub fn new() -> Result<Engine> {
        Engine::with_options(EngineOptions::default())
    }

    /// Opens a device as `options` say.
    pub fn with_options(options: EngineOptions) -> Result<Engine> {
        let backends = backends_from(&options);
        let instance = instance_for(backends);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let infos: Vec<(wgpu::AdapterInfo, bool)> = adapters
            .iter()
            .map(|a| {
                let compute = a
                    .get_downlevel_capabilities()
                    .flags
                    .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
                (a.get_info(), compute)
            })
            .collect();
        let name_filter = options
            .adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|s| !s.trim().is_empty());
        let pci_filter = options
            .pci_bus_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let eligible: Vec<(wgpu::AdapterInfo, bool)> = infos
            .iter()
            .map(|(info, compute)| {
                let on_bus =
                    pci_filter.is_none_or(|p| adapter::same_pci_bus_id(&info.device_pci_bus_id, p));
                (info.clone(), *compute && on_bus)
            })
            .collect();
        let Some(index) = adapter::choose(&eligible, name_filter.as_deref()) else {
            let seen: Vec<String> = infos
                .iter()
                .map(|(i, _)| {
                    let bus = if i.device_pci_bus_id.is_empty() {
                        String::new()
                    } else {
                        format!(", PCI {}", i.device_pci_bus_id)
                    };
                    format!("{} ({}{bus})", i.name, i.backend.to_str())
                })
                .collect();
            let mut filter = name_filter
                .map(|f| format!(" matching WGPU_ADAPTER_NAME '{f}'"))
                .unwrap_or_default();
            if let Some(p) = pci_filter {
                filter.push_str(&format!(" on PCI bus id {p}"));
            }
            return Err(Error::NoAdapter(format!(
                "no compute-capable adapter{filter} among [{}]; {NO_ADAPTER_HELP}",
                seen.join(", ")
            )));
        };
        let adapter = adapters
            .into_iter()
            .nth(index)
            .ok_or_else(|| Error::NoAdapter("adapter list changed while choosing".into()))?;
        let info = adapter.get_info();
        // burn's kernels need the adapter's optional features (float atomics for reductions), so ask for
        // all of them except those that change memory semantics or need unsafe opt-in.
        let features = adapter.features()
            - wgpu::Features::MAPPABLE_PRIMARY_BUFFERS
            - wgpu::Features::all_experimental_mask();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("radpipe device"),
            required_features: features,
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::NoAdapter(format!("{}: cannot open device: {e}", info.name)))?;

        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        // Our own device: record errors nobody scoped instead of wgpu's default panic.
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        // And its loss (driver reset, destroyed device), so later errors can say why.
        let lost = uncaptured.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut v) = lost.lock() {
                v.push(format!("the GPU device was lost ({reason:?}): {message}"));
            }
        });
        let engine = Engine::build(
            device,
            queue,
            info,
            Some(adapter),
            Some(instance),
            &options,
            uncaptured,
        );
        Counters::bump(&engine.inner.counters.devices_created, 1);
        Ok(engine)
    }

    /// Wraps a device the host application owns. The engine creates no device and installs no global
    /// error handler on it; GPU errors from radpipe's own work are caught with error scopes.
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_info: wgpu::AdapterInfo,
    ) -> Engine {
        Engine::build(
            device,
            queue,
            adapter_info,
            None,
            None,
            &EngineOptions::default(),
            Arc::new(Mutex::new(Vec::new())),
        )
    }

    /// Like [`Engine::from_device`], with options (pool budget, poison pattern).
    pub fn from_device_with_options(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_info: wgpu::AdapterInfo,
        options: &EngineOptions,
    ) -> Engine {
        Engine::build(
            device,
            queue,
            adapter_info,
            None,
            None,
            options,
            Arc::new(Mutex::new(Vec::new())),
        )
    }

    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        adapter: Option<wgpu::Adapter>,
        instance: Option<wgpu::Instance>,
        options: &EngineOptions,
        uncaptured: Arc<Mutex<Vec<String>>>,
    ) -> Engine {
        let counters = Arc::new(Counters::default());
        let limits = device.limits();
        // Bound wherever an op has no table to pass: created once, zero-initialised by wgpu.
        let empty_table = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("radpipe empty table"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Engine {
            inner: Arc::new(EngineInner {
                uid: NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                pool: BufferPool::new(
                    device.clone(),
                    counters.clone(),
                    options.max_idle_pool_bytes,
                ),
                shaders: ShaderRegistry::new(device.clone(), counters.clone()),
                device,
                queue,
                info,
                limits,
                adapter,
                instance,
                counters,
                poison: options.poison,
                max_image_bytes: options.max_image_bytes,
                uncaptured,
                empty_table,
            }),
        }
    }

    /// Every adapter wgpu can see for the configured backends (`WGPU_BACKEND`), best first.
    pub fn list_adapters() -> Vec<AdapterSummary> {
        let backends = backends_from(&EngineOptions::default());
        let instance = instance_for(backends);
        let mut infos: Vec<wgpu::AdapterInfo> =
            pollster::block_on(instance.enumerate_adapters(backends))
                .iter()
                .map(wgpu::Adapter::get_info)
                .collect();
        infos.sort_by_key(adapter::preference);
        infos.iter().map(AdapterSummary::from_info).collect()
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// The adapter's description.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.inner.info
    }

    /// The adapter, when the engine opened the device itself.
    pub fn adapter(&self) -> Option<&wgpu::Adapter> {
        self.inner.adapter.as_ref()
    }

    /// The instance, when the engine opened the device itself.
    pub fn instance(&self) -> Option<&wgpu::Instance> {
        self.inner.instance.as_ref()
    }

    /// Name, backend and type of the adapter in use.
    pub fn summary(&self) -> AdapterSummary {
        AdapterSummary::from_info(&self.inner.info)
    }

    /// The device's limits.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// A 16-byte zeroed read-only storage buffer, bound where an op has no table.
    pub fn empty_table(&self) -> &wgpu::Buffer {
        &self.inner.empty_table
    }

    /// The buffer pool.
    pub fn pool(&self) -> &BufferPool {
        &self.inner.pool
    }

    /// The shader registry.
    pub fn shaders(&self) -> &ShaderRegistry {
        &self.inner.shaders
    }

    /// `what` failed: the error, with whatever the device reported outside any scope meanwhile (its
    /// loss, for one) appended, so the message says why (own devices only).
    pub fn gpu_failure(&self, what: String) -> Error {
        // Device-lost callbacks run while the device is polled.
        let _ = self.inner.device.poll(wgpu::PollType::Poll);
        let reported = self.take_uncaptured_errors();
        if reported.is_empty() {
            Error::Gpu(what)
        } else {
            Error::Gpu(format!("{what}; {}", reported.join("; ")))
        }
    }

    /// Errors the device raised outside any scope (own devices only), drained.
    pub fn take_uncaptured_errors(&self) -> Vec<String> {
        self.inner
            .uncaptured
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// Runs `f` inside out-of-memory, validation and internal error scopes and turns anything the
    /// device reported into [`Error::Gpu`] — so device errors surface as errors, never as panics.
    pub fn capture_errors<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let device = &self.inner.device;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
        let value = f();
        let errors = [
            pollster::block_on(internal.pop()),
            pollster::block_on(validation.pop()),
            pollster::block_on(oom.pop()),
        ];
        match errors.into_iter().flatten().next() {
            None => Ok(value),
            Some(wgpu::Error::OutOfMemory { .. }) => {
                Err(Error::Gpu(format!("{what}: the device is out of memory")))
            }
            Some(e) => Err(Error::Gpu(format!("{what}: {e}"))),
        }
    }

    /// Checks that an image of `pixels` samples of `format` fits one storage-buffer binding (and the
    /// engine's own cap): images that do not are refused with a clear error before any GPU call, never
    /// left to a validation panic.
    pub fn check_fits(&self, width: u32, height: u32, format: PixelFormat) -> Result<u64> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidImage(format!(
                "image size {width}x{height} has no pixels"
            )));
        }
        let bytes = format.gpu_bytes(width as usize * height as usize);
        let max_binding = self.inner.limits.max_storage_buffer_binding_size;
        let max_buffer = self.inner.limits.max_buffer_size;
        let limit = max_binding
            .min(max_buffer)
            .min(self.inner.max_image_bytes.unwrap_or(u64::MAX));
        if bytes > limit {
            return Err(Error::InvalidImage(format!(
                "{width}x{height} {format} image needs {bytes} bytes, over this adapter's storage buffer \
                 limit of {limit} bytes ({})",
                self.inner.info.name
            )));
        }
        Ok(bytes)
    }

    /// A pooled storage buffer for a `width`×`height` image of `format` (content undefined, or the
    /// poison pattern when the engine was built with one).
    pub fn alloc_image(
        &self,
        width: u32,
        height: u32,
        format: PixelFormat,
        geometry: Geometry,
    ) -> Result<GpuImage> {
        let bytes = self.check_fits(width, height, format)?;
        let buffer = self.capture_errors("allocate image buffer", || {
            self.inner.pool.acquire(bytes, IMAGE_USAGE, "radpipe image")
        })?;
        if let Some(pattern) = self.inner.poison {
            let words = (buffer.buffer().size() / 4) as usize;
            let fill: Vec<u8> = std::iter::repeat_n(pattern.to_le_bytes(), words)
                .flatten()
                .collect();
            self.inner.queue.write_buffer(buffer.buffer(), 0, &fill);
        }
        Ok(GpuImage {
            buffer: Arc::new(buffer),
            width,
            height,
            format,
            geometry,
        })
    }

    /// A pooled buffer of any usage (uniforms, tables, staging).
    pub fn alloc_buffer(
        &self,
        bytes: u64,
        usage: wgpu::BufferUsages,
        label: &str,
    ) -> Result<PooledBuffer> {
        self.capture_errors(label, || self.inner.pool.acquire(bytes, usage, label))
    }

    /// A number no other engine of this process has (clones share it). Use it, not `wgpu::Device`
    /// equality, to tell engines apart: wgpu compares devices by their id inside one instance, so the
    /// devices of two engines (each with its own instance) can compare equal.
    pub fn uid(&self) -> u64 {
        self.inner.uid
    }

    /// Uploads bytes into a buffer through the queue, counted as one upload.
    pub fn write_counted(&self, buffer: &wgpu::Buffer, bytes: &[u8]) {
        self.inner.queue.write_buffer(buffer, 0, bytes);
        Counters::bump(&self.inner.counters.uploads, 1);
        Counters::bump(&self.inner.counters.upload_bytes, bytes.len() as u64);
    }

    /// Uploads a host image (16-bit samples packed two per word): one counted upload.
    pub fn upload(&self, image: &HostImage) -> Result<GpuImage> {
        let bytes = self.check_fits(image.width, image.height, image.format())?;
        let buffer = self.capture_errors("allocate upload buffer", || {
            self.inner
                .pool
                .acquire(bytes, IMAGE_USAGE, "radpipe uploaded image")
        })?;
        let data = image.pixels.to_gpu_bytes();
        self.write_counted(buffer.buffer(), &data);
        Ok(GpuImage {
            buffer: Arc::new(buffer),
            width: image.width,
            height: image.height,
            format: image.format(),
            geometry: image.geometry.clone(),
        })
    }

    /// Blocks until all submitted work has finished.
    pub fn wait_idle(&self) -> Result<()> {
        let submitted = self.counters().snapshot().submissions;
        self.inner
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the device: {e}")))?;
        self.counters().note_wait(submitted);
        Ok(())
    }
}
