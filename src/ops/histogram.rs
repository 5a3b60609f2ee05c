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

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct CountParams = HISTOGRAM_COUNT_PARAMS {
        binning: ShaderBinning,
        width: u32,
        height: u32,
        region_w: u32,
        region_h: u32,
        regions_x: u32,
        origin_x: u32,
        origin_y: u32,
        use_mask: u32,
        copies: u32,
        _pad: [u32; 3],
    }
}

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct RangeParams = HISTOGRAM_RANGE_PARAMS {
        count: u32,
        _pad: [u32; 3],
    }
}

/// Where and how a count dispatch reads pixels (see `shaders/histogram_count.wgsl`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountLayout {
    pub region_w: u32,
    pub region_h: u32,
    pub regions_x: u32,
    pub regions_y: u32,
    pub origin_x: u32,
    pub origin_y: u32,
}

/// Pixels a workgroup of the shared-memory kernels counts before flushing (amortises clear + flush).
const PIXELS_PER_SHARED_GROUP: u64 = 256 * 32;
/// Pixels per workgroup of the global-atomics kernel.
const PIXELS_PER_GLOBAL_GROUP: u64 = 256 * 4;
/// Private histogram copies for a large single-region global-atomics count (see
/// `shaders/histogram_count.wgsl`), and the region size from which they pay for their clear + merge.
const GLOBAL_COPIES: u32 = 4;
const COPIES_FROM_PIXELS: u64 = 1 << 20;

fn check_binning(input: &GpuImage, binning: &Binning) -> Result<()> {
    if input.format != binning.format {
        return Err(Error::InvalidParams(format!(
            "binning for {} samples used on a {} image",
            binning.format, input.format
        )));
    }
    Ok(())
}

/// Records the range pass of an f32 image (min and max of the finite samples).
pub fn encode_range(rec: &mut Recorder<'_>, input: &GpuImage) -> Result<GpuTable> {
    if input.format != PixelFormat::F32 {
        return Err(Error::InvalidParams(format!(
            "value range pass is for f32 images, not {}",
            input.format
        )));
    }
    let range = GpuTable::alloc(rec, 2, 1)?;
    range.record_clear(rec);
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::HISTOGRAM_RANGE_MAIN)?;
    let count = u32::try_from(input.pixel_count())
        .map_err(|_| Error::InvalidImage("image has over 2^32 pixels".into()))?;
    let uniform = rec.uniform(
        &RangeParams {
            count,
            _pad: [0; 3],
        },
        "histogram_range params",
    )?;
    let groups = (u64::from(count).div_ceil(PIXELS_PER_SHARED_GROUP)).clamp(1, 4096) as u32;
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(input)),
            (2, range.bind()),
        ],
        [groups, 1, 1],
    )?;
    Ok(range)
}

/// True when the count can take the aligned path of `histogram_count.wgsl` (whole words, no border
/// folding): integer samples, no mask, and every region starts and ends on a word boundary inside the
/// image.
fn aligned(input: &GpuImage, binning: &Binning, layout: &CountLayout, masked: bool) -> bool {
    let per_word = input.format.pixels_per_word() as u32;
    let right =
        u64::from(layout.origin_x) + u64::from(layout.regions_x) * u64::from(layout.region_w);
    let bottom =
        u64::from(layout.origin_y) + u64::from(layout.regions_y) * u64::from(layout.region_h);
    !masked
        && binning.format != PixelFormat::F32
        && input.width.is_multiple_of(per_word)
        && layout.origin_x.is_multiple_of(per_word)
        && layout.region_w.is_multiple_of(per_word)
        && right <= u64::from(input.width)
        && bottom <= u64::from(input.height)
}

/// Records a count into a fresh, zeroed table of `regions_x · regions_y` rows.
pub(crate) fn encode_count(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    binning: &Binning,
    range: Option<&GpuTable>,
    layout: CountLayout,
    mask: Option<&GpuImage>,
) -> Result<GpuTable> {
    check_binning(input, binning)?;
    if let Some(m) = mask
        && (m.format != PixelFormat::U8 || m.width != input.width || m.height != input.height)
    {
        return Err(Error::InvalidParams(format!(
            "mask must be a u8 image of the input's size {}x{}, got {} {}x{}",
            input.width, input.height, m.format, m.width, m.height
        )));
    }
    let regions = layout.regions_x * layout.regions_y;
    // A workgroup-local histogram of 256 or 4096 counters when the bins fit, else global atomics.
    let local_bins = match binning.bins {
        0..=256 => Some(256.0),
        257..=4096 => Some(4096.0),
        _ => None,
    };
    let per_group = if local_bins.is_some() {
        PIXELS_PER_SHARED_GROUP
    } else {
        PIXELS_PER_GLOBAL_GROUP
    };
    let region_pixels = u64::from(layout.region_w) * u64::from(layout.region_h);
    let copies = if local_bins.is_none() && regions == 1 && region_pixels >= COPIES_FROM_PIXELS {
        GLOBAL_COPIES
    } else {
        1
    };
    let format = ("IN_FORMAT", f64::from(binning.format.shader_code()));
    let shaders = rec.engine().shaders();
    let aligned = aligned(input, binning, &layout, mask.is_some());
    let kernel = match (local_bins, aligned) {
        (Some(n), true) => shaders.specialized(
            kernels::HISTOGRAM_COUNT_ALIGNED_LOCAL,
            &[("LOCAL_BINS", n), format],
        )?,
        (Some(n), false) => {
            shaders.specialized(kernels::HISTOGRAM_COUNT_COUNT_LOCAL, &[("LOCAL_BINS", n)])?
        }
        (None, true) => shaders.specialized(kernels::HISTOGRAM_COUNT_ALIGNED_GLOBAL, &[format])?,
        (None, false) => shaders.kernel(kernels::HISTOGRAM_COUNT_COUNT_GLOBAL)?,
    };
    let params = CountParams {
        binning: binning.shader(),
        width: input.width,
        height: input.height,
        region_w: layout.region_w,
        region_h: layout.region_h,
        regions_x: layout.regions_x,
        origin_x: layout.origin_x,
        origin_y: layout.origin_y,
        use_mask: u32::from(mask.is_some()),
        copies,
        _pad: [0; 3],
    };
    let uniform = rec.uniform(&params, "histogram_count params")?;
    // Enough workgroups to fill a GPU, never more than one per `per_group` pixels of a region.
    let target_groups = (4096 / u64::from(regions)).max(1);
    let chunks = region_pixels.div_ceil(per_group).clamp(1, target_groups) as u32;
    let counts = GpuTable::alloc(rec, binning.bins, regions)?;
    let target = if copies > 1 {
        GpuTable::alloc(rec, binning.bins, copies)?
    } else {
        counts.clone()
    };
    target.record_clear(rec);
    let mut binds = vec![
        (0, Bind::Pooled(&uniform)),
        (1, Bind::Image(input)),
        (4, target.bind()),
    ];
    if !aligned {
        // The general walkers test the mask and range words at run time (`use_mask`, f32 input);
        // without them the input stands in, never read.
        binds.push((2, Bind::Image(mask.unwrap_or(input))));
        binds.push((
            3,
            match range {
                Some(r) => r.bind(),
                None => Bind::Image(input),
            },
        ));
    }
    rec.dispatch(&kernel, &binds, [chunks, regions, 1])?;
    if copies > 1 {
        let merge = rec
            .engine()
            .shaders()
            .kernel(kernels::HISTOGRAM_COUNT_MERGE_COPIES)?;
        let groups = rec.groups_1d(&merge, u64::from(binning.bins));
        rec.dispatch(
            &merge,
            &[
                (0, Bind::Pooled(&uniform)),
                (1, target.bind()),
                (4, counts.bind()),
            ],
            groups,
        )?;
    }
    Ok(counts)
}

/// Records the histogram of `input`'s pixels inside `region` (f32 images: preceded by the range pass).
pub fn encode_histogram(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    binning: &Binning,
    region: &Region<'_>,
) -> Result<GpuHistogram> {
    check_binning(input, binning)?;
    let rect = region.rect.unwrap_or(Rect {
        x: 0,
        y: 0,
        width: input.width,
        height: input.height,
    });
    rect.validate(input.width, input.height)?;
    let range = if binning.format == PixelFormat::F32 {
        Some(encode_range(rec, input)?)
    } else {
        None
    };
    let layout = CountLayout {
        region_w: rect.width,
        region_h: rect.height,
        regions_x: 1,
        regions_y: 1,
        origin_x: rect.x,
        origin_y: rect.y,
    };
    let counts = encode_count(rec, input, binning, range.as_ref(), layout, region.mask)?;
    Ok(GpuHistogram {
        counts,
        binning: *binning,
        range,
    })
}

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub(crate) struct ScanParams = HISTOGRAM_SCAN_PARAMS {
        pub bins: u32,
        pub per: u32,
        pub out_max: u32,
        pub out_float: u32,
        pub shift: u32,
        pub _pad: [u32; 3],
    }
}

/// Records the inclusive prefix sums (unnormalised CDF) of every row of `counts`.
pub fn encode_cdf(rec: &mut Recorder<'_>, counts: &GpuTable) -> Result<GpuTable> {
    let bins = counts.len();
    let cdf = GpuTable::alloc(rec, bins, counts.rows())?;
    let kernel = rec.engine().shaders().kernel(kernels::HISTOGRAM_SCAN_CDF)?;
    let uniform = rec.uniform(
        &ScanParams {
            bins,
            per: (bins / 256).max(1),
            out_max: 0,
            out_float: 0,
            shift: 0,
            _pad: [0; 3],
        },
        "histogram_scan params",
    )?;
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, counts.bind()),
            (2, cdf.bind()),
        ],
        [counts.rows(), 1, 1],
    )?;
    Ok(cdf)
}

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct ApplyParams = LUT_APPLY_PARAMS {
        binning: ShaderBinning,
        count: u32,
        out_max: u32,
        _p0: u32,
        _p1: u32,
    }
}

/// How a LUT's entries become output samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LutOutput {
    /// `U8` or `U16` (entries are values) or `F32` (entries are f32 bits).
    pub format: PixelFormat,
    /// Integer output: write `max − v` (MONOCHROME1 display).
    pub invert: bool,
    /// Integer output: largest value (the inversion pivot).
    pub max: u32,
}

/// Records `out[p] = lut[bin(input[p])]` with the histogram's binning.
pub fn encode_apply_lut(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    hist: &GpuHistogram,
    lut: &GpuTable,
    output: &LutOutput,
) -> Result<GpuImage> {
    check_binning(input, &hist.binning)?;
    if lut.len() != hist.binning.bins {
        return Err(Error::InvalidParams(format!(
            "LUT of {} entries for {} bins",
            lut.len(),
            hist.binning.bins
        )));
    }
    if output.format.pixels_per_word() != input.format.pixels_per_word() {
        return Err(Error::InvalidParams(format!(
            "LUT output {} must pack like the {} input (the shader maps word i to word i)",
            output.format, input.format
        )));
    }
    if output.format == PixelFormat::I16 || (output.format == PixelFormat::F32 && output.invert) {
        return Err(Error::InvalidParams(format!(
            "LUT output {} (invert {}) not supported",
            output.format, output.invert
        )));
    }
    let count = u32::try_from(input.pixel_count())
        .map_err(|_| Error::InvalidImage("image has over 2^32 pixels".into()))?;
    let out = rec.alloc_image(
        input.width,
        input.height,
        output.format,
        input.geometry.clone(),
    )?;
    let params = ApplyParams {
        binning: hist.binning.shader(),
        count,
        out_max: output.max,
        _p0: 0,
        _p1: 0,
    };
    let kernel = rec.engine().shaders().specialized(
        kernels::LUT_APPLY_MAIN,
        &[
            ("IN_FORMAT", f64::from(params.binning.format)),
            ("OUT_FORMAT", f64::from(output.format.shader_code())),
            ("INVERT", f64::from(u32::from(output.invert))),
        ],
    )?;
    let uniform = rec.uniform(&params, "lut_apply params")?;
    let words = output.format.gpu_bytes(input.pixel_count()) / 4;
    let groups = rec.groups_1d(&kernel, words);
    let range_bind = match &hist.range {
        Some(r) => r.bind(),
        None => Bind::Image(input),
    };
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(input)),
            (2, range_bind),
            (3, lut.bind()),
            (4, Bind::Image(&out)),
        ],
        groups,
    )?;
    Ok(out)
}

/// Uploads `image`, counts its histogram and reads it back: one upload, one submission, one readback.
pub fn histogram_image(
    engine: &Engine,
    image: &HostImage,
    binning: &Binning,
    rect: Option<Rect>,
) -> Result<Vec<u32>> {
    let input = engine.upload(image)?;
    let mut rec = Recorder::new(engine);
    let hist = encode_histogram(&mut rec, &input, binning, &Region { rect, mask: None })?;
    let download = hist.counts.download(&mut rec)?;
    rec.submit()?;
    download.wait()
}

// ---------------------------------------------------------------------------------------------------
// CPU reference

/// Smallest and largest finite sample of an f32 image (`None` for other formats or when no sample is
/// finite) — what `histogram_range.wgsl` finds.
pub fn reference_range(image: &HostImage) -> Option<(f32, f32)> {
    let Pixels::F32(v) = &image.pixels else {
        return None;
    };
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    let mut any = false;
    for &x in v.iter().filter(|x| x.is_finite()) {
        any = true;
        // Order of keys: -0 sorts below +0, as on the GPU.
        if x < lo || (x == lo && x.is_sign_negative()) {
            lo = x;
        }
        if x > hi || (x == hi && x.is_sign_positive()) {
            hi = x;
        }
    }
    Some(if any { (lo, hi) } else { (0.0, 0.0) })
}

/// Checks a CPU mask: u8, same size as `image`.
fn check_host_mask(image: &HostImage, mask: Option<&HostImage>) -> Result<()> {
    if let Some(m) = mask
        && (m.format() != PixelFormat::U8 || m.width != image.width || m.height != image.height)
    {
        return Err(Error::InvalidParams(format!(
            "mask must be a u8 image of the input's size {}x{}",
            image.width, image.height
        )));
    }
    Ok(())
}

/// The histogram of `image`'s pixels inside `rect` and under a non-zero `mask`, on the CPU.
pub fn reference_histogram(
    image: &HostImage,
    binning: &Binning,
    rect: Option<Rect>,
    mask: Option<&HostImage>,
) -> Result<Vec<u32>> {
    if image.format() != binning.format {
        return Err(Error::InvalidParams("binning format mismatch".into()));
    }
    check_host_mask(image, mask)?;
    let rect = rect.unwrap_or(Rect {
        x: 0,
        y: 0,
        width: image.width,
        height: image.height,
    });
    rect.validate(image.width, image.height)?;
    let range = reference_range(image);
    let mut hist = vec![0u32; binning.bins as usize];
    for y in rect.y..rect.y + rect.height {
        for x in rect.x..rect.x + rect.width {
            let i = (y * image.width + x) as usize;
            if let Some(Pixels::U8(m)) = mask.map(|m| &m.pixels)
                && m[i] == 0
            {
                continue;
            }
            if let Some(bin) = binning.bin_of(&image.pixels, i, range) {
                hist[bin as usize] += 1;
            }
        }
    }
    Ok(hist)
}

/// Inclusive prefix sums.
pub fn reference_cdf(hist: &[u32]) -> Vec<u32> {
    let mut sum = 0u32;
    hist.iter()
        .map(|&h| {
            sum = sum.wrapping_add(h);
            sum
        })
        .collect()
}

/// `lut[bin(sample)]` for every pixel, as `lut_apply.wgsl` does.
pub fn reference_apply_lut(
    image: &HostImage,
    binning: &Binning,
    lut: &[u32],
    output: &LutOutput,
) -> Result<HostImage> {
    let range = reference_range(image);
    let n = image.pixel_count();
    let value = |i: usize| -> Option<u32> {
        binning.bin_of(&image.pixels, i, range).map(|b| {
            let v = lut[b as usize];
            if output.invert {
                output.max - v.min(output.max)
            } else {
                v
            }
        })
    };
    let pixels = match output.format {
        PixelFormat::U8 => Pixels::U8((0..n).map(|i| value(i).unwrap_or(0) as u8).collect()),
        PixelFormat::U16 => Pixels::U16((0..n).map(|i| value(i).unwrap_or(0) as u16).collect()),
        PixelFormat::F32 => Pixels::F32(
            (0..n)
                .map(|i| value(i).map(f32::from_bits).unwrap_or(f32::NAN))
                .collect(),
        ),
        PixelFormat::I16 => {
            return Err(Error::InvalidParams("LUT output i16 not supported".into()));
        }
    };
    Ok(HostImage::new(image.width, image.height, pixels)?.with_geometry(image.geometry.clone()))
}

/// Parses `LOW,HIGH` (percent, `0 ≤ LOW < HIGH ≤ 100`).
pub fn parse_percentiles(text: &str) -> std::result::Result<(f64, f64), String> {
    let (a, b) = text
        .split_once(',')
        .ok_or_else(|| format!("'{text}': expected LOW,HIGH in percent, e.g. 1,99"))?;
    let low: f64 = a
        .trim()
        .parse()
        .map_err(|_| format!("'{a}' is not a number"))?;
    let high: f64 = b
        .trim()
        .parse()
        .map_err(|_| format!("'{b}' is not a number"))?;
    if !(low.is_finite() && high.is_finite() && (0.0..=100.0).contains(&low) && low < high)
        || high > 100.0
    {
        return Err(format!(
            "percentiles {low},{high} must satisfy 0 <= LOW < HIGH <= 100"
        ));
    }
    Ok((low, high))
}

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
