//! PNG, TIFF and JPEG: the formats radiology tools exchange display images and derived masks in.
//! Reading gives greyscale 8- or 16-bit samples (colour is converted to luma with the BT.601 weights and
//! fixed-point rounding OpenCV's `cvtColor(..., COLOR_RGB2GRAY)` uses, so results compare with OpenCV);
//! writing keeps the bit depth: PNG 8/16-bit, TIFF 8/16-bit; pictures (segmentation overlays) are written as
//! 8-bit RGB PNGs.

use std::path::Path;

use image::{DynamicImage, ImageBuffer, ImageEncoder, Luma};

use super::atomic::write_atomic;
use crate::image::{HostImage, Pixels};
use crate::{Error, Result};

/// BT.601 luma in 14-bit fixed point (OpenCV's `RGB2GRAY` coefficients and rounding).
pub fn luma_601(r: u32, g: u32, b: u32) -> u32 {
    (r * 4899 + g * 9617 + b * 1868 + (1 << 13)) >> 14
}

/// The most any one raster decode may hold at once, its output included (the `image` crate's own
/// allocation budget, which its PNG, TIFF and JPEG decoders check against the size their header
/// declares before they allocate). 512 MiB is a 16-bit greyscale image of 16k × 16k.
pub const RASTER_ALLOC_BUDGET: u64 = 512 * 1024 * 1024;
/// Largest width or height read: DICOM's own limit (Rows and Columns are 16-bit).
pub const RASTER_MAX_SIDE: u32 = 65_535;

/// Reads a PNG, TIFF or JPEG file as a greyscale image.
pub fn read_raster(path: &Path) -> Result<HostImage> {
    let file = crate::io::gate::open(path, crate::io::gate::InputKind::Image)?;
    let mut reader = image::ImageReader::new(std::io::BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(RASTER_ALLOC_BUDGET);
    limits.max_image_width = Some(RASTER_MAX_SIDE);
    limits.max_image_height = Some(RASTER_MAX_SIDE);
    reader.limits(limits);
    if reader.format().is_none() {
        return Err(Error::format(
            path,
            "not a PNG, TIFF or JPEG file (unrecognised signature)",
        ));
    }
    let kind = match reader.format() {
        Some(image::ImageFormat::Png) => "PNG",
        Some(image::ImageFormat::Tiff) => "TIFF",
        Some(image::ImageFormat::Jpeg) => "JPEG",
        _ => "image",
    };
    let decoded = reader.decode().map_err(|e| {
        let hint = if matches!(
            crate::io::extension(path).as_str(),
            "dcm" | "dicom" | "ima"
        ) {
            format!(
                " (a DICOM name, but no \"DICM\" marker at byte 128 and a {kind} signature at byte 0)"
            )
        } else {
            String::new()
        };
        Error::format(path, format!("cannot decode {kind} file: {e}{hint}"))
    })?;
    let (width, height) = (decoded.width(), decoded.height());
    let pixels = match decoded {
        DynamicImage::ImageLuma8(img) => Pixels::U8(img.into_raw()),
        DynamicImage::ImageLumaA8(img) => Pixels::U8(img.pixels().map(|p| p.0[0]).collect()),
        DynamicImage::ImageLuma16(img) => Pixels::U16(img.into_raw()),
        DynamicImage::ImageLumaA16(img) => Pixels::U16(img.pixels().map(|p| p.0[0]).collect()),
        DynamicImage::ImageRgb8(img) => Pixels::U8(
            img.pixels()
                .map(|p| luma_601(p.0[0].into(), p.0[1].into(), p.0[2].into()) as u8)
                .collect(),
        ),
        DynamicImage::ImageRgba8(img) => Pixels::U8(
            img.pixels()
                .map(|p| luma_601(p.0[0].into(), p.0[1].into(), p.0[2].into()) as u8)
                .collect(),
        ),
        DynamicImage::ImageRgb16(img) => Pixels::U16(
            img.pixels()
                .map(|p| luma_601(p.0[0].into(), p.0[1].into(), p.0[2].into()) as u16)
                .collect(),
        ),
        DynamicImage::ImageRgba16(img) => Pixels::U16(
            img.pixels()
                .map(|p| luma_601(p.0[0].into(), p.0[1].into(), p.0[2].into()) as u16)
                .collect(),
        ),
        other => {
            return Err(Error::unsupported(
                path,
                format!(
                    "{:?} samples (only 8/16-bit grey or colour images)",
                    other.color()
                ),
            ));
        }
    };
    HostImage::new(width, height, pixels).map_err(|e| Error::format(path, e.to_string()))
}

fn grey8(path: &Path, image: &HostImage) -> Result<Option<ImageBuffer<Luma<u8>, Vec<u8>>>> {
    Ok(match &image.pixels {
        Pixels::U8(v) => Some(
            ImageBuffer::from_raw(image.width, image.height, v.clone())
                .ok_or_else(|| Error::format(path, "sample count does not match size"))?,
        ),
        _ => None,
    })
}

fn grey16(path: &Path, image: &HostImage) -> Result<Option<ImageBuffer<Luma<u16>, Vec<u16>>>> {
    Ok(match &image.pixels {
        Pixels::U16(v) => Some(
            ImageBuffer::from_raw(image.width, image.height, v.clone())
                .ok_or_else(|| Error::format(path, "sample count does not match size"))?,
        ),
        _ => None,
    })
}

fn encode_error(path: &Path, e: image::ImageError) -> Error {
    Error::format(path, format!("cannot encode: {e}"))
}

/// Writes an 8- or 16-bit greyscale PNG (u8 or u16 samples), atomically.
pub fn write_png(path: &Path, image: &HostImage) -> Result<()> {
    let (g8, g16) = (grey8(path, image)?, grey16(path, image)?);
    if g8.is_none() && g16.is_none() {
        return Err(Error::unsupported(
            path,
            format!("PNG output takes u8 or u16 samples, not {}", image.format()),
        ));
    }
    write_atomic(path, |w| {
        let encoder = image::codecs::png::PngEncoder::new(w);
        match (&g8, &g16) {
            (Some(img), _) => img.write_with_encoder(encoder),
            (_, Some(img)) => img.write_with_encoder(encoder),
            _ => Ok(()),
        }
        .map_err(|e| encode_error(path, e))
    })
}

/// Writes an 8- or 16-bit greyscale TIFF (u8 or u16 samples), atomically.
pub fn write_tiff(path: &Path, image: &HostImage) -> Result<()> {
    let (g8, g16) = (grey8(path, image)?, grey16(path, image)?);
    if g8.is_none() && g16.is_none() {
        return Err(Error::unsupported(
            path,
            format!(
                "TIFF output takes u8 or u16 samples, not {}",
                image.format()
            ),
        ));
    }
    // The TIFF encoder needs Seek, so encode in memory and write the bytes atomically.
    let mut bytes = std::io::Cursor::new(Vec::new());
    let encoder = image::codecs::tiff::TiffEncoder::new(&mut bytes);
    match (&g8, &g16) {
        (Some(img), _) => encoder.write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::L8,
        ),
        (_, Some(img)) => encoder.write_image(
            bytemuck::cast_slice(img.as_raw()),
            img.width(),
            img.height(),
            image::ExtendedColorType::L16,
        ),
        _ => Ok(()),
    }
    .map_err(|e| encode_error(path, e))?;
    let data = bytes.into_inner();
    write_atomic(path, |w| {
        std::io::Write::write_all(w, &data).map_err(|e| Error::io(path, e))
    })
}

/// Writes an 8-bit RGB PNG of `width × height` interleaved R, G, B bytes, atomically.
pub fn write_rgb_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<()> {
    if rgb.len() != 3 * width as usize * height as usize {
        return Err(Error::format(
            path,
            format!("{} RGB bytes for a {width}x{height} picture", rgb.len()),
        ));
    }
    write_atomic(path, |w| {
        image::codecs::png::PngEncoder::new(w)
            .write_image(rgb, width, height, image::ExtendedColorType::Rgb8)
            .map_err(|e| encode_error(path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_matches_opencv_fixed_point() {
        assert_eq!(luma_601(255, 255, 255), 255);
        assert_eq!(luma_601(0, 0, 0), 0);
        // cv2.cvtColor(np.uint8([[[10, 200, 30]]]), cv2.COLOR_RGB2GRAY) == 124
        assert_eq!(luma_601(10, 200, 30), 124);
        assert_eq!(luma_601(65535, 65535, 65535), 65535);
    }

    #[test]
    fn png_and_tiff_round_trip_16_bit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let img =
            HostImage::new(3, 2, Pixels::U16(vec![0, 1, 4095, 65535, 300, 7])).expect("image");
        for name in ["a.png", "a.tif"] {
            let path = dir.path().join(name);
            if name.ends_with("png") {
                write_png(&path, &img).expect("png");
            } else {
                write_tiff(&path, &img).expect("tiff");
            }
            assert_eq!(
                read_raster(&path).expect("read").pixels,
                img.pixels,
                "{name}"
            );
        }
    }

    #[test]
    fn garbage_is_a_format_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("junk.png");
        std::fs::write(&path, b"definitely not an image").expect("write");
        let err = read_raster(&path).expect_err("must fail").to_string();
        assert!(err.contains("junk.png"), "{err}");
    }
}
