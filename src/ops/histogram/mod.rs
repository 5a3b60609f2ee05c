//! Histograms on the GPU: counting (whole image, a rectangle, a mask, or a grid of tiles), scanning to
//! the CDF, and applying a per-bin look-up table — the three stages every histogram operation
//! (equalization, CLAHE, matching, automatic windows) is built from. Each stage records into the same
//! [`Recorder`], and every value a later stage depends on (pixel count, first non-empty bin, the range
//! of a float image) is computed and consumed on the GPU, so a whole operation is one submission with
//! nothing read back in between.
//!
//! Binning ([`Binning`]) is shared by the shaders (`shaders/common/histogram.wgsl`) and the CPU
//! reference here, bit for bit: integer samples (i16 as offset binary) are clamped to `2^bits − 1` and
//! shifted right so `bins = 2^(bits − shift)`; f32 samples fall into `bins` equal bins over the image's
//! finite range, found on the GPU, with the bin decided by correctly rounded products only.
//!
//! Histograms, CDFs and LUTs live in [`GpuTable`]s: one 32-bit word per entry, carried in a
//! one-word-per-pixel [`GpuImage`] so the engine's pooling, poisoning and counted download apply.

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{HostImage, PixelFormat, Pixels};
use crate::pipeline::{Bind, Download, Recorder};
use crate::{Engine, Error, Result};

/// How samples map to histogram bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binning {
    /// Sample format of the images binned.
    pub format: PixelFormat,
    /// Integer formats: significant bits of the sample domain (values above `2^bits − 1` are clamped);
    /// i16 samples are offset by 32768 and always use 16. Unused for f32.
    pub bits: u32,
    /// Number of bins: a power of two from 2 to 65536 (and at most `2^bits` for integers).
    pub bins: u32,
}

impl Binning {
    /// A binning for `format`; `bits` defaults to the container width (8 or 16), `bins` to one bin
    /// per value (`2^bits`; 65536 for f32).
    pub fn new(format: PixelFormat, bits: Option<u32>, bins: Option<u32>) -> Result<Binning> {
        let container = match format {
            PixelFormat::U8 => 8,
            PixelFormat::U16 | PixelFormat::I16 => 16,
            PixelFormat::F32 => 0,
        };
        let bits = match (format, bits) {
            (PixelFormat::F32, _) => 0,
            (PixelFormat::I16, Some(b)) if b != 16 => {
                return Err(Error::InvalidParams(format!(
                    "--bits {b} does not apply to signed 16-bit samples (they always use 16)"
                )));
            }
            (_, Some(b)) if b == 0 || b > container => {
                return Err(Error::InvalidParams(format!(
                    "bits {b} out of range for {format} samples (1..={container})"
                )));
            }
            (_, Some(b)) => b,
            (_, None) => container,
        };
        let max_bins = if format == PixelFormat::F32 {
            65536
        } else {
            1u32 << bits
        };
        let bins = bins.unwrap_or(max_bins);
        if !bins.is_power_of_two() || bins < 2 || bins > max_bins {
            return Err(Error::InvalidParams(format!(
                "bins {bins} must be a power of two from 2 to {max_bins} for {format}{}",
                if format == PixelFormat::F32 {
                    String::new()
                } else {
                    format!(" with {bits} bits")
                }
            )));
        }
        Ok(Binning { format, bits, bins })
    }

    /// Right shift from domain value to bin (integer formats).
    pub fn shift(&self) -> u32 {
        if self.format == PixelFormat::F32 {
            0
        } else {
            self.bits - self.bins.trailing_zeros()
        }
    }

    /// Largest domain value, `2^bits − 1` (integer formats).
    pub fn vmax(&self) -> u32 {
        if self.format == PixelFormat::F32 {
            0
        } else {
            (1u32 << self.bits) - 1
        }
    }

    /// Per-invocation bin count of the 256-invocation scan shaders.
    pub(crate) fn per_invocation(&self) -> u32 {
        (self.bins / 256).max(1)
    }

    pub(crate) fn shader(&self) -> ShaderBinning {
        ShaderBinning {
            format: self.format.shader_code(),
            shift: self.shift(),
            vmax: self.vmax(),
            bins: self.bins,
        }
    }

    /// Unsigned domain value of an integer sample (i16 as offset binary).
    pub fn domain_value(&self, pixels: &Pixels, i: usize) -> u32 {
        match pixels {
            Pixels::U8(v) => u32::from(v[i]),
            Pixels::U16(v) => u32::from(v[i]),
            Pixels::I16(v) => u32::from(v[i] as u16 ^ 0x8000),
            Pixels::F32(v) => v[i].to_bits(),
        }
    }

    /// Bin of integer domain value `value`.
    pub fn int_bin(&self, value: u32) -> u32 {
        value.min(self.vmax()) >> self.shift()
    }

    /// Bin of sample `i` of `pixels` (the shaders' `sample_bin`); `None` for NaN. `range` is the
    /// image's finite range (f32 only, see [`reference_range`]).
    pub fn bin_of(&self, pixels: &Pixels, i: usize, range: Option<(f32, f32)>) -> Option<u32> {
        match pixels {
            Pixels::F32(v) => {
                let x = v[i];
                if x.is_nan() {
                    return None;
                }
                Some(f32_bin(x, range_halves(range, self.bins), self.bins))
            }
            _ => Some(self.int_bin(self.domain_value(pixels, i))),
        }
    }

    /// Lowest domain value of bin `bin` (integer formats).
    pub fn bin_value(&self, bin: u32) -> u32 {
        bin << self.shift()
    }
}

crate::wgsl_struct! {
    /// The binning block at the head of several shader parameter blocks (`Binning` in
    /// `shaders/common/histogram.wgsl`).
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub(crate) struct ShaderBinning = HISTOGRAM_BINNING {
        pub format: u32,
        pub shift: u32,
        pub vmax: u32,
        pub bins: u32,
    }
}

/// `(lo/2, (hi/2 − lo/2) / bins)` as the shaders derive it from the range buffer.
fn range_halves(range: Option<(f32, f32)>, bins: u32) -> (f32, f32) {
    match range {
        None => (0.0, 0.0),
        Some((lo, hi)) => {
            let lo = lo * 0.5;
            let hi = hi * 0.5;
            (lo, (hi - lo) * (1.0 / bins as f32))
        }
    }
}

/// The largest j in [0, bins) with `j · unit ≤ x/2 − lo/2` (the shaders' `f32_bin`).
fn f32_bin(x: f32, (lo_half, unit): (f32, f32), bins: u32) -> u32 {
    if x.is_infinite() {
        return if x < 0.0 { 0 } else { bins - 1 };
    }
    let t = x * 0.5 - lo_half;
    if !(unit > 0.0 && t > 0.0) {
        return 0;
    }
    let mut j = (t / unit).floor().clamp(0.0, (bins - 1) as f32) as u32;
    while j > 0 && j as f32 * unit > t {
        j -= 1;
    }
    while j + 1 < bins && (j + 1) as f32 * unit <= t {
        j += 1;
    }
    j
}

/// A rectangle of pixels: columns `x..x + width`, rows `y..y + height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rect {
    /// First column.
    pub x: u32,
    /// First row.
    pub y: u32,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Rect {
    /// Checks that the rectangle is non-empty and inside a `width`×`height` image.
    pub fn validate(&self, width: u32, height: u32) -> Result<()> {
        let fits = self.width > 0
            && self.height > 0
            && u64::from(self.x) + u64::from(self.width) <= u64::from(width)
            && u64::from(self.y) + u64::from(self.height) <= u64::from(height);
        if fits {
            Ok(())
        } else {
            Err(Error::InvalidParams(format!(
                "region {}x{}+{}+{} is empty or outside the {width}x{height} image",
                self.width, self.height, self.x, self.y
            )))
        }
    }
}

/// Which pixels a histogram counts: all, a rectangle, pixels under a non-zero u8 mask, or both.
#[derive(Debug, Clone, Copy, Default)]
pub struct Region<'a> {
    /// Only pixels inside this rectangle.
    pub rect: Option<Rect>,
    /// Only pixels whose mask sample is non-zero; a u8 image of the same size.
    pub mask: Option<&'a GpuImage>,
}

impl Region<'_> {
    /// Every pixel.
    pub const ALL: Region<'static> = Region {
        rect: None,
        mask: None,
    };
}

/// 32-bit words on the GPU — a histogram, CDF or LUT — `len` per row, `rows` rows (one per tile).
///
/// Carried in a one-word-per-pixel [`GpuImage`] (format `F32` is only the container: the words are
/// whatever the stage wrote) so pooling, test poisoning and the counted download path apply to it.
#[derive(Debug, Clone)]
pub struct GpuTable {
    image: GpuImage,
}

impl GpuTable {
    /// A pooled, uninitialised table kept alive by `rec`.
    pub fn alloc(rec: &mut Recorder<'_>, len: u32, rows: u32) -> Result<GpuTable> {
        let image = rec.alloc_image(len, rows, PixelFormat::F32, Default::default())?;
        Ok(GpuTable { image })
    }

    /// Uploads `words` as a table of rows of `len` (one counted upload).
    pub fn upload(engine: &Engine, words: &[u32], len: u32) -> Result<GpuTable> {
        if len == 0 || words.is_empty() || !words.len().is_multiple_of(len as usize) {
            return Err(Error::InvalidParams(format!(
                "table of {} words is not whole rows of {len}",
                words.len()
            )));
        }
        let rows = u32::try_from(words.len() / len as usize)
            .map_err(|_| Error::InvalidParams("table too large".into()))?;
        let host = HostImage::new(
            len,
            rows,
            Pixels::F32(words.iter().map(|&w| f32::from_bits(w)).collect()),
        )?;
        Ok(GpuTable {
            image: engine.upload(&host)?,
        })
    }

    /// Entries per row.
    pub fn len(&self) -> u32 {
        self.image.width
    }

    /// True when the table has no entries (never, for a table made here).
    pub fn is_empty(&self) -> bool {
        self.image.width == 0
    }

    /// Rows.
    pub fn rows(&self) -> u32 {
        self.image.height
    }

    /// The binding of the table's buffer.
    pub fn bind(&self) -> Bind<'_> {
        Bind::Image(&self.image)
    }

    /// The underlying storage buffer, for encoder commands (clears, copies).
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.image.buffer.buffer()
    }

    /// Records a zero fill of the whole table.
    pub fn record_clear(&self, rec: &mut Recorder<'_>) {
        let buffer = self.image.buffer.clone();
        rec.encoder().clear_buffer(buffer.buffer(), 0, None);
        rec.keep(buffer);
    }

    /// Records a copy for reading back after the submission (one counted readback on `wait`).
    pub fn download(&self, rec: &mut Recorder<'_>) -> Result<TableDownload> {
        Ok(TableDownload(rec.download(&self.image)?))
    }
}

/// A table copy recorded for reading back.
#[derive(Debug)]
pub struct TableDownload(Download);

impl TableDownload {
    /// Waits for the submission and returns the words, row after row.
    pub fn wait(self) -> Result<Vec<u32>> {
        let image = self.0.wait()?;
        match image.pixels {
            Pixels::F32(v) => Ok(v.into_iter().map(f32::to_bits).collect()),
            other => Err(Error::Gpu(format!(
                "table download came back as {}",
                other.format()
            ))),
        }
    }
}

/// A histogram on the GPU with what is needed to apply a LUT built from it.
#[derive(Debug, Clone)]
pub struct GpuHistogram {
    /// Counts, `binning.bins` per row (one row, or one per tile).
    pub counts: GpuTable,
    /// The binning used.
    pub binning: Binning,
    /// f32 images: `[~key(min), key(max)]` of the finite samples (see `histogram_range.wgsl`).
    pub range: Option<GpuTable>,
}

mod count;
mod lut;
mod reference;

pub use count::*;
pub use lut::*;
pub use reference::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_blocks_match_the_shaders() {
        assert_eq!(std::mem::size_of::<CountParams>(), 64);
        assert_eq!(std::mem::size_of::<ScanParams>(), 32);
        assert_eq!(std::mem::size_of::<ApplyParams>(), 32);
        assert_eq!(std::mem::size_of::<RangeParams>(), 16);
    }

    #[test]
    fn binning_defaults_and_limits() {
        let b = Binning::new(PixelFormat::U16, Some(12), None).expect("12-bit");
        assert_eq!((b.bins, b.shift(), b.vmax()), (4096, 0, 4095));
        assert_eq!(b.int_bin(5000), 4095);
        let b = Binning::new(PixelFormat::U16, None, Some(256)).expect("256 bins");
        assert_eq!((b.shift(), b.int_bin(65535), b.bin_value(3)), (8, 255, 768));
        assert!(Binning::new(PixelFormat::U8, None, Some(512)).is_err());
        assert!(Binning::new(PixelFormat::U8, None, Some(100)).is_err());
        assert!(Binning::new(PixelFormat::U8, Some(9), None).is_err());
        assert!(Binning::new(PixelFormat::I16, Some(12), None).is_err());
        let i = Binning::new(PixelFormat::I16, None, None).expect("i16");
        assert_eq!(
            i.bin_of(&Pixels::I16(vec![-32768, 0, 32767]), 2, None),
            Some(65535)
        );
        assert_eq!(
            i.bin_of(&Pixels::I16(vec![-32768, 0, 32767]), 0, None),
            Some(0)
        );
    }

    #[test]
    fn f32_bins_cover_the_range() {
        let bins = 16;
        let halves = range_halves(Some((-3.0, 5.0)), bins);
        assert_eq!(f32_bin(-3.0, halves, bins), 0);
        assert_eq!(f32_bin(5.0, halves, bins), 15);
        assert_eq!(f32_bin(f32::INFINITY, halves, bins), 15);
        assert_eq!(f32_bin(f32::NEG_INFINITY, halves, bins), 0);
        assert_eq!(f32_bin(-2.5, halves, bins), 1); // (−2.5 + 3) / 0.5 = 1 exactly
        assert_eq!(
            f32_bin(f32::MAX, range_halves(Some((-f32::MAX, f32::MAX)), 4), 4),
            3
        );
    }

    #[test]
    fn percentiles_parse() {
        assert_eq!(parse_percentiles("1,99"), Ok((1.0, 99.0)));
        assert_eq!(parse_percentiles(" 0.5 , 99.5"), Ok((0.5, 99.5)));
        for bad in ["", "1", "99,1", "1,101", "-1,50", "a,b", "NaN,5", "5,5"] {
            assert!(parse_percentiles(bad).is_err(), "{bad}");
        }
    }
}
