//! The scan and apply stages: counts to a CDF, and a per-bin look-up table applied to an image —
//! and `histogram_image`, the one-call count for a host image.

use super::*;

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
    pub(super) struct ApplyParams = LUT_APPLY_PARAMS {
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
