//! Pieces shared by the resampling ops ([`super::warp`], [`super::resize`]) and their shaders
//! (`shaders/common/resample.wgsl`): size checks, border extrapolation, reading source samples as f32
//! and converting results to an output format — written once so the CPU references and the shaders
//! agree by construction on everything except the arithmetic under test.

use crate::image::{HostImage, PixelFormat, Pixels};
use crate::{Engine, Error, Result};

/// Largest output side: what DICOM Rows/Columns can hold, and what keeps `width · height` below 2^32.
pub(crate) const MAX_SIDE: u32 = 65_535;

/// Largest image the CPU references will compute (they allocate one f32 per pixel).
const MAX_REFERENCE_PIXELS: u64 = 1 << 28;

/// Border codes shared with `shaders/common/resample.wgsl`.
pub(crate) const BORDER_CONSTANT: u32 = 0;
pub(crate) const BORDER_REPLICATE: u32 = 1;
pub(crate) const BORDER_REFLECT101: u32 = 2;

/// Refuses an output size of zero or beyond [`MAX_SIDE`].
pub(crate) fn check_size(what: &str, width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::InvalidParams(format!(
            "{what} output size {width}x{height} has no pixels"
        )));
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::InvalidParams(format!(
            "{what} output size {width}x{height} is too large (at most {MAX_SIDE} per side)"
        )));
    }
    Ok(())
}

/// Refuses an output that does not fit one storage buffer binding of this engine's adapter.
pub(crate) fn check_device(
    engine: &Engine,
    what: &str,
    width: u32,
    height: u32,
    format: PixelFormat,
) -> Result<()> {
    engine
        .check_fits(width, height, format)
        .map(|_| ())
        .map_err(|e| match e {
            Error::InvalidImage(message) => {
                Error::InvalidParams(format!("{what} output size {width}x{height}: {message}"))
            }
            other => other,
        })
}

/// Refuses an output the CPU reference would need too much memory for.
pub(crate) fn check_reference_size(what: &str, width: u32, height: u32) -> Result<()> {
    if u64::from(width) * u64::from(height) > MAX_REFERENCE_PIXELS {
        return Err(Error::InvalidParams(format!(
            "{what} output size {width}x{height} is too large for the CPU reference"
        )));
    }
    Ok(())
}

/// Index `i` of a row or column of `n` samples after border extrapolation (`None`: constant border).
/// Mirrors `border_index` in `shaders/common/resample.wgsl`.
pub(crate) fn border_index(i: i32, n: i32, mode: u32) -> Option<i32> {
    if (0..n).contains(&i) {
        return Some(i);
    }
    match mode {
        BORDER_REPLICATE => Some(i.clamp(0, n - 1)),
        BORDER_REFLECT101 => {
            if n == 1 {
                return Some(0);
            }
            let period = 2 * n - 2;
            let mut j = i.abs() % period;
            if j >= n {
                j = period - j;
            }
            Some(j)
        }
        _ => None,
    }
}

/// The samples of `image` widened to f32 (exact for the 8- and 16-bit formats), as the shaders see them.
pub(crate) fn samples_f32(image: &HostImage) -> Vec<f32> {
    match &image.pixels {
        Pixels::U8(v) => v.iter().map(|&x| f32::from(x)).collect(),
        Pixels::U16(v) => v.iter().map(|&x| f32::from(x)).collect(),
        Pixels::I16(v) => v.iter().map(|&x| f32::from(x)).collect(),
        Pixels::F32(v) => v.clone(),
    }
}

/// `v` converted to a sample of `format` and back to f32: rounded to nearest, ties to even (OpenCV's
/// `saturate_cast`), and clamped for the integer formats; f32 unchanged (up to f64 → f32 rounding).
pub(crate) fn to_format(v: f64, format: PixelFormat) -> f32 {
    match sample_range(format) {
        Some((lo, hi)) => v.round_ties_even().clamp(lo, hi) as f32,
        None => v as f32,
    }
}

/// The values an integer sample format holds; `None` for f32.
pub(crate) fn sample_range(format: PixelFormat) -> Option<(f64, f64)> {
    match format {
        PixelFormat::U8 => Some((0.0, 255.0)),
        PixelFormat::U16 => Some((0.0, 65535.0)),
        PixelFormat::I16 => Some((-32768.0, 32767.0)),
        PixelFormat::F32 => None,
    }
}

/// Output samples from f32 values, converted as `output_lane` in `shaders/common/resample.wgsl` does.
pub(crate) fn output_pixels(values: &[f32], format: PixelFormat) -> Pixels {
    let round = |v: f32, lo: f32, hi: f32| v.round_ties_even().clamp(lo, hi);
    match format {
        PixelFormat::U8 => Pixels::U8(values.iter().map(|&v| round(v, 0.0, 255.0) as u8).collect()),
        PixelFormat::U16 => Pixels::U16(
            values
                .iter()
                .map(|&v| round(v, 0.0, 65535.0) as u16)
                .collect(),
        ),
        PixelFormat::I16 => Pixels::I16(
            values
                .iter()
                .map(|&v| round(v, -32768.0, 32767.0) as i16)
                .collect(),
        ),
        PixelFormat::F32 => Pixels::F32(values.to_vec()),
    }
}

/// Count of output words the shaders write for `pixels` samples of `format` (one invocation each).
pub(crate) fn output_words(format: PixelFormat, pixels: usize) -> u64 {
    format.gpu_bytes(pixels) / 4
}

/// `value` (an integer-valued f64, possibly beyond ±2^63) reduced modulo 2^64 to an i64: the shaders do
/// 64-bit arithmetic modulo 2^64, so only the residue matters.
pub(crate) fn wrap_i64(value: f64) -> i64 {
    (value as i128) as i64
}

/// OpenCV's `saturate_cast<int>(double)` on x86-64 (`cvRound` via `cvtsd2si`): ties to even, and the
/// "integer indefinite" value `i32::MIN` when out of range.
pub(crate) fn cv_round_i32(v: f64) -> i32 {
    let r = v.round_ties_even();
    if (-2_147_483_648.0..=2_147_483_647.0).contains(&r) {
        r as i32
    } else {
        i32::MIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect101_mirrors_without_repeating_the_edge() {
        let got: Vec<i32> = (-5..9)
            .map(|i| border_index(i, 4, BORDER_REFLECT101).expect("inside"))
            .collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(border_index(-7, 1, BORDER_REFLECT101), Some(0));
        assert_eq!(border_index(-1, 4, BORDER_CONSTANT), None);
        assert_eq!(border_index(9, 4, BORDER_REPLICATE), Some(3));
    }

    #[test]
    fn conversions_round_ties_to_even_and_clamp() {
        assert_eq!(to_format(2.5, PixelFormat::U8), 2.0);
        assert_eq!(to_format(3.5, PixelFormat::U8), 4.0);
        assert_eq!(to_format(300.0, PixelFormat::U8), 255.0);
        assert_eq!(to_format(-40000.0, PixelFormat::I16), -32768.0);
        assert_eq!(cv_round_i32(1e12), i32::MIN);
        assert_eq!(cv_round_i32(-2.5), -2);
        assert_eq!(wrap_i64(2f64.powi(64) + 4096.0), 4096);
        assert_eq!(wrap_i64(-3.0), -3);
        assert_eq!(
            output_pixels(&[0.5, 1.5, 70000.0], PixelFormat::U16),
            Pixels::U16(vec![0, 2, 65535])
        );
    }
}
