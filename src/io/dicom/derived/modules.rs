//! The attribute groups of a derived object, one function per PS3.3 module (or group of small
//! modules). They only put elements; what goes in — IOD, photometric interpretation, orientation,
//! laterality — is decided in `mod.rs` and passed in a [`Plan`].
//!
//! Values copied from a source go through the `UN`-aware accessors and are written with their
//! dictionary VR, so a source that encoded them as `UN` still gives a well-formed output.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};

use super::iod::{self, Iod};
use super::uids::ds;
use crate::io::dicom::DicomImage;
use crate::io::dicom::attrs::{self, Obj};
use crate::transforms::Window;

/// What the writer decided for one object.
pub(super) struct Plan<'a> {
    pub iod: Iod,
    pub sources: &'a [&'a DicomImage],
    /// Frame of each source that was used (0-based).
    pub frame: u32,
    pub photometric: &'static str,
    pub sop_instance: String,
    pub series_uid: String,
    pub description: &'a str,
    /// Patient Orientation, when known.
    pub orientation: Option<String>,
    /// Image Laterality (DX), when known.
    pub image_laterality: Option<String>,
    /// Anatomic region: code value, coding scheme, meaning.
    pub anatomy: Option<(String, String, String)>,
}

impl Plan<'_> {
    /// The first source's data set.
    pub fn first(&self) -> Option<&Obj> {
        self.sources.first().map(|s| &s.header)
    }
    fn first_text(&self, tag: Tag) -> Option<String> {
        self.first().and_then(|h| attrs::text(h, tag))
    }
}

/// Puts `tag` = `value` (text) with `vr`.
pub(super) fn put(obj: &mut Obj, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::from(value.to_string()),
    ));
}

/// Puts a present-but-empty (type 2) `tag`.
pub(super) fn put_empty(obj: &mut Obj, tag: Tag, vr: VR) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
}

/// Puts a US value.
pub(super) fn put_us(obj: &mut Obj, tag: Tag, v: u16) {
    obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
}

/// Puts a multi-valued DS.
pub(super) fn put_ds(obj: &mut Obj, tag: Tag, values: &[f64]) {
    let strs: Vec<String> = values.iter().map(|&v| ds(v)).collect();
    obj.put(DataElement::new(
        tag,
        VR::DS,
        PrimitiveValue::Strs(strs.into()),
    ));
}

fn put_seq(obj: &mut Obj, tag: Tag, items: Vec<Obj>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

fn dictionary_vr(tag: Tag) -> VR {
    StandardDataDictionary
        .by_tag(tag)
        .and_then(|e| e.vr().exact())
        .unwrap_or(VR::LO)
}

/// Copies `tag` from `from`; when absent, writes it empty if `type2`.
fn copy(obj: &mut Obj, from: Option<&Obj>, tag: Tag, type2: bool) {
    let vr = dictionary_vr(tag);
    match from.and_then(|s| attrs::text(s, tag)) {
        Some(v) => put(obj, tag, vr, &v),
        None if type2 => put_empty(obj, tag, vr),
        None => {}
    }
}

/// A Code Sequence Macro item.
fn code_item(value: &str, scheme: &str, meaning: &str) -> Obj {
    let mut item = Obj::new_empty();
    put(&mut item, tags::CODE_VALUE, VR::SH, value);
    put(&mut item, tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
    put(&mut item, tags::CODE_MEANING, VR::LO, meaning);
    item
}

/// Patient and General Study, copied from the first source (and whether each is type 2).
const PATIENT_STUDY: &[(Tag, bool)] = &[
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
];

/// SOP Common, Patient, General Study, General Series (with DX Series), Frame of Reference,
/// General Equipment and SC Equipment.
pub(super) fn common(obj: &mut Obj, plan: &Plan<'_>) {
    let first = plan.first();
    put(obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    put(obj, tags::SOP_CLASS_UID, VR::UI, plan.iod.sop_class());
    put(obj, tags::SOP_INSTANCE_UID, VR::UI, &plan.sop_instance);
    for &(tag, type2) in PATIENT_STUDY {
        copy(obj, first, tag, type2);
    }
    if plan.first_text(tags::STUDY_INSTANCE_UID).is_none() {
        let study = super::uids::derived_uid("study", &[plan.sop_instance.as_bytes()]);
        put(obj, tags::STUDY_INSTANCE_UID, VR::UI, &study);
    }

    // General Series.
    put(obj, tags::SERIES_INSTANCE_UID, VR::UI, &plan.series_uid);
    let series_number = first
        .and_then(|s| attrs::int(s, tags::SERIES_NUMBER))
        .map_or(1000, |n| n.saturating_add(1000));
    put(obj, tags::SERIES_NUMBER, VR::IS, &series_number.to_string());
    let modality = match plan.iod {
        Iod::DxForPresentation => "DX".to_string(),
        Iod::SecondaryCapture => plan
            .first_text(tags::MODALITY)
            .unwrap_or_else(|| "OT".to_string()),
    };
    put(obj, tags::MODALITY, VR::CS, &modality);
    let body_part = plan.first_text(tags::BODY_PART_EXAMINED);
    if let Some(part) = &body_part {
        put(obj, tags::BODY_PART_EXAMINED, VR::CS, part);
    }
    // Laterality (Type 2C): required for a paired body part unless Image Laterality is sent; empty
    // means "unknown", which it is when neither the source nor the body part says.
    // Secondary Capture has no Image Laterality, so a side the source gave there moves here.
    let dx = plan.iod == Iod::DxForPresentation;
    let side = |l: &String| matches!(l.as_str(), "R" | "L");
    let laterality = plan
        .first_text(tags::LATERALITY)
        .filter(side)
        .or_else(|| plan.image_laterality.clone().filter(|l| !dx && side(l)));
    match laterality {
        Some(l) => put(obj, tags::LATERALITY, VR::CS, &l),
        None if dx && plan.image_laterality.is_some() => {}
        None if body_part.as_deref().is_some_and(iod::unpaired) => {}
        None => put_empty(obj, tags::LATERALITY, VR::CS),
    }
    if plan.iod == Iod::DxForPresentation {
        put(
            obj,
            tags::PRESENTATION_INTENT_TYPE,
            VR::CS,
            "FOR PRESENTATION",
        );
    }

    // Frame of Reference: kept so the position and orientation written below stay meaningful.
    if let Some(uid) = plan.first_text(tags::FRAME_OF_REFERENCE_UID) {
        put(obj, tags::FRAME_OF_REFERENCE_UID, VR::UI, &uid);
        if plan.iod == Iod::DxForPresentation {
            copy(obj, first, tags::POSITION_REFERENCE_INDICATOR, true);
        }
    }

    // General Equipment describes what made this object: radpipe, not the acquisition device.
    let version = env!("CARGO_PKG_VERSION");
    put(obj, tags::MANUFACTURER, VR::LO, "radpipe");
    put(obj, tags::SOFTWARE_VERSIONS, VR::LO, version);
    if plan.iod == Iod::SecondaryCapture {
        put(obj, tags::CONVERSION_TYPE, VR::CS, "WSD");
        put(
            obj,
            tags::SECONDARY_CAPTURE_DEVICE_MANUFACTURER,
            VR::LO,
            "radpipe",
        );
        put(
            obj,
            tags::SECONDARY_CAPTURE_DEVICE_SOFTWARE_VERSIONS,
            VR::LO,
            version,
        );
    }
}

/// General Image: numbers, dates, Image Type, Patient Orientation, derivation, the Source Image
/// Sequence naming every source, and the lossy-compression and burned-in-annotation flags that
/// follow the pixels from their sources.
pub(super) fn general_image(obj: &mut Obj, plan: &Plan<'_>) {
    let first = plan.first();
    let instance_number = first
        .and_then(|s| attrs::int(s, tags::INSTANCE_NUMBER))
        .unwrap_or(1);
    put(
        obj,
        tags::INSTANCE_NUMBER,
        VR::IS,
        &instance_number.to_string(),
    );
    let image_type = PrimitiveValue::Strs(vec!["DERIVED".into(), "SECONDARY".into()].into());
    obj.put(DataElement::new(tags::IMAGE_TYPE, VR::CS, image_type));
    match &plan.orientation {
        Some(po) => put(obj, tags::PATIENT_ORIENTATION, VR::CS, po),
        None => put_empty(obj, tags::PATIENT_ORIENTATION, VR::CS),
    }
    // No wall-clock time: the content date and time are the source's.
    let content = [
        (tags::CONTENT_DATE, tags::CONTENT_TIME),
        (tags::ACQUISITION_DATE, tags::ACQUISITION_TIME),
        (tags::STUDY_DATE, tags::STUDY_TIME),
    ]
    .into_iter()
    .find_map(|(d, t)| Some((plan.first_text(d)?, plan.first_text(t))));
    if let Some((date, time)) = content {
        put(obj, tags::CONTENT_DATE, VR::DA, &date);
        if let Some(time) = time {
            put(obj, tags::CONTENT_TIME, VR::TM, &time);
        }
    }
    if let Some(tz) = plan.first_text(tags::TIMEZONE_OFFSET_FROM_UTC) {
        put(obj, tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, &tz);
    }
    put(obj, tags::DERIVATION_DESCRIPTION, VR::ST, plan.description);

    let items: Vec<Obj> = plan
        .sources
        .iter()
        .filter_map(|src| {
            let (class, instance) = (src.sop_class_uid.as_ref()?, src.sop_instance_uid.as_ref()?);
            let mut item = Obj::new_empty();
            put(&mut item, tags::REFERENCED_SOP_CLASS_UID, VR::UI, class);
            put(
                &mut item,
                tags::REFERENCED_SOP_INSTANCE_UID,
                VR::UI,
                instance,
            );
            if src.frames > 1 {
                let number = plan.frame.saturating_add(1).to_string();
                put(&mut item, tags::REFERENCED_FRAME_NUMBER, VR::IS, &number);
            }
            let purpose = code_item(
                "121322",
                "DCM",
                "Source image for image processing operation",
            );
            put_seq(
                &mut item,
                tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                vec![purpose],
            );
            Some(item)
        })
        .collect();
    if !items.is_empty() {
        put_seq(obj, tags::SOURCE_IMAGE_SEQUENCE, items);
    }

    if !plan.sources.is_empty() {
        // Lossy once, lossy for ever (PS3.3 C.7.6.1.1.5).
        let lossy = plan.sources.iter().find_map(|s| {
            let flag = attrs::text(&s.header, tags::LOSSY_IMAGE_COMPRESSION);
            let method = iod::lossy_method(&s.transfer_syntax);
            match flag.as_deref() {
                Some("01") => Some((s, method)),
                Some(_) => None,
                None => method.map(|m| (s, Some(m))),
            }
        });
        match lossy {
            Some((src, method)) => {
                put(obj, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "01");
                let header = Some(&src.header);
                copy(obj, header, tags::LOSSY_IMAGE_COMPRESSION_RATIO, false);
                match attrs::text(&src.header, tags::LOSSY_IMAGE_COMPRESSION_METHOD) {
                    Some(m) => put(obj, tags::LOSSY_IMAGE_COMPRESSION_METHOD, VR::CS, &m),
                    None => {
                        if let Some(m) = method {
                            put(obj, tags::LOSSY_IMAGE_COMPRESSION_METHOD, VR::CS, m);
                        }
                    }
                }
            }
            None => put(obj, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
        }
        let flags: Vec<String> = plan
            .sources
            .iter()
            .filter_map(|s| attrs::text(&s.header, tags::BURNED_IN_ANNOTATION))
            .collect();
        // DX needs the flag (Type 1): radpipe draws no text, so only a source's YES makes it YES.
        if flags.iter().any(|f| f == "YES") {
            put(obj, tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
        } else if !flags.is_empty() || plan.iod == Iod::DxForPresentation {
            put(obj, tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
        }
    }
}

/// Window Center/Width and VOI LUT Function.
pub(super) fn voi(obj: &mut Obj, w: &Window) {
    put(obj, tags::WINDOW_CENTER, VR::DS, &ds(w.center));
    put(obj, tags::WINDOW_WIDTH, VR::DS, &ds(w.width));
    put(obj, tags::VOILUT_FUNCTION, VR::CS, w.function.dicom_name());
}

/// The DX modules besides DX Series (in [`common`]): DX Anatomy Imaged, DX Image, DX Detector, DX
/// Positioning (when the source had a view) and Acquisition Context. `spacing` is the output's;
/// `source_spacing` the first source's, which scales its Imager Pixel Spacing. Pixel Spacing is
/// written unless the source's spacing was its Imager Pixel Spacing alone.
pub(super) fn dx(
    obj: &mut Obj,
    plan: &Plan<'_>,
    spacing: [f64; 2],
    source_spacing: Option<[f64; 2]>,
) {
    let first = plan.first();
    // DX Anatomy Imaged.
    if let Some(l) = &plan.image_laterality {
        put(obj, tags::IMAGE_LATERALITY, VR::CS, l);
    }
    let region = plan
        .anatomy
        .iter()
        .map(|(value, scheme, meaning)| code_item(value, scheme, meaning))
        .collect();
    put_seq(obj, tags::ANATOMIC_REGION_SEQUENCE, region);

    // DX Image (the pixel-module part and the VOI are written with the Image Pixel module).
    put(obj, tags::RESCALE_INTERCEPT, VR::DS, "0");
    put(obj, tags::RESCALE_SLOPE, VR::DS, "1");
    put(obj, tags::RESCALE_TYPE, VR::LO, "US");
    // Only LIN and LOG are allowed; CR/DX raw data are conventionally logarithmic, and a window or
    // histogram map of them stays closest to that.
    let relationship = plan
        .first_text(tags::PIXEL_INTENSITY_RELATIONSHIP)
        .filter(|r| matches!(r.as_str(), "LIN" | "LOG"))
        .unwrap_or_else(|| "LOG".to_string());
    put(
        obj,
        tags::PIXEL_INTENSITY_RELATIONSHIP,
        VR::CS,
        &relationship,
    );
    // +1: lower values mean less X-ray intensity (displayed white under MONOCHROME1). The source's
    // sign holds while the samples keep its photometric interpretation; an inversion flips it.
    let source_photometric = plan.sources.first().map(|s| s.photometric);
    let kept = source_photometric.is_none_or(|p| {
        (p == crate::io::dicom::Photometric::Monochrome1) == (plan.photometric == "MONOCHROME1")
    });
    let conventional: i16 = if plan.photometric == "MONOCHROME1" {
        1
    } else {
        -1
    };
    let sign = first
        .and_then(|s| attrs::int(s, tags::PIXEL_INTENSITY_RELATIONSHIP_SIGN))
        .filter(|s| *s == 1 || *s == -1)
        .map_or(conventional, |s| if kept { s as i16 } else { -s as i16 });
    obj.put(DataElement::new(
        tags::PIXEL_INTENSITY_RELATIONSHIP_SIGN,
        VR::SS,
        PrimitiveValue::from(sign),
    ));
    let shape = if plan.photometric == "MONOCHROME1" {
        "INVERSE"
    } else {
        "IDENTITY"
    };
    put(obj, tags::PRESENTATION_LUT_SHAPE, VR::CS, shape);

    // DX Detector: Imager Pixel Spacing is at the detector, so it scales with the output's spacing.
    let ips = first
        .and_then(|s| attrs::numbers(s, tags::IMAGER_PIXEL_SPACING))
        .filter(|v| v.len() == 2 && v.iter().all(|x| x.is_finite() && *x > 0.0));
    let imager = match (&ips, source_spacing) {
        (Some(ips), Some(src)) if src.iter().all(|v| *v > 0.0) => {
            [ips[0] * spacing[0] / src[0], ips[1] * spacing[1] / src[1]]
        }
        _ => spacing,
    };
    put_ds(obj, tags::IMAGER_PIXEL_SPACING, &imager);
    // The output's spacing is the detector's only when the source's came from its Imager Pixel
    // Spacing alone; then writing it as Pixel Spacing would claim a calibration nobody made.
    let source_has_ps = first
        .and_then(|s| attrs::numbers(s, tags::PIXEL_SPACING))
        .is_some_and(|v| v.len() == 2 && v.iter().all(|x| *x > 0.0));
    if source_has_ps || ips.is_none() {
        put_ds(obj, tags::PIXEL_SPACING, &spacing);
        if let Some(kind) = plan.first_text(tags::PIXEL_SPACING_CALIBRATION_TYPE)
            && let Some(text) = plan.first_text(tags::PIXEL_SPACING_CALIBRATION_DESCRIPTION)
        {
            put(obj, tags::PIXEL_SPACING_CALIBRATION_TYPE, VR::CS, &kind);
            put(
                obj,
                tags::PIXEL_SPACING_CALIBRATION_DESCRIPTION,
                VR::LO,
                &text,
            );
        }
    }
    match plan
        .first_text(tags::DETECTOR_TYPE)
        .filter(|t| matches!(t.as_str(), "DIRECT" | "SCINTILLATOR" | "STORAGE" | "FILM"))
    {
        Some(t) => put(obj, tags::DETECTOR_TYPE, VR::CS, &t),
        None => put_empty(obj, tags::DETECTOR_TYPE, VR::CS),
    }

    // DX Positioning, only to carry the source's view (hanging protocols use it).
    if let Some(view) = plan.first_text(tags::VIEW_POSITION) {
        put(obj, tags::VIEW_POSITION, VR::CS, &view);
        if let Some((code, meaning)) = iod::view_code(&view) {
            put_seq(
                obj,
                tags::VIEW_CODE_SEQUENCE,
                vec![code_item(code, "SCT", meaning)],
            );
        }
        match plan.first_text(tags::POSITIONER_TYPE) {
            Some(t) => put(obj, tags::POSITIONER_TYPE, VR::CS, &t),
            None => put_empty(obj, tags::POSITIONER_TYPE, VR::CS),
        }
    }

    // Acquisition Context (Type 2, nothing known to put in it).
    put_seq(obj, tags::ACQUISITION_CONTEXT_SEQUENCE, Vec::new());
}
