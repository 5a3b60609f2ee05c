//! The ops `radpipe bench` knows, each prepared once per size (input resident on the GPU, pipelines
//! warm) and recorded per iteration. `bytes` is what the op must read and write — the figure that, over
//! time, gives an effective bandwidth comparable with the copy ceiling.

use crate::image::{GpuImage, HostImage, PixelFormat, Pixels};
use crate::ops::clahe::{self, ClaheParams};
use crate::ops::equalize::{self, EqualizeParams};
use crate::ops::histogram::{
    Binning, GpuHistogram, GpuTable, LutOutput, Region, encode_apply_lut, encode_histogram,
};
use crate::ops::resize::{self, ResizeMode, ResizeParams};
use crate::ops::warp::{self, Transform, WarpParams, rotation_matrix};
use crate::ops::window::{self, WindowSettings, WindowSource};
use crate::pipeline::Recorder;
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
    /// One line for `--help` and the README.
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
            make: |e, s| Ok(Box::new(HistogramCase::new(e, s)?)),
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
    /// Uploads the input once.
    pub fn new(engine: &Engine, side: u32) -> Result<Self> {
        Ok(HistogramCase {
            input: engine.upload(&test_image(side)?)?,
            binning: Binning::new(PixelFormat::U16, Some(12), None)?,
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
