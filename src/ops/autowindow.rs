//! Automatic window/level from percentiles of the image's histogram (`radpipe window --auto LOW,HIGH`).
//!
//! The GPU counts the stored values, one bin per value ([`encode_stored_histogram`]); the percentiles
//! are then taken over the *modality* values (each stored value's bin carries its Rescale or Modality
//! LUT Sequence value, so a non-monotonic table is handled exactly): `lo` is the smallest modality value
//! with at least LOW % of the pixels at or below it, `hi` the same for HIGH %. The window is the LINEAR
//! window that maps `lo` to 0 and `hi` to the output maximum ([`min_max_window`]), and the ordinary
//! window/level pass renders it.
//!
//! Why the histogram is read back: the window must be reported (and written into derived DICOM), and
//! the lead's window/level pass takes its window as parameters. It is one counted readback of 1 KiB
//! (8-bit) or 256 KiB (16-bit) between the count and the render, the only place a histogram operation
//! goes back to the CPU.

use crate::gpu::GpuImage;
use crate::image::PixelFormat;
use crate::ops::histogram::{Binning, GpuHistogram, Region, encode_histogram};
use crate::ops::window::min_max_window;
use crate::pipeline::Recorder;
use crate::transforms::{ModalityLut, VoiFunction, Window};
use crate::{Error, Result};

/// One bin per stored value for `format` (u8: 256, u16/i16: 65536 with i16 as offset binary).
pub fn stored_binning(format: PixelFormat) -> Result<Binning> {
    if format == PixelFormat::F32 {
        return Err(Error::InvalidParams(
            "an automatic window needs integer samples (u8, u16, i16), not f32".into(),
        ));
    }
    Binning::new(format, None, None)
}

/// Records the stored-value histogram of `input`.
pub fn encode_stored_histogram(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    region: &Region<'_>,
) -> Result<GpuHistogram> {
    let binning = stored_binning(input.format)?;
    encode_histogram(rec, input, &binning, region)
}

/// The stored value of bin `bin` of a [`stored_binning`].
pub fn stored_value(binning: &Binning, bin: u32) -> f64 {
    match binning.format {
        PixelFormat::I16 => f64::from(bin as i32 - 32768),
        _ => f64::from(bin),
    }
}

/// `(lo, hi)`: the LOW and HIGH percentiles (in percent) of the modality values described by a
/// stored-value histogram.
pub fn modality_percentiles(
    hist: &[u32],
    binning: &Binning,
    modality: &ModalityLut,
    low: f64,
    high: f64,
) -> Result<(f64, f64)> {
    if !(low.is_finite()
        && high.is_finite()
        && (0.0..=100.0).contains(&low)
        && low < high
        && high <= 100.0)
    {
        return Err(Error::InvalidParams(format!(
            "percentiles {low},{high} must satisfy 0 <= LOW < HIGH <= 100"
        )));
    }
    let mut values: Vec<(f64, u64)> = hist
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(b, &c)| {
            (
                modality.apply(stored_value(binning, b as u32)),
                u64::from(c),
            )
        })
        .collect();
    if values.iter().any(|(m, _)| !m.is_finite()) {
        return Err(Error::InvalidImage(
            "the modality transform gives non-finite values".into(),
        ));
    }
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = values.iter().map(|v| v.1).sum();
    if total == 0 {
        return Err(Error::InvalidImage(
            "no pixels to take percentiles of".into(),
        ));
    }
    let at = |p: f64| {
        let need = p / 100.0 * total as f64;
        let mut cum = 0u64;
        for &(m, c) in &values {
            cum += c;
            if cum as f64 >= need {
                return m;
            }
        }
        values[values.len() - 1].0
    };
    Ok((at(low), at(high)))
}

/// The window for LOW..HIGH percentiles of a stored-value histogram.
pub fn window_from_histogram(
    hist: &[u32],
    binning: &Binning,
    modality: &ModalityLut,
    (low, high): (f64, f64),
    function: VoiFunction,
) -> Result<Window> {
    let (lo, hi) = modality_percentiles(hist, binning, modality, low, high)?;
    Ok(min_max_window(lo, hi, function))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_taken_over_modality_values() {
        let binning = stored_binning(PixelFormat::U8).expect("binning");
        let mut hist = vec![0u32; 256];
        hist.iter_mut().take(100).for_each(|h| *h = 1);
        let identity = ModalityLut::IDENTITY;
        assert_eq!(
            modality_percentiles(&hist, &binning, &identity, 0.0, 100.0).expect("p"),
            (0.0, 99.0)
        );
        assert_eq!(
            modality_percentiles(&hist, &binning, &identity, 1.0, 99.0).expect("p"),
            (0.0, 98.0)
        );
        let flipped = ModalityLut::Rescale {
            slope: -2.0,
            intercept: 10.0,
        };
        assert_eq!(
            modality_percentiles(&hist, &binning, &flipped, 0.0, 100.0).expect("p"),
            (-188.0, 10.0)
        );
        let w = window_from_histogram(
            &hist,
            &binning,
            &identity,
            (0.0, 100.0),
            VoiFunction::Linear,
        )
        .expect("window");
        assert_eq!((w.center, w.width), (50.0, 100.0));
    }

    #[test]
    fn signed_bins_are_offset() {
        let binning = stored_binning(PixelFormat::I16).expect("binning");
        assert_eq!(stored_value(&binning, 0), -32768.0);
        assert_eq!(stored_value(&binning, 32768), 0.0);
        assert!(stored_binning(PixelFormat::F32).is_err());
    }
}
