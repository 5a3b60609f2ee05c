//! Stored pixel values out of Pixel Data (7FE0,0010), for every transfer syntax dicom-rs decodes in
//! pure Rust.
//!
//! Native (uncompressed) data is read straight from the element; encapsulated data goes through
//! dicom-pixeldata, but only for its raw decoded bytes: radpipe does its own bit handling because
//! dicom-pixeldata's `ModalityLutOption::None` path does not sign-extend when Bits Stored < Bits
//! Allocated (a 12-bit signed CT comes out as 0..4095 instead of −2048..2047). Each sample is shifted
//! right by High Bit + 1 − Bits Stored (native data only: decoders already return values in the low
//! bits), masked to Bits Stored bits, and sign-extended from bit Bits Stored − 1 when Pixel
//! Representation is 1.
//!
//! Sizes are checked before anything is allocated: native data must hold Rows × Columns × Frames ×
//! Bits Allocated / 8 bytes, and encapsulated data may not claim an implausible compression ratio.

use std::path::Path;

use dicom_core::value::{DicomValueType, PrimitiveValue, Value};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::FileMetaTable;
use dicom_pixeldata::PixelDecoder;

use super::attrs::{Elem, Obj};
use crate::{Error, Pixels, Result};

/// The sample layout read from the Image Pixel module.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    pub rows: u32,
    pub cols: u32,
    pub frames: u32,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub high_bit: u16,
    pub signed: bool,
}

/// Encapsulated data larger than this must not be more than [`MAX_RATIO`] times its compressed size.
const RATIO_CHECK_FROM: u64 = 16 << 20;
/// Largest believable decompressed/compressed ratio (lossless codecs stay far below it).
const MAX_RATIO: u64 = 1024;

impl Layout {
    /// Total samples of all frames, `None` on overflow.
    fn samples(&self) -> Option<usize> {
        let n = u64::from(self.rows)
            .checked_mul(u64::from(self.cols))?
            .checked_mul(u64::from(self.frames))?;
        usize::try_from(n).ok()
    }

    /// Bytes the pixel data must hold; `None` when that does not fit a u64.
    fn needed_bytes(&self) -> Option<u64> {
        u64::from(self.rows)
            .checked_mul(u64::from(self.cols))?
            .checked_mul(u64::from(self.frames))?
            .checked_mul(u64::from(self.bits_allocated / 8))
    }

    /// The right shift that brings the stored bits down to bit 0 (native data).
    fn shift(&self) -> u32 {
        let shift = (u32::from(self.high_bit) + 1).saturating_sub(u32::from(self.bits_stored));
        if shift + u32::from(self.bits_stored) <= u32::from(self.bits_allocated) {
            shift
        } else {
            0
        }
    }
}

/// Reads all frames' stored values from the Pixel Data element.
pub(super) fn extract(
    path: &Path,
    layout: &Layout,
    pixel: Elem,
    meta: FileMetaTable,
    ts_uid: &str,
) -> Result<Pixels> {
    let too_large = || {
        Error::format(
            path,
            format!(
                "image of {}x{}x{} frames is too large to address",
                layout.cols, layout.rows, layout.frames
            ),
        )
    };
    let samples = layout.samples().ok_or_else(too_large)?;
    let needed = layout.needed_bytes().ok_or_else(too_large)?;
    let short = |have: u64| {
        Error::format(
            path,
            format!(
                "pixel data has {have} bytes, but Rows×Columns×Frames×BitsAllocated/8 = {}×{}×{}×{}/8 needs {needed}",
                layout.rows, layout.cols, layout.frames, layout.bits_allocated
            ),
        )
    };
    let big_endian = ts_uid == BIG_ENDIAN;
    match pixel.value() {
        Value::Primitive(PrimitiveValue::U16(words)) => {
            let have = words.len() as u64 * 2;
            if have < needed {
                return Err(short(have));
            }
            if layout.bits_allocated == 16 {
                Ok(convert16(
                    words.iter().copied(),
                    samples,
                    layout,
                    layout.shift(),
                ))
            } else {
                // 8-bit samples in an OW element: the bytes in file order.
                let bytes = words.iter().flat_map(|w| {
                    if big_endian {
                        w.to_be_bytes()
                    } else {
                        w.to_le_bytes()
                    }
                });
                Ok(convert8(bytes, samples, layout, layout.shift()))
            }
        }
        Value::Primitive(PrimitiveValue::U8(bytes)) => {
            let have = bytes.len() as u64;
            if have < needed {
                return Err(short(have));
            }
            Ok(convert_bytes(
                bytes,
                samples,
                layout,
                big_endian,
                layout.shift(),
            ))
        }
        Value::Primitive(PrimitiveValue::Empty) => Err(short(0)),
        Value::Primitive(other) => Err(Error::unsupported(
            path,
            format!(
                "Pixel Data stored as {:?} values; radpipe reads OB/OW pixel data",
                other.value_type()
            ),
        )),
        Value::Sequence(_) => Err(Error::format(
            path,
            "Pixel Data (7FE0,0010) is a sequence of items, not pixel data",
        )),
        Value::PixelSequence(seq) => {
            let compressed: u64 = seq.fragments().iter().map(|f| f.len() as u64).sum();
            // RLE packets expand at most 128 bytes from 2 (PS3.5 G.3.1), other codecs far less
            // than MAX_RATIO in practice.
            let ratio = if ts_uid == RLE_LOSSLESS {
                65
            } else {
                MAX_RATIO
            };
            if needed >= RATIO_CHECK_FROM && compressed.saturating_mul(ratio) < needed {
                return Err(Error::format(
                    path,
                    format!(
                        "encapsulated pixel data has {compressed} bytes, implausibly little for {}x{}x{} frames of {} bits ({needed} bytes)",
                        layout.cols, layout.rows, layout.frames, layout.bits_allocated
                    ),
                ));
            }
            let (data, shift) = if ts_uid == RLE_LOSSLESS {
                // RLE codes the stored bit patterns, High Bit position included.
                (decode_rle(path, layout, seq.fragments())?, layout.shift())
            } else {
                check_declared_size(path, layout, seq.fragments(), ts_uid)?;
                refuse_undecodable(path, layout, ts_uid)?;
                // Other decoders return the value in the low bits.
                let decoded = match super::isolated::helper() {
                    Some(helper) => super::isolated::decode(
                        helper,
                        path,
                        needed,
                        &transfer_syntax_label(ts_uid),
                    )?,
                    None => decode_encapsulated(path, layout, pixel, meta, ts_uid)?,
                };
                (decoded, 0)
            };
            let have = data.len() as u64;
            if have < needed {
                return Err(Error::format(
                    path,
                    format!(
                        "the {} decoder returned {have} bytes, the image needs {needed}",
                        transfer_syntax_label(ts_uid)
                    ),
                ));
            }
            Ok(convert_bytes(&data, samples, layout, false, shift))
        }
    }
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// RLE Lossless: one fragment per frame (PS3.5 A.4.2), decoded by [`rle`](super::rle).
fn decode_rle(path: &Path, layout: &Layout, fragments: &[Vec<u8>]) -> Result<Vec<u8>> {
    let frames = layout.frames as usize;
    if fragments.len() < frames {
        return Err(Error::format(
            path,
            format!(
                "RLE pixel data has {} fragments for {frames} frames (one per frame expected)",
                fragments.len()
            ),
        ));
    }
    let pixels = layout.rows as usize * layout.cols as usize;
    let bytes_per_sample = usize::from(layout.bits_allocated / 8);
    let mut out = Vec::with_capacity(pixels * bytes_per_sample * frames);
    for (n, fragment) in fragments.iter().take(frames).enumerate() {
        super::rle::decode_frame(fragment, pixels, bytes_per_sample, &mut out)
            .map_err(|e| Error::format(path, format!("RLE Lossless frame {n}: {e}")))?;
    }
    Ok(out)
}

const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

fn convert_bytes(
    bytes: &[u8],
    samples: usize,
    layout: &Layout,
    big_endian: bool,
    shift: u32,
) -> Pixels {
    if layout.bits_allocated == 16 {
        let words = bytes.chunks_exact(2).map(|c| match c {
            [a, b] if big_endian => u16::from_be_bytes([*a, *b]),
            [a, b] => u16::from_le_bytes([*a, *b]),
            _ => 0,
        });
        convert16(words, samples, layout, shift)
    } else {
        convert8(bytes.iter().copied(), samples, layout, shift)
    }
}

/// Masks and sign-extends `raw` (already shifted) to a stored value.
#[inline]
fn stored_value(raw: u32, bits: u32, signed: bool) -> i32 {
    let mask = if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    };
    let v = raw & mask;
    if signed && bits > 0 && (v >> (bits - 1)) & 1 == 1 {
        v as i32 - (1i32 << bits)
    } else {
        v as i32
    }
}

fn convert16(words: impl Iterator<Item = u16>, n: usize, layout: &Layout, shift: u32) -> Pixels {
    let bits = u32::from(layout.bits_stored);
    let words = words.take(n);
    if layout.signed {
        Pixels::I16(
            words
                .map(|w| stored_value(u32::from(w) >> shift, bits, true) as i16)
                .collect(),
        )
    } else {
        Pixels::U16(
            words
                .map(|w| stored_value(u32::from(w) >> shift, bits, false) as u16)
                .collect(),
        )
    }
}

/// 8-bit samples: `U8` when unsigned; signed 8-bit values (rare) are widened to `I16`.
fn convert8(bytes: impl Iterator<Item = u8>, n: usize, layout: &Layout, shift: u32) -> Pixels {
    let bits = u32::from(layout.bits_stored);
    let bytes = bytes.take(n);
    if layout.signed {
        Pixels::I16(
            bytes
                .map(|b| stored_value(u32::from(b) >> shift, bits, true) as i16)
                .collect(),
        )
    } else {
        Pixels::U8(
            bytes
                .map(|b| stored_value(u32::from(b) >> shift, bits, false) as u8)
                .collect(),
        )
    }
}

/// Transfer syntaxes this build has no decoder for, refused with what to do instead of the codec
/// registry's bare "Unsupported TransferSyntax". JPEG-LS needs CharLS (a C++ library radpipe does not
/// build); jpeg-decoder, the pure-Rust JPEG decoder, reads 8-bit lossy JPEG only, so the 12-bit JPEG
/// Extended process fails inside it.
fn refuse_undecodable(path: &Path, layout: &Layout, ts_uid: &str) -> Result<()> {
    let why = match ts_uid {
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => {
            "radpipe has no JPEG-LS decoder (CharLS is not built in); decompress it first, e.g. with \
             dcmtk's `dcmdjpls in.dcm out.dcm`"
        }
        "1.2.840.10008.1.2.4.51" if layout.bits_stored > 8 => {
            "radpipe's JPEG decoder reads 8-bit lossy JPEG only, not 12-bit JPEG Extended; decompress \
             it first, e.g. with dcmtk's `dcmdjpeg in.dcm out.dcm`"
        }
        _ => return Ok(()),
    };
    Err(Error::unsupported(
        path,
        format!("{} pixel data: {why}", transfer_syntax_label(ts_uid)),
    ))
}

/// Refuses a compressed frame whose codestream header claims more rows or columns than the data set
/// (see [`super::codestream`]) before a decoder allocates for the claim.
fn check_declared_size(
    path: &Path,
    layout: &Layout,
    fragments: &[Vec<u8>],
    ts_uid: &str,
) -> Result<()> {
    let Some(d) = fragments
        .iter()
        .find(|f| !f.is_empty())
        .and_then(|f| super::codestream::declared(f))
    else {
        return Ok(());
    };
    if d.width > layout.cols || d.height > layout.rows || d.components > 4 {
        return Err(Error::format(
            path,
            format!(
                "the {} codestream declares {}x{} pixels with {} component(s), but Columns/Rows say {}x{}; not decoded",
                transfer_syntax_label(ts_uid),
                d.width,
                d.height,
                d.components,
                layout.cols,
                layout.rows
            ),
        ));
    }
    Ok(())
}

/// Decodes encapsulated pixel data with dicom-pixeldata.
///
/// The decoder reads the image attributes from the object it is given, with dicom-rs's own accessors —
/// which fail on `UN`-encoded attributes and on unrelated inconsistencies (a Window Center without a
/// matching Window Width aborts decoding). So it is given a minimal object instead: the attributes radpipe
/// has already read and checked, correctly typed, plus the Pixel Data element. Decoders that panic on
/// malformed streams are contained and reported as a decoding failure.
pub(super) fn decode_encapsulated(
    path: &Path,
    layout: &Layout,
    pixel: Elem,
    meta: FileMetaTable,
    ts_uid: &str,
) -> Result<Vec<u8>> {
    let us = |tag, v: u32| DataElement::new(tag, VR::US, PrimitiveValue::from(v as u16));
    let mut obj = Obj::new_empty();
    obj.put(us(tags::ROWS, layout.rows));
    obj.put(us(tags::COLUMNS, layout.cols));
    obj.put(us(tags::SAMPLES_PER_PIXEL, 1));
    obj.put(us(tags::BITS_ALLOCATED, u32::from(layout.bits_allocated)));
    obj.put(us(tags::BITS_STORED, u32::from(layout.bits_stored)));
    obj.put(us(tags::HIGH_BIT, u32::from(layout.high_bit)));
    obj.put(us(tags::PIXEL_REPRESENTATION, u32::from(layout.signed)));
    obj.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    ));
    obj.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from(layout.frames.to_string()),
    ));
    obj.put(pixel);
    let file = obj.with_exact_meta(meta);
    let label = transfer_syntax_label(ts_uid);
    let outcome = crate::io::contained::run(|| file.decode_pixel_data().map(|d| d.into_data()));
    match outcome {
        Some(Ok(data)) => Ok(data),
        Some(Err(e)) => Err(Error::unsupported(
            path,
            format!(
                "cannot decode {label} pixel data: {}",
                super::error_chain(&e)
            ),
        )),
        None => Err(Error::unsupported(
            path,
            format!("the {label} decoder failed on this pixel data"),
        )),
    }
}

/// A readable name for a transfer syntax UID, with the UID.
pub(super) fn transfer_syntax_label(uid: &str) -> String {
    let name = match uid {
        "1.2.840.10008.1.2" => "Implicit VR Little Endian",
        "1.2.840.10008.1.2.1" => "Explicit VR Little Endian",
        "1.2.840.10008.1.2.1.98" => "Encapsulated Uncompressed Explicit VR Little Endian",
        "1.2.840.10008.1.2.1.99" => "Deflated Explicit VR Little Endian",
        BIG_ENDIAN => "Explicit VR Big Endian",
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline (8-bit)",
        "1.2.840.10008.1.2.4.51" => "JPEG Extended (12-bit)",
        "1.2.840.10008.1.2.4.57" => "JPEG Lossless",
        "1.2.840.10008.1.2.4.70" => "JPEG Lossless SV1",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 Lossless",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.201" => "HTJ2K Lossless",
        "1.2.840.10008.1.2.4.202" => "HTJ2K Lossless RPCL",
        "1.2.840.10008.1.2.4.203" => "HTJ2K",
        "1.2.840.10008.1.2.4.110" => "JPEG XL Lossless",
        "1.2.840.10008.1.2.4.112" => "JPEG XL",
        "1.2.840.10008.1.2.5" => "RLE Lossless",
        _ => return format!("transfer syntax {uid}"),
    };
    format!("{name} ({uid})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(bits_stored: u16, high_bit: u16, signed: bool) -> Layout {
        Layout {
            rows: 1,
            cols: 4,
            frames: 1,
            bits_allocated: 16,
            bits_stored,
            high_bit,
            signed,
        }
    }

    #[test]
    fn jpeg_ls_and_12_bit_jpeg_are_refused_with_what_to_do() {
        let p = Path::new("x.dcm");
        for ts in ["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"] {
            let e = refuse_undecodable(p, &layout(16, 15, false), ts).expect_err("JPEG-LS");
            assert!(e.to_string().contains("dcmdjpls"), "{e}");
            assert!(e.to_string().contains("x.dcm"), "{e}");
        }
        let e = refuse_undecodable(p, &layout(12, 11, false), "1.2.840.10008.1.2.4.51")
            .expect_err("12-bit JPEG");
        assert!(e.to_string().contains("dcmdjpeg"), "{e}");
        assert!(refuse_undecodable(p, &layout(8, 7, false), "1.2.840.10008.1.2.4.51").is_ok());
        assert!(refuse_undecodable(p, &layout(16, 15, false), "1.2.840.10008.1.2.4.90").is_ok());
    }

    #[test]
    fn twelve_bit_signed_is_sign_extended() {
        let l = layout(12, 11, true);
        let words = [0x0FFFu16, 0x0800, 0x07FF, 0xF001];
        let p = convert16(words.into_iter(), 4, &l, l.shift());
        assert_eq!(p, Pixels::I16(vec![-1, -2048, 2047, 1]));
    }

    #[test]
    fn high_bit_shift_and_mask() {
        let l = layout(12, 15, false);
        assert_eq!(l.shift(), 4);
        let p = convert16([0xFFF0u16, 0x0010].into_iter(), 2, &l, l.shift());
        assert_eq!(p, Pixels::U16(vec![0x0FFF, 1]));
        // Overlay bits above a 12-bit unsigned value are dropped.
        let l = layout(12, 11, false);
        let p = convert16([0xF123u16].into_iter(), 1, &l, l.shift());
        assert_eq!(p, Pixels::U16(vec![0x0123]));
    }

    #[test]
    fn signed_eight_bit_widens() {
        let l = Layout {
            bits_allocated: 8,
            bits_stored: 8,
            high_bit: 7,
            ..layout(8, 7, true)
        };
        let p = convert8([0xFFu8, 0x7F].into_iter(), 2, &l, 0);
        assert_eq!(p, Pixels::I16(vec![-1, 127]));
    }
}
