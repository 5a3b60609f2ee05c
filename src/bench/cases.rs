//! The ops `radpipe bench` knows, each prepared once per size (input resident on the GPU, pipelines
//! warm) and recorded per iteration. `bytes` is what the op must read and write — the figure that, over
//! time, gives an effective bandwidth comparable with the copy ceiling.

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{HostImage, PixelFormat, Pixels};
use crate::ops::clahe::{self, ClaheParams};
use crate::ops::equalize::{self, EqualizeParams};
use crate::ops::histogram::{
    Binning, GpuHistogram, GpuTable, LutOutput, Region, encode_apply_lut, encode_histogram,
};
use crate::ops::resize::{self, ResizeMode, ResizeParams};
use crate::ops::warp::{self, Transform, WarpParams, rotation_matrix};
use crate::ops::window::{self, WindowSettings, WindowSource};
use crate::pipeline::{Bind, Recorder};
use crate::transforms::{ModalityLut, Voi, VoiFunction, Window};
use crate::{Engine, Geometry, Result};

/// One prepared op at one size.
pub trait BenchCase {
    /// Records one iteration.
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()>;
    /// Pixels processed per iteration.
    fn pixels(&self) -> u64;
    /// Bytes the op must read and write per iteration.
    fn bytes(&self) -> u64;
}

/// A named op and how to prepare it.
pub struct OpSpec {
    /// Name on the command line.
    pub name: &'static str,
    /// One line for `radpipe bench --list`.
    pub description: &'static str,
    /// Prepares the op for a `side`×`side` image.
    pub make: fn(&Engine, u32) -> Result<Box<dyn BenchCase>>,
}

/// Every op the bench knows.
pub fn all_ops() -> Vec<OpSpec> {
    vec![
        OpSpec {
            name: "copy",
            description: "buffer-to-buffer copy of a u16 image (the bandwidth ceiling)",
            make: |e, s| Ok(Box::new(CopyCase::new(e, s)?)),
        },
        OpSpec {
            name: "window",
            description: "modality rescale + LINEAR window, u16 in, u8 out",
            make: |e, s| Ok(Box::new(WindowCase::new(e, s)?)),
        },
        OpSpec {
            name: "window-plain",
            description: "reference point: the plainest window kernel (u16 in, u8 out, 4 pixels per \
                          invocation, no DICOM transforms); not a radpipe op",
            make: |e, s| Ok(Box::new(PlainWindowCase::new(e, s)?)),
        },
        OpSpec {
            name: "rotate",
            description: "bilinear affine warp (7.5° rotation), u16 in and out, constant border",
            make: |e, s| Ok(Box::new(RotateCase::new(e, s)?)),
        },
        OpSpec {
            name: "resize",
            description: "bilinear resize to half size, u16 (pixels counted at the input)",
            make: |e, s| Ok(Box::new(ResizeCase::new(e, s, ResizeMode::Linear)?)),
        },
        OpSpec {
            name: "resize-area",
            description: "area-average resize to half size, u16 (pixels counted at the input)",
            make: |e, s| Ok(Box::new(ResizeCase::new(e, s, ResizeMode::Area)?)),
        },
        OpSpec {
            name: "histogram",
            description: "12-bit histogram (4096 bins) of a u16 image",
            make: |e, s| Ok(Box::new(HistogramCase::new(e, s, 12)?)),
        },
        OpSpec {
            name: "histogram16",
            description: "16-bit histogram (65536 bins, global atomics) of a u16 image",
            make: |e, s| Ok(Box::new(HistogramCase::new(e, s, 16)?)),
        },
        OpSpec {
            name: "lut",
            description: "apply a 4096-entry LUT, u16 in and out",
            make: |e, s| Ok(Box::new(LutCase::new(e, s)?)),
        },
        OpSpec {
            name: "equalize",
            description: "global equalization, 12-bit u16: histogram + LUT + apply",
            make: |e, s| Ok(Box::new(EqualizeCase::new(e, s)?)),
        },
        OpSpec {
            name: "clahe",
            description: "CLAHE 8×8 tiles, clip 2, 12-bit u16: tile histograms + LUTs + interpolation",
            make: |e, s| Ok(Box::new(ClaheCase::new(e, s)?)),
        },
    ]
}

/// A deterministic u16 test image (a 12-bit ramp pattern); content does not change the work done.
pub fn test_image(side: u32) -> Result<HostImage> {
    let n = side as usize * side as usize;
    HostImage::new(
        side,
        side,
        Pixels::U16((0..n).map(|i| ((i * 7) % 4096) as u16).collect()),
    )
}

/// Buffer-to-buffer copy of a u16 image.
pub struct CopyCase {
    src: GpuImage,
    dst: GpuImage,
}

impl CopyCase {
    /// Prepares source and destination buffers.
    pub fn new(engine: &Engine, side: u32) -> Result<Self> {
        let src = engine.upload(&test_image(side)?)?;
        let dst = engine.alloc_image(side, side, PixelFormat::U16, Geometry::default())?;
        Ok(CopyCase { src, dst })
    }
}

impl BenchCase for CopyCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        let bytes = self.src.byte_len();
        rec.encoder().copy_buffer_to_buffer(
            self.src.buffer.buffer(),
            0,
            self.dst.buffer.buffer(),
            0,
            bytes,
        );
        Ok(())
    }
    fn pixels(&self) -> u64 {
        self.src.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        2 * self.src.byte_len()
    }
}

/// Window/level u16 → u8 (2 bytes read + 1 written per pixel).
pub struct WindowCase {
    input: GpuImage,
    settings: WindowSettings,
}

impl WindowCase {
    /// Uploads the input once.
    pub fn new(engine: &Engine, side: u32) -> Result<Self> {
        Ok(WindowCase {
            input: engine.upload(&test_image(side)?)?,
            settings: WindowSettings {
                modality: ModalityLut::Rescale {
                    slope: 1.0,
                    intercept: -1024.0,
                },
                voi: Voi::Window(Window {
                    center: 40.0,
                    width: 400.0,
                    function: VoiFunction::Linear,
                }),
                bits: 8,
                invert: false,
                source: WindowSource::Explicit,
            },
        })
    }
}

impl BenchCase for WindowCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        window::encode(rec, &self.input, &self.settings).map(|_| ())
    }
    fn pixels(&self) -> u64 {
        self.input.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        3 * self.input.pixel_count() as u64
    }
}

crate::wgsl_struct! {
    /// Uniform of `shaders/bench_window_plain.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct PlainParams = BENCH_WINDOW_PLAIN_PLAIN_PARAMS {
        words: u32,
        slope: f32,
        intercept: f32,
        lo: f32,
        k: f32,
        _pad: [u32; 3],
    }
}

/// The plainest window kernel, same input and window as [`WindowCase`]: what the adapter does on the
/// simplest pass, so the real ops' pixel rates can be read against it.
pub struct PlainWindowCase {
    input: GpuImage,
    output: GpuImage,
    params: PlainParams,
}

impl PlainWindowCase {
    /// Uploads the input once; the side must make a whole number of 4-pixel words.
    pub fn new(engine: &Engine, side: u32) -> Result<Self> {
        let pixels = u64::from(side) * u64::from(side);
        if pixels % 4 != 0 {
            return Err(crate::Error::InvalidParams(format!(
                "window-plain needs a multiple of 4 pixels; {side}x{side} is not"
            )));
        }
        let (center, width) = (40.0f32, 400.0f32);
        Ok(PlainWindowCase {
            input: engine.upload(&test_image(side)?)?,
            output: engine.alloc_image(side, side, PixelFormat::U8, Geometry::default())?,
            params: PlainParams {
                words: u32::try_from(pixels / 4).map_err(|_| {
                    crate::Error::InvalidParams(format!("window-plain: {side}x{side} too large"))
                })?,
                slope: 1.0,
                intercept: -1024.0,
                lo: center - width / 2.0,
                k: 255.0 / width,
                _pad: [0; 3],
            },
        })
    }
}

impl PlainWindowCase {
    /// The output image (valid after a recorded iteration is submitted).
    pub fn output(&self) -> &GpuImage {
        &self.output
    }

    /// The kernel's formula on the CPU, for the bench's own input (same f32 operations).
    pub fn reference(&self, side: u32) -> Result<Vec<u8>> {
        let p = self.params;
        let image = test_image(side)?;
        Ok((0..image.pixel_count())
            .map(|i| {
                let x = image.pixels.get_f64(i) as f32 * p.slope + p.intercept;
                ((x - p.lo) * p.k + 0.5).floor().clamp(0.0, 255.0) as u8
            })
            .collect())
    }
}

impl BenchCase for PlainWindowCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        let kernel = rec
            .engine()
            .shaders()
            .kernel(kernels::BENCH_WINDOW_PLAIN_MAIN)?;
        let uniform = rec.uniform(&self.params, "bench_window_plain params")?;
        let groups = rec.groups_1d(&kernel, u64::from(self.params.words));
        rec.dispatch(
            &kernel,
            &[
                (0, Bind::Pooled(&uniform)),
                (1, Bind::Image(&self.input)),
                (2, Bind::Image(&self.output)),
            ],
            groups,
        )
    }
    fn pixels(&self) -> u64 {
        self.input.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        3 * self.input.pixel_count() as u64
    }
}

/// Bytes of a u16 image of `pixels` pixels.
fn u16_bytes(pixels: u64) -> u64 {
    2 * pixels
}

/// Bilinear rotation u16 → u16 (2 bytes read + 2 written per pixel).
pub struct RotateCase {
    input: GpuImage,
    params: WarpParams,
}

impl RotateCase {
    /// Uploads the input once.
    pub fn new(engine: &Engine, side: u32) -> Result<Self> {
        let c = f64::from(side) / 2.0;
        Ok(RotateCase {
            input: engine.upload(&test_image(side)?)?,
            params: WarpParams::new(
                Transform::Affine(rotation_matrix([c, c], 7.5, 1.0)),
                side,
                side,
            ),
        })
    }
}

impl BenchCase for RotateCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        warp::encode(rec, &self.input, &self.params).map(|_| ())
    }
    fn pixels(&self) -> u64 {
        self.input.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        2 * u16_bytes(self.pixels())
    }
}

/// Resize to half size, u16 (reads the input once, writes a quarter of it).
pub struct ResizeCase {
    input: GpuImage,
    params: ResizeParams,
}

impl ResizeCase {
    /// Uploads the input once.
    pub fn new(engine: &Engine, side: u32, mode: ResizeMode) -> Result<Self> {
        let mut params = ResizeParams::new((side / 2).max(1), (side / 2).max(1));
        params.mode = mode;
        Ok(ResizeCase {
            input: engine.upload(&test_image(side)?)?,
            params,
        })
    }
}

impl BenchCase for ResizeCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        resize::encode(rec, &self.input, &self.params).map(|_| ())
    }
    fn pixels(&self) -> u64 {
        self.input.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        let out = u64::from(self.params.width) * u64::from(self.params.height);
        u16_bytes(self.pixels()) + u16_bytes(out)
    }
}

/// 12-bit histogram of a u16 image (2 bytes read per pixel; the 16 KiB of counts are negligible).
pub struct HistogramCase {
    input: GpuImage,
    binning: Binning,
}

impl HistogramCase {
    /// Uploads the input once; `bits` of each sample are binned (12: 4096 bins, 16: 65536).
    pub fn new(engine: &Engine, side: u32, bits: u32) -> Result<Self> {
        Ok(HistogramCase {
            input: engine.upload(&test_image(side)?)?,
            binning: Binning::new(PixelFormat::U16, Some(bits), None)?,
        })
    }
}

impl BenchCase for HistogramCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        encode_histogram(rec, &self.input, &self.binning, &Region::ALL).map(|_| ())
    }
    fn pixels(&self) -> u64 {
        self.input.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        u16_bytes(self.pixels())
    }
}

/// A 4096-entry LUT applied to a u16 image (2 bytes read + 2 written per pixel).
pub struct LutCase {
    input: GpuImage,
    hist: GpuHistogram,
    lut: GpuTable,
    output: LutOutput,
}

impl LutCase {
    /// Uploads the input and builds an equalization LUT once (outside the timed region).
    pub fn new(engine: &Engine, side: u32) -> Result<Self> {
        let input = engine.upload(&test_image(side)?)?;
        let binning = Binning::new(PixelFormat::U16, Some(12), None)?;
        let mut rec = Recorder::new(engine);
        let hist = encode_histogram(&mut rec, &input, &binning, &Region::ALL)?;
        let lut = equalize::encode_lut(&mut rec, &hist)?;
        rec.submit()?;
        Ok(LutCase {
            input,
            hist,
            lut,
            output: LutOutput {
                format: PixelFormat::U16,
                invert: false,
                max: binning.vmax(),
            },
        })
    }
}

impl BenchCase for LutCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        encode_apply_lut(rec, &self.input, &self.hist, &self.lut, &self.output).map(|_| ())
    }
    fn pixels(&self) -> u64 {
        self.input.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        2 * u16_bytes(self.pixels())
    }
}

/// Global equalization of a 12-bit u16 image (must read 2 and write 2 bytes per pixel; it reads the
/// input twice, which the effective bandwidth does not credit).
pub struct EqualizeCase {
    input: GpuImage,
    params: EqualizeParams,
}

impl EqualizeCase {
    /// Uploads the input once.
    pub fn new(engine: &Engine, side: u32) -> Result<Self> {
        Ok(EqualizeCase {
            input: engine.upload(&test_image(side)?)?,
            params: EqualizeParams {
                bits: Some(12),
                ..Default::default()
            },
        })
    }
}

impl BenchCase for EqualizeCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        equalize::encode(rec, &self.input, &self.params).map(|_| ())
    }
    fn pixels(&self) -> u64 {
        self.input.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        2 * u16_bytes(self.pixels())
    }
}

/// CLAHE of a 12-bit u16 image, OpenCV's 8×8 tiles (must read 2 and write 2 bytes per pixel).
pub struct ClaheCase {
    input: GpuImage,
    params: ClaheParams,
}

impl ClaheCase {
    /// Uploads the input once.
    pub fn new(engine: &Engine, side: u32) -> Result<Self> {
        Ok(ClaheCase {
            input: engine.upload(&test_image(side)?)?,
            params: ClaheParams {
                clip_limit: 2.0,
                bits: Some(12),
                ..Default::default()
            },
        })
    }
}

impl BenchCase for ClaheCase {
    fn record(&self, rec: &mut Recorder<'_>) -> Result<()> {
        clahe::encode(rec, &self.input, &self.params).map(|_| ())
    }
    fn pixels(&self) -> u64 {
        self.input.pixel_count() as u64
    }
    fn bytes(&self) -> u64 {
        2 * u16_bytes(self.pixels())
    }
}
