//! Writing a processed image as a derived DICOM object (Secondary Capture Image Storage), so a result
//! can go back to a PACS next to its source: same patient and study, a new series and instance,
//! `DERIVED\SECONDARY`, and a Source Image Sequence that points at the original.
//!
//! Outputs are deterministic: the same source, pixels and derivation give the same bytes on every
//! run. New UIDs are `2.25.` UUID-form UIDs (PS3.5 B.2) taken from a SHA-256 of what defines the
//! object — the instance from the source instance UID, derivation, pixels and pixel attributes; the
//! series from the source series and the derivation, so every image of a series processed the same
//! way lands in one derived series. No wall-clock time is written: Content Date/Time come from the
//! source's content (or acquisition, or study) date and time, and the optional Instance Creation
//! Date/Time are left out.
//!
//! The data set is built from scratch rather than by editing the source, so nothing of the source's
//! pixel module, private tags or acquisition details leaks into an object whose pixels they no longer
//! describe. Patient and study attributes are copied through the `UN`-aware accessors and written
//! with their dictionary VR. Output is Explicit VR Little Endian, written through
//! [`write_atomic`](crate::io::atomic::write_atomic).

use std::path::Path;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::FileMetaTableBuilder;

use super::attrs::{self, Obj};
use super::{DicomImage, error_chain};
use crate::io::atomic::{ensure_not_input, write_atomic};
use crate::transforms::Window;
use crate::{Error, HostImage, Pixels, Result};

const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// What to write with a derived image besides its pixels and geometry.
#[derive(Debug, Clone, Default)]
pub struct DerivedDicom<'a> {
    /// The image it was derived from: patient and study attributes are copied from it and it is
    /// referenced in the Source Image Sequence. `None` writes empty patient/study attributes and a new
    /// Study Instance UID.
    pub source: Option<&'a DicomImage>,
    /// Derivation Description (0008,2111): what was done to the source.
    pub description: String,
    /// Rescale Slope and Intercept to write (the pixel values map to modality values through them);
    /// `None` writes no rescale attributes.
    pub rescale: Option<(f64, f64)>,
    /// Bits Stored; default 8 for `U8`, 16 for `U16`/`I16`. Every sample must fit in it.
    pub bits_stored: Option<u16>,
    /// Window Center/Width and VOI LUT Function to write.
    pub window: Option<Window>,
}

/// Writes `image` as a derived Secondary Capture DICOM file at `path` (Explicit VR Little Endian).
///
/// Only `U8`, `U16` and `I16` images can be written; `F32` gives [`Error::InvalidParams`], as do a
/// Bits Stored that does not fit the format or the samples, an invalid window or rescale, and a `path`
/// that is the source file itself.
pub fn write_derived_dicom(path: &Path, image: &HostImage, opts: &DerivedDicom<'_>) -> Result<()> {
    if let Some(src) = opts.source {
        ensure_not_input(path, &[src.path.as_path()])?;
    }
    let pixel_module = PixelModule::new(image, opts.bits_stored)?;
    let source = opts.source.map(|s| &s.header);

    let mut obj = Obj::new_empty();
    let mut put = |tag: Tag, vr: VR, value: PrimitiveValue| {
        obj.put(DataElement::new(tag, vr, value));
    };
    let text = |s: &str| PrimitiveValue::from(s.to_string());
    let ds_list = |values: &[f64]| {
        PrimitiveValue::Strs(values.iter().map(|&v| ds(v)).collect::<Vec<_>>().into())
    };

    // SOP Common, General Series, General Image, SC Equipment.
    let source_text = |tag: Tag| source.and_then(|s| attrs::text(s, tag)).unwrap_or_default();
    let sop_instance = derived_uid(
        "instance",
        &[
            source_text(tags::SOP_INSTANCE_UID).as_bytes(),
            opts.description.as_bytes(),
            format!(
                "{}x{} {:?} bits {:?} rescale {:?} window {:?} geometry {:?}",
                image.width,
                image.height,
                image.format(),
                opts.bits_stored,
                opts.rescale,
                opts.window,
                image.geometry
            )
            .as_bytes(),
            pixel_bytes(&image.pixels),
        ],
    );
    let series_uid = derived_uid(
        "series",
        &[
            source_text(tags::SERIES_INSTANCE_UID).as_bytes(),
            source_text(tags::STUDY_INSTANCE_UID).as_bytes(),
            opts.description.as_bytes(),
            // Without a source there is no series to group by: one series per object.
            if source.is_some() {
                b"".as_slice()
            } else {
                sop_instance.as_bytes()
            },
        ],
    );
    put(tags::SPECIFIC_CHARACTER_SET, VR::CS, text("ISO_IR 192"));
    put(
        tags::IMAGE_TYPE,
        VR::CS,
        PrimitiveValue::Strs(vec!["DERIVED".to_string(), "SECONDARY".to_string()].into()),
    );
    put(tags::SOP_CLASS_UID, VR::UI, text(SECONDARY_CAPTURE));
    put(tags::SOP_INSTANCE_UID, VR::UI, text(&sop_instance));
    put(tags::SERIES_INSTANCE_UID, VR::UI, text(&series_uid));
    let content = [
        (tags::CONTENT_DATE, tags::CONTENT_TIME),
        (tags::ACQUISITION_DATE, tags::ACQUISITION_TIME),
        (tags::STUDY_DATE, tags::STUDY_TIME),
    ]
    .into_iter()
    .find_map(|(d, t)| {
        let date = source.and_then(|s| attrs::text(s, d))?;
        Some((date, source.and_then(|s| attrs::text(s, t))))
    });
    if let Some((date, time)) = content {
        put(tags::CONTENT_DATE, VR::DA, text(&date));
        if let Some(time) = time {
            put(tags::CONTENT_TIME, VR::TM, text(&time));
        }
    }
    if let Some(tz) = source.and_then(|s| attrs::text(s, tags::TIMEZONE_OFFSET_FROM_UTC)) {
        put(tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, text(&tz));
    }
    put(tags::CONVERSION_TYPE, VR::CS, text("WSD"));
    put(
        tags::DERIVATION_DESCRIPTION,
        VR::ST,
        text(&opts.description),
    );
    let series_number = source
        .and_then(|s| attrs::int(s, tags::SERIES_NUMBER))
        .map_or(1000, |n| n.saturating_add(1000));
    put(
        tags::SERIES_NUMBER,
        VR::IS,
        text(&series_number.to_string()),
    );
    let instance_number = source
        .and_then(|s| attrs::int(s, tags::INSTANCE_NUMBER))
        .unwrap_or(1);
    put(
        tags::INSTANCE_NUMBER,
        VR::IS,
        text(&instance_number.to_string()),
    );

    // Patient and General Study: copied from the source; type 2 attributes are written even if empty.
    for &(tag, type2) in COPIED {
        let value = source.and_then(|s| attrs::text(s, tag));
        let vr = StandardDataDictionary
            .by_tag(tag)
            .and_then(|e| e.vr().exact())
            .unwrap_or(VR::LO);
        match value {
            Some(v) => put(tag, vr, text(&v)),
            None if type2 => put(tag, vr, PrimitiveValue::Empty),
            None => {}
        }
    }
    if source
        .and_then(|s| attrs::text(s, tags::STUDY_INSTANCE_UID))
        .is_none()
    {
        let study = derived_uid("study", &[sop_instance.as_bytes()]);
        put(tags::STUDY_INSTANCE_UID, VR::UI, text(&study));
    }
    if source
        .and_then(|s| attrs::text(s, tags::MODALITY))
        .is_none()
    {
        put(tags::MODALITY, VR::CS, text("OT"));
    }

    // Image Plane geometry.
    let g = &image.geometry;
    if let Some(v) = g.pixel_spacing.filter(|v| all_finite(v)) {
        put(tags::PIXEL_SPACING, VR::DS, ds_list(&v));
    }
    if let Some(v) = g.image_position.filter(|v| all_finite(v)) {
        put(tags::IMAGE_POSITION_PATIENT, VR::DS, ds_list(&v));
    }
    if let Some(v) = g.image_orientation.filter(|v| all_finite(v)) {
        put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, ds_list(&v));
    }

    // Modality LUT and VOI LUT modules.
    if let Some((slope, intercept)) = opts.rescale {
        if !slope.is_finite() || !intercept.is_finite() || slope == 0.0 {
            return Err(Error::InvalidParams(format!(
                "rescale slope {slope} / intercept {intercept}: need finite values and a non-zero slope"
            )));
        }
        put(tags::RESCALE_INTERCEPT, VR::DS, text(&ds(intercept)));
        put(tags::RESCALE_SLOPE, VR::DS, text(&ds(slope)));
        let kind = source
            .and_then(|s| attrs::text(s, tags::RESCALE_TYPE))
            .unwrap_or_else(|| "US".to_string());
        put(tags::RESCALE_TYPE, VR::LO, text(&kind));
    }
    if let Some(w) = opts.window {
        w.validate()?;
        put(tags::WINDOW_CENTER, VR::DS, text(&ds(w.center)));
        put(tags::WINDOW_WIDTH, VR::DS, text(&ds(w.width)));
        put(tags::VOILUT_FUNCTION, VR::CS, text(w.function.dicom_name()));
    }

    // Image Pixel module.
    let us = |v: u16| PrimitiveValue::from(v);
    put(tags::SAMPLES_PER_PIXEL, VR::US, us(1));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        text("MONOCHROME2"),
    );
    put(tags::ROWS, VR::US, dim(image.height)?);
    put(tags::COLUMNS, VR::US, dim(image.width)?);
    put(
        tags::BITS_ALLOCATED,
        VR::US,
        us(pixel_module.bits_allocated),
    );
    put(tags::BITS_STORED, VR::US, us(pixel_module.bits_stored));
    put(tags::HIGH_BIT, VR::US, us(pixel_module.bits_stored - 1));
    put(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        us(u16::from(pixel_module.signed)),
    );

    // Source Image Sequence: the one image this was derived from.
    if let Some(src) = opts.source {
        let mut item = Obj::new_empty();
        if let Some(class) = &src.sop_class_uid {
            item.put(DataElement::new(
                tags::REFERENCED_SOP_CLASS_UID,
                VR::UI,
                text(class),
            ));
        }
        if let Some(instance) = &src.sop_instance_uid {
            item.put(DataElement::new(
                tags::REFERENCED_SOP_INSTANCE_UID,
                VR::UI,
                text(instance),
            ));
        }
        obj.put(DataElement::new(
            tags::SOURCE_IMAGE_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![item]),
        ));
    }

    let (vr, value) = pixel_module.pixel_data(&image.pixels);
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, value));

    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(EXPLICIT_LE)
                .media_storage_sop_class_uid(SECONDARY_CAPTURE)
                .media_storage_sop_instance_uid(sop_instance.as_str()),
        )
        .map_err(|e| {
            Error::format(
                path,
                format!("cannot build the file meta group: {}", error_chain(&e)),
            )
        })?;
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).map_err(|e| {
        Error::io(
            path,
            std::io::Error::other(format!("cannot encode DICOM: {}", error_chain(&e))),
        )
    })?;
    write_atomic(path, |w| {
        std::io::Write::write_all(w, &bytes).map_err(|e| Error::io(path, e))
    })
}

/// Attributes copied from the source, and whether they are type 2 (present even when empty).
const COPIED: &[(Tag, bool)] = &[
    (tags::PATIENT_NAME, true),
    (tags::PATIENT_ID, true),
    (tags::PATIENT_BIRTH_DATE, true),
    (tags::PATIENT_SEX, true),
    (tags::PATIENT_AGE, false),
    (tags::STUDY_INSTANCE_UID, false),
    (tags::STUDY_DATE, true),
    (tags::STUDY_TIME, true),
    (tags::STUDY_ID, true),
    (tags::ACCESSION_NUMBER, true),
    (tags::REFERRING_PHYSICIAN_NAME, true),
    (tags::STUDY_DESCRIPTION, false),
    (tags::MODALITY, false),
    (tags::BODY_PART_EXAMINED, false),
    (tags::FRAME_OF_REFERENCE_UID, false),
    (tags::LATERALITY, false),
];

/// Bits Allocated/Stored and signedness of the output, checked against the samples.
struct PixelModule {
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
}

impl PixelModule {
    fn new(image: &HostImage, bits_stored: Option<u16>) -> Result<Self> {
        let (bits_allocated, signed) = match &image.pixels {
            Pixels::U8(_) => (8, false),
            Pixels::U16(_) => (16, false),
            Pixels::I16(_) => (16, true),
            Pixels::F32(_) => {
                return Err(Error::InvalidParams(
                    "a derived DICOM holds integer samples (u8, u16, i16); convert the f32 image first"
                        .to_string(),
                ));
            }
        };
        if image.pixels.len() != image.pixel_count() || image.pixel_count() == 0 {
            return Err(Error::InvalidImage(format!(
                "{}x{} image has {} samples",
                image.width,
                image.height,
                image.pixels.len()
            )));
        }
        let bits_stored = bits_stored.unwrap_or(bits_allocated);
        if bits_stored == 0 || bits_stored > bits_allocated {
            return Err(Error::InvalidParams(format!(
                "BitsStored {bits_stored} does not fit {bits_allocated}-bit samples"
            )));
        }
        let (lo, hi) = if signed {
            let half = 1i64 << (bits_stored - 1);
            (-half, half - 1)
        } else {
            (0, (1i64 << bits_stored) - 1)
        };
        if let Some((min, max)) = image.pixels.min_max()
            && (min < lo as f64 || max > hi as f64)
        {
            return Err(Error::InvalidParams(format!(
                "samples range {min}..{max} does not fit BitsStored {bits_stored} ({lo}..{hi})"
            )));
        }
        Ok(PixelModule {
            bits_allocated,
            bits_stored,
            signed,
        })
    }

    /// The Pixel Data element value: OB (padded to even length) for 8-bit, OW for 16-bit.
    fn pixel_data(&self, pixels: &Pixels) -> (VR, PrimitiveValue) {
        match pixels {
            Pixels::U8(v) => {
                let mut bytes = v.clone();
                if bytes.len() % 2 == 1 {
                    bytes.push(0);
                }
                (VR::OB, PrimitiveValue::U8(bytes.into()))
            }
            Pixels::U16(v) => (VR::OW, PrimitiveValue::U16(v.clone().into())),
            Pixels::I16(v) => (
                VR::OW,
                PrimitiveValue::U16(v.iter().map(|&x| x as u16).collect()),
            ),
            // Refused in `new`.
            Pixels::F32(_) => (VR::OW, PrimitiveValue::Empty),
        }
    }
}

fn dim(v: u32) -> Result<PrimitiveValue> {
    u16::try_from(v).map(PrimitiveValue::from).map_err(|_| {
        Error::InvalidImage(format!(
            "{v} pixels is more than a DICOM Rows/Columns value can hold (65535)"
        ))
    })
}

fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// A UID `2.25.<decimal of 128 bits>` (PS3.5 B.2) from a SHA-256 of `kind` and `parts` (each
/// length-prefixed so different splits cannot collide): the same inputs always give the same UID.
fn derived_uid(kind: &str, parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"radpipe derived UID v1\0");
    hash.update(kind.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

/// The samples as bytes (native order; only hashed, never written).
fn pixel_bytes(pixels: &Pixels) -> &[u8] {
    match pixels {
        Pixels::U8(v) => v,
        Pixels::U16(v) => bytemuck::cast_slice(v),
        Pixels::I16(v) => bytemuck::cast_slice(v),
        Pixels::F32(v) => bytemuck::cast_slice(v),
    }
}

/// A Decimal String (at most 16 characters) for `v`: the shortest exact text when it fits, else the
/// closer of the best fixed-point and the best exponent form.
pub(super) fn ds(v: f64) -> String {
    let exact = format!("{v}");
    if exact.len() <= 16 {
        return exact;
    }
    let fixed = (0..=15usize)
        .rev()
        .map(|p| format!("{v:.p$}"))
        .find(|s| s.len() <= 16)
        .map(|s| {
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s
            }
        });
    let exp = (0..=15usize)
        .rev()
        .map(|p| format!("{v:.p$e}"))
        .find(|s| s.len() <= 16);
    let error = |s: &String| s.parse::<f64>().map_or(f64::INFINITY, |x| (x - v).abs());
    match (fixed, exp) {
        (Some(f), Some(e)) => {
            if error(&f) <= error(&e) {
                f
            } else {
                e
            }
        }
        (Some(f), None) => f,
        (None, Some(e)) => e,
        (None, None) => exact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_16_chars() {
        for v in [
            0.1 + 0.2,
            1e-20,
            -1024.0,
            123456789012345678.0,
            -0.000123456789123,
            2.0 / 3.0,
            -1.0e300,
        ] {
            let s = ds(v);
            assert!(s.len() <= 16, "{v} -> {s}");
            let back: f64 = s.parse().expect("parse");
            assert!((back - v).abs() <= v.abs() * 1e-9, "{v} -> {s}");
        }
        assert_eq!(ds(0.5), "0.5");
        assert_eq!(ds(-1024.0), "-1024");
    }

    #[test]
    fn uids_are_2_25_decimal_and_deterministic() {
        let a = derived_uid("instance", &[b"1.2.3", b"window"]);
        let b = derived_uid("instance", &[b"1.2.3", b"windo"]);
        let c = derived_uid("instance", &[b"1.2.3w", b"indow"]);
        assert_eq!(a, derived_uid("instance", &[b"1.2.3", b"window"]));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, derived_uid("series", &[b"1.2.3", b"window"]));
        let digits = a.strip_prefix("2.25.").expect("prefix");
        assert!(digits.chars().all(|c| c.is_ascii_digit()));
        assert!(digits == "0" || !digits.starts_with('0'));
        assert!(a.len() <= 64);
    }
}
