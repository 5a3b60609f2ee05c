//! [`Segmenter`]: a loaded network plus its preprocessing, running batches end to end on the GPU
//! (one recording, no CPU trip) or on the CPU.

use burn::module::Module;

use burn::tensor::{Device, Tensor, TensorData};

use super::device::{BurnSlice, burn_device, burn_slice, read_f32};
use super::gpu::{encode_mask, encode_preprocess, foreground_margin};
use super::reference::{display_reference, mask_reference, network_input};
use super::{Backend, Preprocess, PreprocessKind, SegInput, Segmenter};
use crate::gpu::GpuImage;
use crate::image::{Geometry, HostImage, PixelFormat, Pixels};
use crate::ops::window;
use crate::pipeline::{Download, Recorder};
use crate::seg::bisenet::BiSeNetV2;
use crate::{Engine, Error, Result};

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
            flip_tta: false,
        })
    }

    /// Loads weights (any supported format) onto the backend's device.
    pub fn load(weights: &std::path::Path, backend: Backend, pre: Preprocess) -> Result<Self> {
        pre.validate()?;
        let device = match &backend {
            Backend::Gpu(engine) => burn_device(engine)?,
            Backend::Cpu => Device::flex(),
        };
        let model = crate::seg::weights::load_model(weights, &device)?;
        Ok(Segmenter {
            model,
            device,
            backend,
            pre,
            flip_tta: false,
        })
    }

    /// With `on`, every forward pass also runs on the left-right mirrored input and the two
    /// foreground margins (mirrored back) are averaged: test-time augmentation, at twice the
    /// network cost. The model was trained with mirrored images, so both passes are in its domain.
    pub fn with_flip_tta(mut self, on: bool) -> Self {
        self.flip_tta = on;
        self
    }

    /// Whether flip test-time augmentation is on.
    pub fn flip_tta(&self) -> bool {
        self.flip_tta
    }

    /// The foreground margin of a network input batch, with flip averaging when it is on.
    fn margin(&self, input: Tensor<4>) -> Tensor<4> {
        if !self.flip_tta {
            return foreground_margin(self.model.forward(input));
        }
        let plain = foreground_margin(self.model.forward(input.clone()));
        let mirrored = foreground_margin(self.model.forward(input.flip([3]))).flip([3]);
        (plain + mirrored) * 0.5
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
    /// GPU with radpipe's preprocessing the images go upload → window → resize/normalise → copy into
    /// burn, all on the device; PaddleSeg's is computed on the host and uploaded.
    pub fn input_tensor(&self, inputs: &[SegInput<'_>]) -> Result<Tensor<4>> {
        if inputs.is_empty() {
            return Err(Error::InvalidParams("no images to segment".into()));
        }
        match &self.backend {
            // PaddleSeg's arithmetic runs on the host on either backend (see the module docs).
            Backend::Gpu(engine) if self.pre.kind == PreprocessKind::Radpipe => {
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
            _ => {
                let displays = inputs
                    .iter()
                    .map(display_reference)
                    .collect::<Result<Vec<_>>>()?;
                self.host_input(&displays)
            }
        }
    }

    /// The network input for `displays` (8-bit display values on the host), computed on the host
    /// with the preprocessing's arithmetic and uploaded to the backend's device.
    fn host_input(&self, displays: &[HostImage]) -> Result<Tensor<4>> {
        let (n, c) = (displays.len(), self.channels() as usize);
        let (w, h) = (self.pre.width as usize, self.pre.height as usize);
        let mut data = Vec::with_capacity(n * c * h * w);
        for display in displays {
            data.extend(network_input(display, &self.pre, c)?);
        }
        Ok(Tensor::from_data(
            TensorData::new(data, [n, c, h, w]),
            &self.device,
        ))
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
        read_f32(self.margin(self.input_tensor(inputs)?))
    }

    /// Segments a batch: one u8 mask (0/255) per input, at the input's size, with its geometry.
    pub fn segment(&self, inputs: &[SegInput<'_>]) -> Result<Vec<HostImage>> {
        let n = inputs.len();
        let (w, h) = (self.pre.width, self.pre.height);
        let plane = w as usize * h as usize;
        let input = self.input_tensor(inputs)?;
        let margin = self.margin(input).reshape([n * plane]);
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
    /// wait on the CPU — except with PaddleSeg preprocessing, which reads `display` back and
    /// computes the network input on the host.
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
        let input = if self.pre.kind == PreprocessKind::Radpipe {
            let (input, slice) = self.record_input(&mut rec, &[display])?;
            rec.submit()?;
            drop(slice);
            input
        } else {
            // PaddleSeg's arithmetic runs on the host: the display values come back first.
            let download = rec.download(display)?;
            rec.submit()?;
            self.host_input(&[download.wait()?])?
        };
        let margin = self.margin(input).reshape([w * h]);
        let outputs = [(display.width, display.height, display.geometry.clone())];
        let (mut rec, masks, slice) = self.record_masks(engine, &margin, &outputs)?;
        let download = rec.download(&masks[0])?;
        rec.submit()?;
        drop(slice);
        Ok(download)
    }
}
