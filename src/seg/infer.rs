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
//! On the CPU (`--device cpu`, or a machine without any adapter) the same stages run as Rust
//! references — [`crate::ops::window::reference`], [`preprocess_reference`], [`mask_reference`] — and
//! the network runs on burn's Flex backend.

use std::path::Path;
use std::sync::Mutex;

use burn::module::Module;

use burn::tensor::{Device, Tensor, TensorData};

use super::bisenet::BiSeNetV2;
use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{Geometry, HostImage, PixelFormat, Pixels};
use crate::io::{Input, read_input};
use crate::ops::window::{self, WindowRequest, WindowSettings};
use crate::pipeline::{Bind, Download, Recorder};
use crate::{Engine, Error, Result};

/// Resize target and normalisation of the network input (PaddleSeg's `Resize` + `Normalize`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preprocess {
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
            width: size,
            height: size,
            mean: 0.5,
            std: 0.5,
        }
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
}

static SHARED_DEVICES: Mutex<Vec<(u64, Device)>> = Mutex::new(Vec::new());

/// The burn device running on `engine`'s own wgpu device and queue. Registered with burn once per
/// engine (burn's setup registration is not idempotent) and reused afterwards. Keyed by
/// [`Engine::uid`]: `wgpu::Device` equality compares ids that two engines' separate instances can
/// share, which once handed one engine the burn device of another (its tensors then lived on a
/// different device: "Cannot get non-existent resource" in wgpu-core).
pub fn burn_device(engine: &Engine) -> Result<Device> {
    let mut known = SHARED_DEVICES
        .lock()
        .map_err(|_| Error::Gpu("burn device registry poisoned".into()))?;
    if let Some((_, d)) = known.iter().find(|(uid, _)| *uid == engine.uid()) {
        return Ok(d.clone());
    }
    let (Some(instance), Some(adapter)) = (engine.instance(), engine.adapter()) else {
        return Err(Error::NoAdapter(
            "burn needs the wgpu instance and adapter as well as the device; this engine wraps a \
             host's device without them (use Engine::new, or the CPU backend)"
                .into(),
        ));
    };
    let setup = burn::tensor::wgpu::WgpuSetup {
        instance: instance.clone(),
        adapter: adapter.clone(),
        device: engine.device().clone(),
        queue: engine.queue().clone(),
        backend: adapter.get_info().backend,
    };
    let device = Device::wgpu_options()
        .setup(setup)
        .init()
        .map_err(|e| Error::Gpu(format!("registering the device with burn: {e}")))?;
    known.push((engine.uid(), device.clone()));
    Ok(device)
}

/// A burn tensor's place in a wgpu buffer, with a guard that keeps burn from reusing it.
struct BurnSlice {
    buffer: wgpu::Buffer,
    offset: u64,
    size: u64,
    _guard: Box<dyn std::any::Any>,
}

fn burn_slice<const D: usize>(tensor: &Tensor<D>) -> Result<BurnSlice> {
    use burn::backend::Cube;
    use burn::cubecl::wgpu::{AutoCompiler, WgpuServer};
    let primitive = tensor
        .clone()
        .try_into_primitive::<Cube>()
        .map_err(|e| Error::Gpu(format!("burn tensor is not on a wgpu device: {e:?}")))?;
    let managed = primitive
        .client
        .get_resource::<WgpuServer<AutoCompiler>>(primitive.handle.clone())
        .map_err(|e| Error::Gpu(format!("burn tensor buffer: {e:?}")))?;
    let r = managed.resource();
    Ok(BurnSlice {
        buffer: r.buffer.clone(),
        offset: r.offset,
        size: r.size,
        _guard: Box::new(managed),
    })
}

/// The foreground margin `[N, 1, H, W]`: class-1 logit minus the largest other class's logit
/// (> 0 exactly where argmax is class 1; a tie goes to the lower index as argmax does). For a
/// one-class network, the logit itself.
pub fn foreground_margin(logits: Tensor<4>) -> Tensor<4> {
    let c = logits.dims()[1];
    match c {
        0 | 1 => logits,
        2 => logits.clone().narrow(1, 1, 1) - logits.narrow(1, 0, 1),
        _ => {
            let fg = logits.clone().narrow(1, 1, 1);
            let others = Tensor::cat(
                vec![logits.clone().narrow(1, 0, 1), logits.narrow(1, 2, c - 2)],
                1,
            );
            fg - others.max_dim(1)
        }
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/seg_preprocess.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct PreprocessParams = SEG_PREPROCESS_PREPROCESS_PARAMS {
        src_width: u32,
        src_height: u32,
        dst_width: u32,
        dst_height: u32,
        in_format: u32,
        channels: u32,
        dst_offset: u32,
        _pad: u32,
        scale_x: f32,
        scale_y: f32,
        gain: f32,
        bias: f32,
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/seg_mask.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct MaskParams = SEG_MASK_MASK_PARAMS {
        src_width: u32,
        src_height: u32,
        dst_width: u32,
        dst_height: u32,
        src_offset: u32,
        count: u32,
        scale_x: f32,
        scale_y: f32,
    }
}

fn scale(src: u32, dst: u32) -> f32 {
    (f64::from(src) / f64::from(dst)) as f32
}

/// Records the preprocessing of `display` into `batch` (f32 words) at element `offset`: `channels`
/// equal planes of the resized, normalised image.
pub fn encode_preprocess(
    rec: &mut Recorder<'_>,
    display: &GpuImage,
    batch: &GpuImage,
    offset: u32,
    channels: u32,
    pre: &Preprocess,
) -> Result<()> {
    let plane = u64::from(pre.width) * u64::from(pre.height);
    let end = u64::from(offset) + plane * u64::from(channels);
    if batch.format != PixelFormat::F32 || end > batch.pixel_count() as u64 {
        return Err(Error::InvalidParams(format!(
            "seg_preprocess: batch buffer of {} {} samples cannot take {end}",
            batch.pixel_count(),
            batch.format
        )));
    }
    let params = PreprocessParams {
        src_width: display.width,
        src_height: display.height,
        dst_width: pre.width,
        dst_height: pre.height,
        in_format: display.format.shader_code(),
        channels,
        dst_offset: offset,
        _pad: 0,
        scale_x: scale(display.width, pre.width),
        scale_y: scale(display.height, pre.height),
        gain: pre.gain(),
        bias: pre.bias(),
    };
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::SEG_PREPROCESS_MAIN)?;
    let uniform = rec.uniform(&params, "seg_preprocess params")?;
    let groups = rec.groups_1d(&kernel, plane);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(display)),
            (2, Bind::Image(batch)),
        ],
        groups,
    )
}

/// Records the mask of one image: the margin plane at element `offset` of `margin` (network size
/// `net_w`×`net_h`) resized to `width`×`height` and thresholded, as a new u8 image (0/255).
pub fn encode_mask(
    rec: &mut Recorder<'_>,
    margin: &GpuImage,
    offset: u32,
    net: (u32, u32),
    width: u32,
    height: u32,
    geometry: Geometry,
) -> Result<GpuImage> {
    let (net_w, net_h) = net;
    let end = u64::from(offset) + u64::from(net_w) * u64::from(net_h);
    if margin.format != PixelFormat::F32 || end > margin.pixel_count() as u64 {
        return Err(Error::InvalidParams(format!(
            "seg_mask: margin buffer of {} {} samples cannot give {end}",
            margin.pixel_count(),
            margin.format
        )));
    }
    let output = rec.alloc_image(width, height, PixelFormat::U8, geometry)?;
    let params = MaskParams {
        src_width: net_w,
        src_height: net_h,
        dst_width: width,
        dst_height: height,
        src_offset: offset,
        count: width * height,
        scale_x: scale(net_w, width),
        scale_y: scale(net_h, height),
    };
    let kernel = rec.engine().shaders().kernel(kernels::SEG_MASK_MAIN)?;
    let uniform = rec.uniform(&params, "seg_mask params")?;
    let words = u64::from(width * height).div_ceil(4);
    let groups = rec.groups_1d(&kernel, words);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(margin)),
            (2, Bind::Image(&output)),
        ],
        groups,
    )?;
    Ok(output)
}

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

fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .try_into_data()
        .map_err(|e| Error::Gpu(format!("reading network output: {e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::Gpu(format!("network output is not f32: {e:?}")))
}

impl Segmenter {
    /// A segmenter for `model` (already on the backend's device) with `pre`processing.
    pub fn new(model: BiSeNetV2, backend: Backend, pre: Preprocess) -> Result<Self> {
        pre.validate()?;
        let device = match &backend {
            Backend::Gpu(engine) => burn_device(engine)?,
            Backend::Cpu => Device::flex(),
        };
        let model = model.to_device(&device);
        Ok(Segmenter {
            model,
            device,
            backend,
            pre,
        })
    }

    /// Loads weights (any supported format) onto the backend's device.
    pub fn load(weights: &std::path::Path, backend: Backend, pre: Preprocess) -> Result<Self> {
        pre.validate()?;
        let device = match &backend {
            Backend::Gpu(engine) => burn_device(engine)?,
            Backend::Cpu => Device::flex(),
        };
        let model = super::weights::load_model(weights, &device)?;
        Ok(Segmenter {
            model,
            device,
            backend,
            pre,
        })
    }

    /// The network.
    pub fn model(&self) -> &BiSeNetV2 {
        &self.model
    }

    /// The burn device the network runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The preprocessing.
    pub fn preprocess(&self) -> &Preprocess {
        &self.pre
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    fn channels(&self) -> u32 {
        self.model.config().in_channels as u32
    }

    /// The network input for a batch, as a burn tensor `[N, C, H, W]` on the backend's device. On the
    /// GPU the images go upload → window → resize/normalise → copy into burn, all on the device.
    pub fn input_tensor(&self, inputs: &[SegInput<'_>]) -> Result<Tensor<4>> {
        if inputs.is_empty() {
            return Err(Error::InvalidParams("no images to segment".into()));
        }
        let (n, c) = (inputs.len(), self.channels() as usize);
        let (w, h) = (self.pre.width as usize, self.pre.height as usize);
        match &self.backend {
            Backend::Cpu => {
                let mut data = Vec::with_capacity(n * c * h * w);
                for input in inputs {
                    data.extend(preprocess_reference(
                        &display_reference(input)?,
                        &self.pre,
                        c,
                    ));
                }
                Ok(Tensor::from_data(
                    TensorData::new(data, [n, c, h, w]),
                    &self.device,
                ))
            }
            Backend::Gpu(engine) => {
                let mut rec = Recorder::new(engine);
                let displays = inputs
                    .iter()
                    .map(|input| {
                        let stored = engine.upload(input.image)?;
                        match input.window {
                            Some(settings) => window::encode(&mut rec, &stored, settings),
                            None => Ok(stored),
                        }
                    })
                    .collect::<Result<Vec<_>>>()?;
                let displays: Vec<&GpuImage> = displays.iter().collect();
                let (tensor, slice) = self.record_input(&mut rec, &displays)?;
                rec.submit()?;
                drop(slice);
                Ok(tensor)
            }
        }
    }

    /// Records the network input for `displays` (8-bit display values on the engine's device) into
    /// `rec`: each resized and normalised into one batch buffer, which is copied into a new burn
    /// tensor. burn's pending work is flushed here; the tensor holds the images once `rec` is
    /// submitted, and the returned slice must be kept until then.
    fn record_input(
        &self,
        rec: &mut Recorder<'_>,
        displays: &[&GpuImage],
    ) -> Result<(Tensor<4>, BurnSlice)> {
        let (n, c) = (displays.len(), self.channels() as usize);
        let (w, h) = (self.pre.width as usize, self.pre.height as usize);
        let bytes = (n * c * h * w * 4) as u64;
        let tensor = Tensor::<4>::zeros([n, c, h, w], &self.device);
        let slice = burn_slice(&tensor)?;
        self.device
            .flush()
            .map_err(|e| Error::Gpu(format!("flushing burn: {e:?}")))?;
        if slice.size < bytes {
            return Err(Error::Gpu(format!(
                "burn input buffer holds {} bytes, {bytes} needed",
                slice.size
            )));
        }
        let batch_rows =
            u32::try_from(n * c * h).map_err(|_| Error::InvalidParams("batch too large".into()))?;
        let batch = rec.alloc_image(
            self.pre.width,
            batch_rows,
            PixelFormat::F32,
            Geometry::default(),
        )?;
        for (i, display) in displays.iter().enumerate() {
            encode_preprocess(
                rec,
                display,
                &batch,
                (i * c * h * w) as u32,
                c as u32,
                &self.pre,
            )?;
        }
        let (src, dst, offset) = (batch.buffer.buffer(), &slice.buffer, slice.offset);
        let engine = rec.engine();
        engine.capture_errors("copy into burn", || {
            rec.encoder()
                .copy_buffer_to_buffer(src, 0, dst, offset, Some(bytes));
        })?;
        Ok((tensor, slice))
    }

    /// Records the copy of `margin` (`[N·H·W]` at the network size) out of burn into a new recording
    /// on `engine`, and each image's mask (u8 0/255) at its `(width, height, geometry)`. The caller
    /// downloads the masks and submits; the returned slice must be kept until then.
    fn record_masks<'e>(
        &self,
        engine: &'e Engine,
        margin: &Tensor<1>,
        outputs: &[(u32, u32, Geometry)],
    ) -> Result<(Recorder<'e>, Vec<GpuImage>, BurnSlice)> {
        let (w, h) = (self.pre.width, self.pre.height);
        let n = outputs.len();
        let plane = w as usize * h as usize;
        let slice = burn_slice(margin)?;
        self.device
            .flush()
            .map_err(|e| Error::Gpu(format!("flushing burn: {e:?}")))?;
        let bytes = (n * plane * 4) as u64;
        if slice.size < bytes {
            return Err(Error::Gpu(format!(
                "burn margin buffer holds {} bytes, {bytes} needed",
                slice.size
            )));
        }
        let mut rec = Recorder::new(engine);
        let rows = u32::try_from(n * h as usize)
            .map_err(|_| Error::InvalidParams("batch too large".into()))?;
        let margins = rec.alloc_image(w, rows, PixelFormat::F32, Geometry::default())?;
        let (src, offset, dst) = (&slice.buffer, slice.offset, margins.buffer.buffer());
        engine.capture_errors("copy out of burn", || {
            rec.encoder()
                .copy_buffer_to_buffer(src, offset, dst, 0, Some(bytes));
        })?;
        let masks = outputs
            .iter()
            .enumerate()
            .map(|(i, (width, height, geometry))| {
                encode_mask(
                    &mut rec,
                    &margins,
                    (i * plane) as u32,
                    (w, h),
                    *width,
                    *height,
                    geometry.clone(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((rec, masks, slice))
    }

    /// Eval-mode logits `[N, classes, H, W]` at the network size, read back (tests and tools; the
    /// segmentation path never reads logits back).
    pub fn logits(&self, inputs: &[SegInput<'_>]) -> Result<Vec<f32>> {
        read_f32(self.model.forward(self.input_tensor(inputs)?))
    }

    /// Foreground margins `[N, H, W]` at the network size, read back (tests and tools).
    pub fn margins(&self, inputs: &[SegInput<'_>]) -> Result<Vec<f32>> {
        read_f32(foreground_margin(
            self.model.forward(self.input_tensor(inputs)?),
        ))
    }

    /// Segments a batch: one u8 mask (0/255) per input, at the input's size, with its geometry.
    pub fn segment(&self, inputs: &[SegInput<'_>]) -> Result<Vec<HostImage>> {
        let n = inputs.len();
        let (w, h) = (self.pre.width, self.pre.height);
        let plane = w as usize * h as usize;
        let input = self.input_tensor(inputs)?;
        let margin = foreground_margin(self.model.forward(input)).reshape([n * plane]);
        match &self.backend {
            Backend::Cpu => {
                let values = read_f32(margin)?;
                inputs
                    .iter()
                    .enumerate()
                    .map(|(i, input)| {
                        let img = input.image;
                        let mask = mask_reference(
                            &values[i * plane..(i + 1) * plane],
                            (w, h),
                            img.width,
                            img.height,
                        );
                        Ok(HostImage::new(img.width, img.height, Pixels::U8(mask))?
                            .with_geometry(img.geometry.clone()))
                    })
                    .collect()
            }
            Backend::Gpu(engine) => {
                let outputs: Vec<(u32, u32, Geometry)> = inputs
                    .iter()
                    .map(|i| (i.image.width, i.image.height, i.image.geometry.clone()))
                    .collect();
                let (mut rec, masks, slice) = self.record_masks(engine, &margin, &outputs)?;
                let downloads = masks
                    .iter()
                    .map(|m| rec.download(m))
                    .collect::<Result<Vec<_>>>()?;
                rec.submit()?;
                drop(slice);
                drop(margin);
                downloads.into_iter().map(|d| d.wait()).collect()
            }
        }
    }

    /// Segments one image already on the GPU as the last stage of a recorded pipeline: `display`
    /// (8-bit display values) is the output of the stages in `rec`. Submits `rec` with the copy into
    /// the network input, queues the forward pass on the shared queue, then records and submits the
    /// mask (u8 0/255 at `display`'s size and geometry) with its download, which is returned
    /// unwaited. Per image: radpipe's two submissions around burn's own work, one readback, and no
    /// wait on the CPU.
    pub fn segment_resident(&self, mut rec: Recorder<'_>, display: &GpuImage) -> Result<Download> {
        let Backend::Gpu(engine) = &self.backend else {
            return Err(Error::InvalidParams(
                "segment_resident needs a segmenter on the GPU backend".into(),
            ));
        };
        if engine.device() != rec.engine().device() {
            return Err(Error::InvalidParams(
                "segment_resident: the recording and the segmenter are on different devices".into(),
            ));
        }
        if display.format != PixelFormat::U8 {
            return Err(Error::InvalidParams(format!(
                "segmentation needs 8-bit display values, not {} samples: window to 8 bits first",
                display.format
            )));
        }
        let (w, h) = (self.pre.width as usize, self.pre.height as usize);
        let (input, slice) = self.record_input(&mut rec, &[display])?;
        rec.submit()?;
        drop(slice);
        let margin = foreground_margin(self.model.forward(input)).reshape([w * h]);
        let outputs = [(display.width, display.height, display.geometry.clone())];
        let (mut rec, masks, slice) = self.record_masks(engine, &margin, &outputs)?;
        let download = rec.download(&masks[0])?;
        rec.submit()?;
        drop(slice);
        Ok(download)
    }
}
