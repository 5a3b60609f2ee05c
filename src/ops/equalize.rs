//! Global histogram equalization on the GPU: count → LUT (scan) → apply, three dispatches in one
//! recording with nothing read back in between.
//!
//! On 8-bit images with 256 bins this is exactly OpenCV's `equalizeHist`: with i0 the first non-empty
//! bin, T the pixel count and d = T − `hist[i0]`, `lut[i0] = 0` and for j > i0
//! `lut[j] = saturate_cast<uchar>(float(hist[i0+1] + … + hist[j]) * (255.f / d))` — f32 arithmetic,
//! rounded half to even (cvRound); an image whose pixels all fall in one bin becomes that bin's value.
//! 16-bit and float images use the same definition over N bins, stretched to the full output range:
//! `2^bits − 1` for integers (i16 as offset binary, written as u16), `[0, 1]` for f32 (`sum · f32(1/d)`,
//! a single-bin f32 image becomes 0). The LUT is built on the GPU with a correctly rounded f32 division
//! (`shaders/histogram_scan.wgsl`), so GPU and CPU reference agree bit for bit.

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{HostImage, PixelFormat};
use crate::ops::histogram::{
    Binning, GpuHistogram, GpuTable, LutOutput, Region, ScanParams, encode_apply_lut,
    encode_histogram, reference_apply_lut, reference_histogram,
};
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Error, Result};

/// Parameters of global equalization.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EqualizeParams {
    /// Significant bits of integer samples (default: 8 or 16 by format; `Some(12)` for 12-bit data in
    /// 16-bit containers: 4096 bins, output 0..=4095).
    pub bits: Option<u32>,
    /// Bins (power of two; default one per value, 65536 for f32).
    pub bins: Option<u32>,
    /// Invert the output (`max − v`), for MONOCHROME1 sources displayed as MONOCHROME2.
    pub invert: bool,
}

impl EqualizeParams {
    /// The binning these parameters give for `format`.
    pub fn binning(&self, format: PixelFormat) -> Result<Binning> {
        let binning = Binning::new(format, self.bits, self.bins)?;
        if self.invert && format == PixelFormat::F32 {
            return Err(Error::InvalidParams(
                "inverting an f32 equalization is not supported".into(),
            ));
        }
        Ok(binning)
    }
}

/// Output format of a histogram operation on `format` samples: u8 stays u8, 16-bit becomes u16, f32
/// stays f32.
pub fn output_format(format: PixelFormat) -> PixelFormat {
    match format {
        PixelFormat::U8 => PixelFormat::U8,
        PixelFormat::U16 | PixelFormat::I16 => PixelFormat::U16,
        PixelFormat::F32 => PixelFormat::F32,
    }
}

fn lut_output(binning: &Binning, invert: bool) -> LutOutput {
    LutOutput {
        format: output_format(binning.format),
        invert,
        max: binning.vmax(),
    }
}

/// Records the equalization LUT of a (single-row) histogram.
pub fn encode_lut(rec: &mut Recorder<'_>, hist: &GpuHistogram) -> Result<GpuTable> {
    let binning = hist.binning;
    if hist.counts.rows() != 1 || hist.counts.len() != binning.bins {
        return Err(Error::InvalidParams(format!(
            "equalization needs one histogram of {} bins",
            binning.bins
        )));
    }
    let lut = GpuTable::alloc(rec, binning.bins, 1)?;
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::HISTOGRAM_SCAN_EQUALIZE_LUT)?;
    let uniform = rec.uniform(
        &ScanParams {
            bins: binning.bins,
            per: binning.per_invocation(),
            out_max: binning.vmax(),
            out_float: u32::from(binning.format == PixelFormat::F32),
            shift: binning.shift(),
            _pad: [0; 3],
        },
        "equalize_lut params",
    )?;
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, hist.counts.bind()),
            (2, lut.bind()),
        ],
        [1, 1, 1],
    )?;
    Ok(lut)
}

/// Records global equalization of `input`: histogram, LUT and apply (one submission, no readback).
pub fn encode(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    params: &EqualizeParams,
) -> Result<GpuImage> {
    let binning = params.binning(input.format)?;
    let hist = encode_histogram(rec, input, &binning, &Region::ALL)?;
    let lut = encode_lut(rec, &hist)?;
    encode_apply_lut(
        rec,
        input,
        &hist,
        &lut,
        &lut_output(&binning, params.invert),
    )
}

/// Uploads `image`, equalizes it and reads the result back: one upload, one submission, one readback.
pub fn equalize_image(
    engine: &Engine,
    image: &HostImage,
    params: &EqualizeParams,
) -> Result<HostImage> {
    let input = engine.upload(image)?;
    let mut rec = Recorder::new(engine);
    let output = encode(&mut rec, &input, params)?;
    let download = rec.download(&output)?;
    rec.submit()?;
    download.wait()
}

/// The equalization LUT of `hist` on the CPU (the definition in the module docs).
pub fn reference_lut(hist: &[u32], binning: &Binning) -> Vec<u32> {
    let n = hist.len();
    let Some(i0) = hist.iter().position(|&h| h != 0) else {
        return vec![0; n];
    };
    let total: u32 = hist.iter().sum();
    let h0 = hist[i0];
    let d = total - h0;
    let float = binning.format == PixelFormat::F32;
    if d == 0 {
        let value = if float {
            0
        } else {
            binning.bin_value(i0 as u32)
        };
        return vec![value; n];
    }
    let out_max = binning.vmax();
    let scale = out_max as f32 / d as f32;
    let unit = 1.0f32 / d as f32;
    let mut sum = 0u32;
    let mut lut = vec![0u32; n];
    for j in i0 + 1..n {
        sum += hist[j];
        lut[j] = if float {
            (sum as f32 * unit).min(1.0).to_bits()
        } else {
            (sum as f32 * scale).round_ties_even().min(out_max as f32) as u32
        };
    }
    lut
}

/// Global equalization on the CPU.
pub fn reference(image: &HostImage, params: &EqualizeParams) -> Result<HostImage> {
    let binning = params.binning(image.format())?;
    let hist = reference_histogram(image, &binning, None, None)?;
    let lut = reference_lut(&hist, &binning);
    reference_apply_lut(image, &binning, &lut, &lut_output(&binning, params.invert))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u8_binning() -> Binning {
        Binning::new(PixelFormat::U8, None, None).expect("binning")
    }

    #[test]
    fn constant_image_keeps_its_value() {
        let mut hist = vec![0u32; 256];
        hist[77] = 1000;
        assert!(reference_lut(&hist, &u8_binning()).iter().all(|&v| v == 77));
    }

    #[test]
    fn two_values_go_to_the_ends() {
        let mut hist = vec![0u32; 256];
        hist[10] = 3;
        hist[200] = 5;
        let lut = reference_lut(&hist, &u8_binning());
        assert_eq!((lut[10], lut[200], lut[255]), (0, 255, 255));
        assert_eq!(lut[100], 0);
    }

    #[test]
    fn rounding_is_half_to_even_in_f32() {
        // d = 2: scale = 127.5; one pixel → 127.5 rounds to 128 (even), matching cvRound.
        let mut hist = vec![0u32; 256];
        hist[0] = 1;
        hist[1] = 1;
        hist[2] = 1;
        let lut = reference_lut(&hist, &u8_binning());
        assert_eq!((lut[0], lut[1], lut[2]), (0, 128, 255));
    }
}
