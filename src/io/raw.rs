//! Headerless raw pixel files, as detectors and research tools dump them: the caller states size,
//! sample format and byte order; the file length must match exactly, so a wrong guess fails loudly
//! instead of producing a sheared image.

use std::path::Path;

use super::atomic::write_atomic;
use crate::image::{HostImage, PixelFormat, Pixels};
use crate::{Error, Result};

/// Byte order of multi-byte samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteOrder {
    /// Least significant byte first.
    #[default]
    Little,
    /// Most significant byte first.
    Big,
}

/// Reads `width`×`height` samples of `format` from a raw file.
pub fn read_raw(
    path: &Path,
    width: u32,
    height: u32,
    format: PixelFormat,
    order: ByteOrder,
) -> Result<HostImage> {
    let count = width as u64 * height as u64;
    let expected = count * format.bytes_per_pixel() as u64;
    let actual = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if width == 0 || height == 0 || actual != expected {
        return Err(Error::format(
            path,
            format!(
                "raw {width}x{height} {format} needs exactly {expected} bytes, the file has {actual}"
            ),
        ));
    }
    let bytes = crate::io::gate::read(path, crate::io::gate::InputKind::Image)?;
    let pixels = match (format, order) {
        (PixelFormat::U8, _) => Pixels::U8(bytes),
        (PixelFormat::U16, o) => {
            Pixels::U16(bytes.chunks_exact(2).map(|c| u16_from(c, o)).collect())
        }
        (PixelFormat::I16, o) => Pixels::I16(
            bytes
                .chunks_exact(2)
                .map(|c| u16_from(c, o) as i16)
                .collect(),
        ),
        (PixelFormat::F32, o) => Pixels::F32(
            bytes
                .chunks_exact(4)
                .map(|c| {
                    let b = [c[0], c[1], c[2], c[3]];
                    match o {
                        ByteOrder::Little => f32::from_le_bytes(b),
                        ByteOrder::Big => f32::from_be_bytes(b),
                    }
                })
                .collect(),
        ),
    };
    HostImage::new(width, height, pixels)
}

fn u16_from(c: &[u8], order: ByteOrder) -> u16 {
    match order {
        ByteOrder::Little => u16::from_le_bytes([c[0], c[1]]),
        ByteOrder::Big => u16::from_be_bytes([c[0], c[1]]),
    }
}

/// Writes the samples little-endian, no header, atomically.
pub fn write_raw(path: &Path, image: &HostImage) -> Result<()> {
    let mut bytes = image.pixels.to_gpu_bytes();
    bytes.truncate(image.pixel_count() * image.format().bytes_per_pixel());
    write_atomic(path, |w| {
        std::io::Write::write_all(w, &bytes).map_err(|e| Error::io(path, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.raw");
        let img = HostImage::new(3, 1, Pixels::I16(vec![-5, 0, 1234])).expect("image");
        write_raw(&path, &img).expect("write");
        let back = read_raw(&path, 3, 1, PixelFormat::I16, ByteOrder::Little).expect("read");
        assert_eq!(back.pixels, img.pixels);
        let err = read_raw(&path, 4, 1, PixelFormat::I16, ByteOrder::Little).expect_err("size");
        assert!(err.to_string().contains("a.raw"));
    }
}
