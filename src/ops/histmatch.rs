//! Histogram matching (specification) on the GPU: remap an image so its histogram follows a
//! reference — another image, or a histogram given as numbers (how stitching matches neighbouring
//! stations using only the pixels of their overlap).
//!
//! Definition: with `cdf` the inclusive prefix sums and `T` the pixel counts,
//! `LUT[i]` = the smallest reference bin `j` minimising `|cdf_img[i]/T_img − cdf_ref[j]/T_ref|`, and the
//! output sample is the lowest value of bin `j`. The comparison is made exactly, in integers
//! (`|cdf_img[i]·T_ref − cdf_ref[j]·T_img|`, 64-bit), on the GPU and in the CPU reference alike, so the
//! two agree exactly. Bins: one per value (256 for 8-bit, 65536 for 16-bit, `2^bits` with `bits`).
//!
//! Both histograms may be restricted to a rectangle and/or a u8 mask ([`Region`]); the LUT is applied
//! to the whole image. A reference given as counts must sum to at most 2^32 − 1; one given as weights
//! (any non-negative numbers) is turned into a CDF quantised to 2^−31 of its total.
//! Stages: count (×2) → scan (×2) → match → apply, one submission, nothing read back in between.

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{HostImage, PixelFormat};
use crate::ops::equalize::output_format;
use crate::ops::histogram::{
    Binning, GpuTable, LutOutput, Rect, Region, encode_apply_lut, encode_cdf, encode_histogram,
    reference_apply_lut, reference_cdf, reference_histogram,
};
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Error, Result};

/// Total a weights reference is scaled to.
pub const WEIGHTS_TOTAL: u32 = 1 << 31;

/// Binning parameters of a match (defaults: one bin per value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchParams {
    /// Significant bits of integer samples (default 8 or 16 by format).
    pub bits: Option<u32>,
    /// Bins of the image histogram (power of two; default `2^bits`).
    pub bins: Option<u32>,
}

impl MatchParams {
    /// The image binning for `format`.
    pub fn binning(&self, format: PixelFormat) -> Result<Binning> {
        if format == PixelFormat::F32 {
            return Err(Error::InvalidParams(
                "histogram matching works on 8- and 16-bit integer images, not f32".into(),
            ));
        }
        Binning::new(format, self.bits, self.bins)
    }
}

/// What to match a GPU image to.
#[derive(Debug, Clone, Copy)]
pub enum MatchReference<'a> {
    /// Another image of the same sample format, counted inside `region`.
    Image {
        /// The reference image.
        image: &'a GpuImage,
        /// Which of its pixels count.
        region: Region<'a>,
    },
    /// Pixel counts per bin (a power of two of them, at most `2^bits`).
    Counts(&'a [u32]),
    /// Non-negative weights per bin (a power of two of them, at most `2^bits`).
    Weights(&'a [f64]),
}

/// What to match a host image to (CPU reference).
#[derive(Debug, Clone, Copy)]
pub enum HostMatchReference<'a> {
    /// Another image of the same sample format, with an optional rectangle and u8 mask.
    Image {
        /// The reference image.
        image: &'a HostImage,
        /// Only pixels inside this rectangle.
        rect: Option<Rect>,
        /// Only pixels under a non-zero mask sample.
        mask: Option<&'a HostImage>,
    },
    /// Pixel counts per bin.
    Counts(&'a [u32]),
    /// Non-negative weights per bin.
    Weights(&'a [f64]),
}

fn check_ref_bins(len: usize, binning: &Binning) -> Result<u32> {
    let max = 1usize << binning.bits;
    if !(len.is_power_of_two() && (2..=max).contains(&len)) {
        return Err(Error::InvalidParams(format!(
            "reference histogram of {len} bins: must be a power of two from 2 to {max}"
        )));
    }
    Ok(binning.bits - len.trailing_zeros())
}

/// The CDF of a reference given as counts (checked: some pixels, total below 2^32).
pub fn counts_cdf(counts: &[u32]) -> Result<Vec<u32>> {
    let mut sum = 0u64;
    let mut cdf = Vec::with_capacity(counts.len());
    for &c in counts {
        sum += u64::from(c);
        cdf.push(u32::try_from(sum).map_err(|_| {
            Error::InvalidParams("reference histogram counts sum to 2^32 or more".into())
        })?);
    }
    if sum == 0 {
        return Err(Error::InvalidParams("reference histogram is empty".into()));
    }
    Ok(cdf)
}

/// The CDF of a reference given as weights, quantised to [`WEIGHTS_TOTAL`].
pub fn weights_cdf(weights: &[f64]) -> Result<Vec<u32>> {
    if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(Error::InvalidParams(format!(
            "reference histogram weight {w} is not a finite number >= 0"
        )));
    }
    let total: f64 = weights.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(Error::InvalidParams(format!(
            "reference histogram weights sum to {total}; need a positive finite total"
        )));
    }
    let scale = f64::from(WEIGHTS_TOTAL);
    let mut cum = 0.0f64;
    let mut cdf: Vec<u32> = weights
        .iter()
        .map(|&w| {
            cum += w;
            ((cum / total).min(1.0) * scale).round() as u32
        })
        .collect();
    if let Some(last) = cdf.last_mut() {
        *last = WEIGHTS_TOTAL;
    }
    Ok(cdf)
}

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct MatchShaderParams = HISTOGRAM_MATCH_PARAMS {
        bins: u32,
        ref_bins: u32,
        ref_shift: u32,
        _pad: u32,
    }
}

/// Records the matching LUT from the two CDFs (`lut[i] = j << ref_shift`).
pub fn encode_match_lut(
    rec: &mut Recorder<'_>,
    cdf_img: &GpuTable,
    cdf_ref: &GpuTable,
    ref_shift: u32,
) -> Result<GpuTable> {
    let bins = cdf_img.len();
    let lut = GpuTable::alloc(rec, bins, 1)?;
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::HISTOGRAM_MATCH_MAIN)?;
    let uniform = rec.uniform(
        &MatchShaderParams {
            bins,
            ref_bins: cdf_ref.len(),
            ref_shift,
            _pad: 0,
        },
        "histogram_match params",
    )?;
    let groups = rec.groups_1d(&kernel, u64::from(bins));
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, cdf_img.bind()),
            (2, cdf_ref.bind()),
            (3, lut.bind()),
        ],
        groups,
    )?;
    Ok(lut)
}

/// Records matching `input` (its histogram counted inside `region`) to `reference`.
pub fn encode(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    region: &Region<'_>,
    reference: &MatchReference<'_>,
    params: &MatchParams,
) -> Result<GpuImage> {
    let binning = params.binning(input.format)?;
    let hist = encode_histogram(rec, input, &binning, region)?;
    let cdf_img = encode_cdf(rec, &hist.counts)?;
    let (cdf_ref, ref_shift) = match reference {
        MatchReference::Image { image, region } => {
            if image.format != input.format {
                return Err(Error::InvalidParams(format!(
                    "reference image is {}, the image is {}: match images of the same sample format",
                    image.format, input.format
                )));
            }
            let ref_hist = encode_histogram(rec, image, &binning, region)?;
            (encode_cdf(rec, &ref_hist.counts)?, binning.shift())
        }
        MatchReference::Counts(counts) => {
            let shift = check_ref_bins(counts.len(), &binning)?;
            let cdf = counts_cdf(counts)?;
            (
                GpuTable::upload(rec.engine(), &cdf, cdf.len() as u32)?,
                shift,
            )
        }
        MatchReference::Weights(weights) => {
            let shift = check_ref_bins(weights.len(), &binning)?;
            let cdf = weights_cdf(weights)?;
            (
                GpuTable::upload(rec.engine(), &cdf, cdf.len() as u32)?,
                shift,
            )
        }
    };
    let lut = encode_match_lut(rec, &cdf_img, &cdf_ref, ref_shift)?;
    let output = LutOutput {
        format: output_format(input.format),
        invert: false,
        max: binning.vmax(),
    };
    encode_apply_lut(rec, input, &hist, &lut, &output)
}

/// Uploads `image` (and a reference image), matches and reads the result back: one submission, one
/// readback.
pub fn match_image(
    engine: &Engine,
    image: &HostImage,
    rect: Option<Rect>,
    reference: &HostMatchReference<'_>,
    params: &MatchParams,
) -> Result<HostImage> {
    let input = engine.upload(image)?;
    let uploaded;
    let ref_mask;
    let gpu_reference = match reference {
        HostMatchReference::Image { image, rect, mask } => {
            uploaded = engine.upload(image)?;
            ref_mask = mask.map(|m| engine.upload(m)).transpose()?;
            MatchReference::Image {
                image: &uploaded,
                region: Region {
                    rect: *rect,
                    mask: ref_mask.as_ref(),
                },
            }
        }
        HostMatchReference::Counts(c) => MatchReference::Counts(c),
        HostMatchReference::Weights(w) => MatchReference::Weights(w),
    };
    let mut rec = Recorder::new(engine);
    let output = encode(
        &mut rec,
        &input,
        &Region { rect, mask: None },
        &gpu_reference,
        params,
    )?;
    let download = rec.download(&output)?;
    rec.submit()?;
    download.wait()
}

// ---------------------------------------------------------------------------------------------------
// CPU reference

fn distance(cdf_img: u32, t_ref: u32, cdf_ref: u32, t_img: u32) -> u64 {
    let a = u64::from(cdf_img) * u64::from(t_ref);
    let b = u64::from(cdf_ref) * u64::from(t_img);
    a.abs_diff(b)
}

/// The matching LUT straight from the definition: for each `i`, scan every `j` and keep the first
/// minimum. O(bins · ref_bins); [`reference_lut`] is the fast equivalent.
pub fn reference_lut_literal(cdf_img: &[u32], cdf_ref: &[u32], ref_shift: u32) -> Vec<u32> {
    let (Some(&t_img), Some(&t_ref)) = (cdf_img.last(), cdf_ref.last()) else {
        return vec![0; cdf_img.len()];
    };
    cdf_img
        .iter()
        .map(|&c| {
            let mut best = 0usize;
            let mut best_d = u64::MAX;
            for (j, &r) in cdf_ref.iter().enumerate() {
                let d = distance(c, t_ref, r, t_img);
                if d < best_d {
                    best_d = d;
                    best = j;
                }
            }
            (best as u32) << ref_shift
        })
        .collect()
}

/// The matching LUT: the same result as [`reference_lut_literal`], found by bisection on the
/// non-decreasing `cdf_ref[j]·T_img` (the first index at or above the target, or the first index of the
/// run just below it when that is at least as close).
pub fn reference_lut(cdf_img: &[u32], cdf_ref: &[u32], ref_shift: u32) -> Vec<u32> {
    let (Some(&t_img), Some(&t_ref)) = (cdf_img.last(), cdf_ref.last()) else {
        return vec![0; cdf_img.len()];
    };
    let scaled = |j: usize| u64::from(cdf_ref[j]) * u64::from(t_img);
    cdf_img
        .iter()
        .map(|&c| {
            let want = u64::from(c) * u64::from(t_ref);
            let lb = cdf_ref.partition_point(|&r| u64::from(r) * u64::from(t_img) < want);
            let mut best = lb;
            if lb > 0 {
                let below = cdf_ref[lb - 1];
                let take_below = lb == cdf_ref.len() || want - scaled(lb - 1) <= scaled(lb) - want;
                if take_below {
                    best = cdf_ref.partition_point(|&r| r < below);
                }
            }
            (best as u32) << ref_shift
        })
        .collect()
}

/// The reference CDF and bin shift on the CPU.
pub fn reference_ref_cdf(
    binning: &Binning,
    image_format: PixelFormat,
    reference: &HostMatchReference<'_>,
) -> Result<(Vec<u32>, u32)> {
    match reference {
        HostMatchReference::Image { image, rect, mask } => {
            if image.format() != image_format {
                return Err(Error::InvalidParams(
                    "reference image has another sample format".into(),
                ));
            }
            let hist = reference_histogram(image, binning, *rect, *mask)?;
            Ok((reference_cdf(&hist), binning.shift()))
        }
        HostMatchReference::Counts(c) => Ok((counts_cdf(c)?, check_ref_bins(c.len(), binning)?)),
        HostMatchReference::Weights(w) => Ok((weights_cdf(w)?, check_ref_bins(w.len(), binning)?)),
    }
}

/// Histogram matching on the CPU.
pub fn reference(
    image: &HostImage,
    rect: Option<Rect>,
    mask: Option<&HostImage>,
    reference: &HostMatchReference<'_>,
    params: &MatchParams,
) -> Result<HostImage> {
    let binning = params.binning(image.format())?;
    let hist = reference_histogram(image, &binning, rect, mask)?;
    let cdf_img = reference_cdf(&hist);
    let (cdf_ref, shift) = reference_ref_cdf(&binning, image.format(), reference)?;
    let lut = reference_lut(&cdf_img, &cdf_ref, shift);
    let output = LutOutput {
        format: output_format(image.format()),
        invert: false,
        max: binning.vmax(),
    };
    reference_apply_lut(image, &binning, &lut, &output)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

    fn random_hist(rng: &mut Lcg, bins: usize, sparse: bool) -> Vec<u32> {
        (0..bins)
            .map(|_| {
                let v = rng.next() % 50;
                if sparse && !rng.next().is_multiple_of(4) {
                    0
                } else {
                    v
                }
            })
            .collect()
    }

    #[test]
    fn fast_lut_equals_the_literal_definition() {
        let mut rng = Lcg(7);
        for case in 0..60 {
            let bins = [4usize, 16, 256][case % 3];
            let ref_bins = [4usize, 256, 16][case % 3];
            let mut a = random_hist(&mut rng, bins, case % 2 == 0);
            let b = random_hist(&mut rng, ref_bins, case % 4 < 2);
            if a.iter().all(|&v| v == 0) {
                a[0] = 1;
            }
            if b.iter().all(|&v| v == 0) {
                continue;
            }
            let (ca, cb) = (reference_cdf(&a), reference_cdf(&b));
            assert_eq!(
                reference_lut(&ca, &cb, 2),
                reference_lut_literal(&ca, &cb, 2),
                "case {case}"
            );
        }
    }

    #[test]
    fn identical_histograms_map_to_themselves_where_occupied() {
        let hist = [0u32, 5, 0, 3, 2, 0, 0, 1];
        let cdf = reference_cdf(&hist);
        let lut = reference_lut(&cdf, &cdf, 0);
        for (i, &h) in hist.iter().enumerate() {
            if h > 0 {
                assert_eq!(lut[i], i as u32);
            }
        }
        // An empty bin maps to the first bin of its CDF plateau.
        assert_eq!(lut[2], 1);
    }

    #[test]
    fn weights_and_counts_are_checked() {
        assert!(counts_cdf(&[0, 0]).is_err());
        assert!(counts_cdf(&[u32::MAX, 1]).is_err());
        assert!(weights_cdf(&[1.0, f64::NAN]).is_err());
        assert!(weights_cdf(&[1.0, -1.0]).is_err());
        assert!(weights_cdf(&[0.0, 0.0]).is_err());
        assert_eq!(
            weights_cdf(&[1.0, 1.0, 2.0, 0.0]).expect("cdf"),
            vec![1 << 29, 1 << 30, 1 << 31, 1 << 31]
        );
    }
}
