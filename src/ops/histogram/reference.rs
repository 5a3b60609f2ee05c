//! The CPU references of the histogram stages, written from the same binning rules as the shaders
//! (bit for bit), and the percentile parser the automatic window shares with the CLI.

use super::*;

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
