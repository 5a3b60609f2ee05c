//! The ops `radpipe bench` knows, each prepared once per size (input resident on the GPU, pipelines
//! warm) and recorded per iteration. `bytes` is what the op must read and write — the figure that, over
//! time, gives an effective bandwidth comparable with the copy ceiling.

use crate::image::{GpuImage, HostImage, PixelFormat, Pixels};
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
