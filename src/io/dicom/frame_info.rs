//! Per-frame value transforms and geometry: where a classic image keeps Rescale, Window and Pixel
//! Spacing at the top level, an enhanced multi-frame image keeps them in the Shared and Per-frame
//! Functional Groups (PS3.3 C.7.6.16). This module looks in the per-frame item first, then the shared
//! item, then the top level — so one code path reads both kinds of file.
//!
//! LUT signedness rules (PS3.3 C.11.1.1 and C.11.2.1.1):
//! - Modality LUT: the first mapped value (LUT Descriptor value 2) is read as signed (SS) when Pixel
//!   Representation is 1, unsigned (US) otherwise — its input is the stored value.
//! - VOI LUT: its input is the modality value, so the first mapped value is read as signed when Pixel
//!   Representation is 1 *or* the frame's Rescale Slope/Intercept can map some stored value to a
//!   negative number (e.g. a CT with intercept −1024); a Modality LUT table never outputs negatives.
//! - LUT Descriptor value 1 = 0 means 65536 entries; LUT Data is read as US or OW; 8-bit entries packed
//!   two per 16-bit word (a length of ⌈entries/2⌉ words) are unpacked.

use dicom_core::Tag;
use dicom_dictionary_std::tags;

use super::attrs::{self, Obj};
use crate::Geometry;
use crate::transforms::{LutTable, ModalityLut, VoiFunction, Window};

/// Everything radpipe reads about how to show one frame.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FrameInfo {
    pub modality: ModalityLut,
    pub windows: Vec<Window>,
    pub voi_lut: Option<LutTable>,
    pub geometry: Geometry,
}

/// The stored-value range a frame's samples can take, for the VOI LUT signedness rule.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoredRange {
    pub bits_stored: u16,
    pub signed: bool,
}

impl StoredRange {
    fn min_max(self) -> (f64, f64) {
        let bits = i32::from(self.bits_stored.clamp(1, 16));
        if self.signed {
            let half = f64::from(1u32 << (bits - 1));
            (-half, half - 1.0)
        } else {
            (0.0, f64::from((1u32 << bits) - 1))
        }
    }
}

/// Where to look for the attributes of functional-group sequence `group` for frame `n`: the per-frame
/// item's group item, the shared item's group item, then the top level.
fn sources(obj: &Obj, n: u32, group: Tag) -> Vec<&Obj> {
    let mut out = Vec::with_capacity(3);
    let per_frame = attrs::items(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|items| items.get(n as usize));
    if let Some(item) = per_frame.and_then(|f| attrs::first_item(f, group)) {
        out.push(item);
    }
    let shared = attrs::first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    if let Some(item) = shared.and_then(|s| attrs::first_item(s, group)) {
        out.push(item);
    }
    out.push(obj);
    out
}

/// True when the data set has a Per-frame Functional Groups Sequence, i.e. frames may differ.
pub(super) fn has_per_frame_groups(obj: &Obj) -> bool {
    attrs::items(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE).is_some_and(|i| !i.is_empty())
}

/// The largest modality value (after Rescale) radpipe takes: the GPU computes in 32-bit floats
/// (±3.4e38), and a window over such values needs headroom.
pub(super) const MAX_MODALITY_MAGNITUDE: f64 = 1e30;

/// Reads frame `n`'s transforms and geometry. Errors are messages about malformed LUTs (the caller
/// adds the file name).
pub(super) fn frame_info(obj: &Obj, n: u32, range: StoredRange) -> Result<FrameInfo, String> {
    let modality = modality_lut(obj, n, range.signed)?;
    if let ModalityLut::Rescale { slope, intercept } = modality {
        let (lo, hi) = range.min_max();
        let reach = (lo * slope + intercept)
            .abs()
            .max((hi * slope + intercept).abs());
        if reach.is_nan() || reach > MAX_MODALITY_MAGNITUDE {
            return Err(format!(
                "Rescale Slope {slope:e} and Intercept {intercept:e} map stored values {lo}..{hi} to \
                 magnitudes up to {reach:.1e}, beyond the {MAX_MODALITY_MAGNITUDE:.0e} the GPU's 32-bit \
                 arithmetic represents"
            ));
        }
    }
    let voi_signed = range.signed
        || match modality {
            ModalityLut::Rescale { slope, intercept } => {
                let (lo, hi) = range.min_max();
                (lo * slope + intercept).min(hi * slope + intercept) < 0.0
            }
            ModalityLut::Table(_) => false,
        };
    Ok(FrameInfo {
        windows: windows(obj, n)?,
        voi_lut: voi_lut(obj, n, voi_signed)?,
        geometry: geometry(obj, n)?,
        modality,
    })
}

fn modality_lut(obj: &Obj, n: u32, signed: bool) -> Result<ModalityLut, String> {
    for src in sources(obj, n, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE) {
        if let Some(item) = attrs::first_item(src, tags::MODALITY_LUT_SEQUENCE) {
            let table =
                parse_lut(item, signed).map_err(|e| format!("Modality LUT Sequence: {e}"))?;
            return Ok(ModalityLut::Table(table));
        }
        let first = |v: Option<Vec<f64>>| v.and_then(|v| v.first().copied());
        let slope = first(attrs::numbers_checked(
            src,
            tags::RESCALE_SLOPE,
            "Rescale Slope",
        )?);
        let intercept = first(attrs::numbers_checked(
            src,
            tags::RESCALE_INTERCEPT,
            "Rescale Intercept",
        )?);
        if slope.is_some() || intercept.is_some() {
            return Ok(ModalityLut::Rescale {
                slope: slope.unwrap_or(1.0),
                intercept: intercept.unwrap_or(0.0),
            });
        }
    }
    Ok(ModalityLut::IDENTITY)
}

fn windows(obj: &Obj, n: u32) -> Result<Vec<Window>, String> {
    for src in sources(obj, n, tags::FRAME_VOILUT_SEQUENCE) {
        let centers = attrs::numbers_checked(src, tags::WINDOW_CENTER, "Window Center")?;
        let widths = attrs::numbers_checked(src, tags::WINDOW_WIDTH, "Window Width")?;
        if let (Some(centers), Some(widths)) = (centers, widths) {
            // An unknown function name falls back to the default, LINEAR.
            let function = attrs::text(src, tags::VOILUT_FUNCTION)
                .and_then(|t| VoiFunction::parse(&t))
                .unwrap_or_default();
            return Ok(centers
                .iter()
                .zip(widths.iter())
                .map(|(&center, &width)| Window {
                    center,
                    width,
                    function,
                })
                .collect());
        }
    }
    Ok(Vec::new())
}

fn voi_lut(obj: &Obj, n: u32, signed: bool) -> Result<Option<LutTable>, String> {
    for src in sources(obj, n, tags::FRAME_VOILUT_SEQUENCE) {
        if let Some(item) = attrs::first_item(src, tags::VOILUT_SEQUENCE) {
            let table = parse_lut(item, signed).map_err(|e| format!("VOI LUT Sequence: {e}"))?;
            return Ok(Some(table));
        }
    }
    Ok(None)
}

fn geometry(obj: &Obj, n: u32) -> Result<Geometry, String> {
    // The first source (per-frame group, shared group, top level) that has the attribute; a present
    // value that is not finite numbers is an error, as for the window and rescale attributes.
    let find =
        |group: Tag, tag: Tag, name: &str, count: usize| -> Result<Option<Vec<f64>>, String> {
            for src in sources(obj, n, group) {
                if let Some(v) = attrs::numbers_checked(src, tag, name)? {
                    if v.len() < count {
                        return Err(format!("{name} has {} values, expected {count}", v.len()));
                    }
                    return Ok(Some(v));
                }
            }
            Ok(None)
        };
    let spacing = match find(
        tags::PIXEL_MEASURES_SEQUENCE,
        tags::PIXEL_SPACING,
        "Pixel Spacing",
        2,
    )? {
        Some(v) => Some(("Pixel Spacing", v)),
        None => attrs::numbers_checked(obj, tags::IMAGER_PIXEL_SPACING, "Imager Pixel Spacing")?
            .map(|v| ("Imager Pixel Spacing", v)),
    };
    // Zero (or negative) spacing is what writers put when the size is unknown (pydicom's CR sample
    // says 0\\0): no spacing, not an error. Commands that need one (stitching by geometry) name it.
    let spacing = spacing.and_then(|(_, v)| match v.as_slice() {
        [r, c, ..] if *r > 0.0 && *c > 0.0 => Some([*r, *c]),
        _ => None,
    });
    let position = find(
        tags::PLANE_POSITION_SEQUENCE,
        tags::IMAGE_POSITION_PATIENT,
        "Image Position (Patient)",
        3,
    )?
    .and_then(|v| <[f64; 3]>::try_from(v.get(..3)?).ok());
    let orientation = find(
        tags::PLANE_ORIENTATION_SEQUENCE,
        tags::IMAGE_ORIENTATION_PATIENT,
        "Image Orientation (Patient)",
        6,
    )?
    .and_then(|v| <[f64; 6]>::try_from(v.get(..6)?).ok());
    Ok(Geometry {
        pixel_spacing: spacing,
        image_position: position,
        image_orientation: orientation,
    })
}

/// Parses one Modality/VOI LUT item: LUT Descriptor (entries, first mapped, bits) and LUT Data.
fn parse_lut(item: &Obj, signed_first: bool) -> Result<LutTable, String> {
    let desc = item
        .get(tags::LUT_DESCRIPTOR)
        .and_then(attrs::element_words)
        .ok_or("LUT Descriptor (0028,3002) is missing or unreadable")?;
    let [count, first, bits] = desc.as_slice() else {
        return Err(format!(
            "LUT Descriptor has {} values, expected 3",
            desc.len()
        ));
    };
    let entries = if *count == 0 {
        65536
    } else {
        usize::from(*count)
    };
    let first_mapped = if signed_first {
        i64::from(*first as i16)
    } else {
        i64::from(*first)
    };
    let bits = u32::from(*bits);
    if !(1..=16).contains(&bits) {
        return Err(format!(
            "LUT Descriptor gives {bits} bits per entry, expected 1 to 16"
        ));
    }
    let words = item
        .get(tags::LUT_DATA)
        .and_then(attrs::element_words)
        .ok_or("LUT Data (0028,3006) is missing or unreadable")?;
    let data: Vec<u16> = if words.len() >= entries {
        words.into_iter().take(entries).collect()
    } else if bits <= 8 && words.len() == entries.div_ceil(2) {
        words
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .take(entries)
            .map(u16::from)
            .collect()
    } else {
        return Err(format!(
            "LUT Data has {} entries, LUT Descriptor says {entries}",
            words.len()
        ));
    };
    Ok(LutTable {
        first_mapped,
        bits,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR};

    fn lut_item(desc: [u16; 3], data: Vec<u16>) -> Obj {
        let mut item = Obj::new_empty();
        item.put(DataElement::new(
            tags::LUT_DESCRIPTOR,
            VR::US,
            PrimitiveValue::U16(desc.into_iter().collect()),
        ));
        item.put(DataElement::new(
            tags::LUT_DATA,
            VR::OW,
            PrimitiveValue::U16(data.into_iter().collect()),
        ));
        item
    }

    #[test]
    fn descriptor_zero_means_65536_and_signed_first() {
        let t = parse_lut(&lut_item([0, 0xFC00, 16], vec![7; 65536]), true).expect("lut");
        assert_eq!(t.data.len(), 65536);
        assert_eq!(t.first_mapped, -1024);
        let t = parse_lut(&lut_item([0, 0xFC00, 16], vec![7; 65536]), false).expect("lut");
        assert_eq!(t.first_mapped, 0xFC00);
    }

    #[test]
    fn packed_8bit_entries_are_unpacked_and_short_data_refused() {
        let t = parse_lut(&lut_item([4, 0, 8], vec![0x0201, 0x0403]), false).expect("lut");
        assert_eq!(t.data, vec![1, 2, 3, 4]);
        assert!(parse_lut(&lut_item([10, 0, 12], vec![1, 2]), false).is_err());
    }

    #[test]
    fn voi_lut_is_signed_when_the_rescale_goes_negative() {
        let mut obj = Obj::new_empty();
        obj.put(DataElement::new(
            tags::RESCALE_INTERCEPT,
            VR::DS,
            PrimitiveValue::from("-1024"),
        ));
        let seq =
            dicom_core::value::DataSetSequence::from(vec![lut_item([2, 0xFC00, 16], vec![0, 1])]);
        obj.put(DataElement::new(tags::VOILUT_SEQUENCE, VR::SQ, seq));
        let range = StoredRange {
            bits_stored: 12,
            signed: false,
        };
        let info = frame_info(&obj, 0, range).expect("info");
        assert_eq!(info.voi_lut.map(|t| t.first_mapped), Some(-1024));
    }
}
