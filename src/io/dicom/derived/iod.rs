//! Which IOD a derived image is written as, and the small coded tables the DX modules need.
//!
//! A PACS files, hangs and measures an image by its SOP class. A derived X-ray image written as
//! Secondary Capture loses that: viewers treat SC as a screenshot (no DX hanging protocols, often no
//! calibrated measurement). So a derived image of CR/DX sources is written as **Digital X-Ray Image
//! Storage – For Presentation** whenever every Type 1 attribute of the DX modules (PS3.3 A.26,
//! C.8.11) can be filled *truthfully* from the sources and the pixels; otherwise — and for non-X-ray
//! sources, raster-only inputs, colour images and label masks — it is Secondary Capture, which asks
//! for nothing it cannot know. The rules, in [`choose`]:
//!
//! | DX needs | because |
//! |---|---|
//! | every source is a DICOM CR or DX image | DX is a projection-radiography IOD |
//! | greyscale, not a label image | DX Image: MONOCHROME1/2 of X-ray intensity |
//! | a usable pixel spacing (finite, > 0) | DX Detector: Imager Pixel Spacing is Type 1, non-zero |
//! | unsigned samples, 6–16 bits stored | DX Image: Pixel Representation 0, Bits Stored 6–16 |
//! | no rescale, or slope 1 / intercept 0 | DX Image: Rescale Slope 1, Intercept 0, Type US |
//! | a known Patient Orientation | DX Image: Type 1 (see [`super::orientation`]) |
//! | a known Image Laterality | DX Anatomy Imaged: Type 1 (source value, or U for an unpaired body part) |
//! | a coded anatomic region when Body Part Examined has a value | dciodvfy refuses an empty Anatomic Region Sequence next to a known body part |

use crate::io::dicom::derived::Samples;

/// Digital X-Ray Image Storage – For Presentation.
pub(super) const DX_FOR_PRESENTATION: &str = "1.2.840.10008.5.1.4.1.1.1.1";
/// Secondary Capture Image Storage.
pub(super) const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";
/// Computed Radiography Image Storage, DX For Presentation / For Processing: sources that are
/// X-ray projection images even when their Modality says otherwise.
const XRAY_SOURCE_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1.1",
];

/// The IOD of a derived object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iod {
    /// Digital X-Ray Image Storage – For Presentation (PS3.3 A.26).
    DxForPresentation,
    /// Secondary Capture Image Storage (PS3.3 A.8.1).
    SecondaryCapture,
}

impl Iod {
    /// The SOP Class UID.
    pub fn sop_class(self) -> &'static str {
        match self {
            Iod::DxForPresentation => DX_FOR_PRESENTATION,
            Iod::SecondaryCapture => SECONDARY_CAPTURE,
        }
    }
}

/// One source as the IOD choice sees it.
#[derive(Debug, Clone, Default)]
pub(super) struct SourceFacts {
    /// Modality (0008,0060).
    pub modality: Option<String>,
    /// SOP Class UID.
    pub sop_class: Option<String>,
}

/// What the IOD choice looks at.
#[derive(Debug, Clone)]
pub(super) struct Facts {
    /// The DICOM sources, first first (raster inputs are not listed).
    pub sources: Vec<SourceFacts>,
    /// Whether any input was not DICOM (a PNG station, say).
    pub raster_input: bool,
    /// RGB samples.
    pub colour: bool,
    /// What the samples are.
    pub samples: Samples,
    /// Output pixel spacing `[row, column]`, mm.
    pub spacing: Option<[f64; 2]>,
    /// Signed samples.
    pub signed: bool,
    /// Bits Stored.
    pub bits_stored: u16,
    /// Rescale slope and intercept to write.
    pub rescale: Option<(f64, f64)>,
    /// Whether the output's Patient Orientation is known.
    pub orientation_known: bool,
    /// Whether its Image Laterality is known.
    pub laterality_known: bool,
    /// Whether its anatomic region can be written: a coded region, or no Body Part Examined at all.
    pub anatomy_known: bool,
}

/// The IOD for `f`, and for Secondary Capture the first DX requirement that failed.
pub(super) fn choose(f: &Facts) -> (Iod, Option<&'static str>) {
    let xray = |s: &SourceFacts| {
        matches!(s.modality.as_deref(), Some("CR" | "DX"))
            || s.sop_class
                .as_deref()
                .is_some_and(|c| XRAY_SOURCE_CLASSES.contains(&c))
    };
    let why = if f.sources.is_empty() || f.raster_input {
        Some("not every input is a DICOM image")
    } else if !f.sources.iter().all(xray) {
        Some("not every source is a CR or DX image")
    } else if f.colour {
        Some("colour image")
    } else if f.samples == Samples::Labels {
        Some("label image")
    } else if !f
        .spacing
        .is_some_and(|s| s.iter().all(|v| v.is_finite() && *v > 0.0))
    {
        Some("no usable pixel spacing")
    } else if f.signed || !(6..=16).contains(&f.bits_stored) {
        Some("DX needs unsigned samples of 6 to 16 bits")
    } else if f.rescale.is_some_and(|r| r != (1.0, 0.0)) {
        Some("DX needs Rescale Slope 1 and Intercept 0")
    } else if !f.orientation_known {
        Some("unknown Patient Orientation")
    } else if !f.laterality_known {
        Some("unknown Image Laterality")
    } else if !f.anatomy_known {
        Some("Body Part Examined has no anatomic region code")
    } else {
        None
    };
    match why {
        None => (Iod::DxForPresentation, None),
        Some(reason) => (Iod::SecondaryCapture, Some(reason)),
    }
}

/// Body Part Examined (0018,0015) defined terms (PS3.16 Annex L) of structures that are not paired:
/// their Image Laterality is U, and General Series Laterality is not required.
pub(super) fn unpaired(body_part: &str) -> bool {
    const UNPAIRED: &[&str] = &[
        "ABDOMEN",
        "ABDOMENPELVIS",
        "BLADDER",
        "BRAIN",
        "CHEST",
        "CHESTABDOMEN",
        "CHESTABDPELVIS",
        "COCCYX",
        "CSPINE",
        "CTSPINE",
        "ESOPHAGUS",
        "HEAD",
        "HEADNECK",
        "HEART",
        "LSPINE",
        "LSSPINE",
        "NECK",
        "NECKCHEST",
        "PELVIS",
        "SACRUM",
        "SKULL",
        "SPINE",
        "SSPINE",
        "STERNUM",
        "STOMACH",
        "TLSPINE",
        "TRACHEA",
        "TSPINE",
        "WHOLEBODY",
    ];
    UNPAIRED.contains(&body_part)
}

/// A coded anatomic region: SNOMED CT code and meaning from CID 4009 "DX Anatomy Imaged".
pub(super) fn anatomic_region(body_part: &str) -> Option<(&'static str, &'static str)> {
    // Body Part Examined → CID 4009 (PS3.16 Annex L gives the correspondence).
    const REGIONS: &[(&str, &str, &str)] = &[
        ("ABDOMEN", "818981001", "Abdomen"),
        ("ABDOMENPELVIS", "818982008", "Abdomen and Pelvis"),
        ("ANKLE", "70258002", "Ankle joint"),
        ("BREAST", "76752008", "Breast"),
        ("CHEST", "816094009", "Chest"),
        ("CHESTABDOMEN", "416550000", "Chest and Abdomen"),
        ("CHESTABDPELVIS", "416775004", "Chest, Abdomen and Pelvis"),
        ("CLAVICLE", "51299004", "Clavicle"),
        ("COCCYX", "64688005", "Coccyx"),
        ("CSPINE", "122494005", "Cervical spine"),
        ("CTSPINE", "1217257000", "Cervico-thoracic spine"),
        ("ELBOW", "16953009", "Elbow joint"),
        ("EXTREMITY", "66019005", "Extremity"),
        ("FEMUR", "71341001", "Femur"),
        ("FINGER", "7569003", "Finger"),
        ("FOOT", "56459004", "Foot"),
        ("FOREARM", "14975008", "Forearm"),
        ("HAND", "85562004", "Hand"),
        ("HEAD", "69536005", "Head"),
        ("HEADNECK", "774007", "Head and Neck"),
        ("HIP", "29836001", "Hip"),
        ("HUMERUS", "85050009", "Humerus"),
        ("KNEE", "72696002", "Knee"),
        ("LEG", "30021000", "Lower leg"),
        ("LSPINE", "122496007", "Lumbar spine"),
        ("LSSPINE", "1217253001", "Lumbo-sacral spine"),
        ("NECK", "45048000", "Neck"),
        ("NECKCHEST", "417437006", "Neck and Chest"),
        ("PATELLA", "64234005", "Patella"),
        ("PELVIS", "816092008", "Pelvis"),
        ("RIB", "113197003", "Rib"),
        ("SACRUM", "54735007", "Sacrum"),
        ("SCAPULA", "79601000", "Scapula"),
        ("SHOULDER", "16982005", "Shoulder"),
        ("SKULL", "89546000", "Skull"),
        ("SPINE", "421060004", "Spine"),
        ("SSPINE", "1217254007", "Sacro-coccygeal Spine"),
        ("STERNUM", "56873002", "Sternum"),
        ("THIGH", "68367000", "Thigh"),
        ("TLSPINE", "1217256009", "Thoraco-lumbar spine"),
        ("TOE", "29707007", "Toe"),
        ("TSPINE", "122495006", "Thoracic spine"),
        ("WHOLEBODY", "38266002", "Entire body"),
        ("WRIST", "74670003", "Wrist joint"),
    ];
    REGIONS
        .iter()
        .find(|(term, _, _)| *term == body_part)
        .map(|&(_, code, meaning)| (code, meaning))
}

/// View Code Sequence code (CID 4010) for a View Position (0018,5101) term, when there is one.
pub(super) fn view_code(view_position: &str) -> Option<(&'static str, &'static str)> {
    match view_position {
        "PA" => Some(("272479007", "postero-anterior")),
        "AP" => Some(("399348003", "antero-posterior")),
        "LL" => Some(("399173006", "left lateral")),
        "RL" => Some(("399198007", "right lateral")),
        _ => None,
    }
}

/// Lossy Image Compression Method (0028,2114) term of a lossy transfer syntax, `None` for the
/// lossless ones.
pub(super) fn lossy_method(transfer_syntax: &str) -> Option<&'static str> {
    match transfer_syntax {
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => Some("ISO_10918_1"),
        "1.2.840.10008.1.2.4.81" => Some("ISO_14495_1"),
        "1.2.840.10008.1.2.4.91" | "1.2.840.10008.1.2.4.203" => Some("ISO_15444_1"),
        ts if ts.starts_with("1.2.840.10008.1.2.4.10") => Some("ISO_13818_2"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cr_stitch() -> Facts {
        Facts {
            sources: vec![
                SourceFacts {
                    modality: Some("CR".into()),
                    sop_class: Some("1.2.840.10008.5.1.4.1.1.1".into()),
                };
                3
            ],
            raster_input: false,
            colour: false,
            samples: Samples::Stored,
            spacing: Some([0.4, 0.4]),
            signed: false,
            bits_stored: 15,
            rescale: None,
            orientation_known: true,
            laterality_known: true,
            anatomy_known: true,
        }
    }

    #[test]
    fn cr_and_dx_sources_with_spacing_give_dx_for_presentation() {
        assert_eq!(choose(&cr_stitch()), (Iod::DxForPresentation, None));
        // DX modality, identity rescale, 8-bit display values.
        let mut f = cr_stitch();
        f.sources[1].modality = Some("DX".into());
        f.rescale = Some((1.0, 0.0));
        f.samples = Samples::Display;
        f.bits_stored = 8;
        assert_eq!(choose(&f).0, Iod::DxForPresentation);
        // A DX For Processing source whose Modality is missing is still an X-ray source.
        let mut f = cr_stitch();
        f.sources[0] = SourceFacts {
            modality: None,
            sop_class: Some("1.2.840.10008.5.1.4.1.1.1.1.1".into()),
        };
        assert_eq!(choose(&f).0, Iod::DxForPresentation);
        assert_eq!(Iod::DxForPresentation.sop_class(), DX_FOR_PRESENTATION);
    }

    #[test]
    fn everything_else_is_secondary_capture_with_a_reason() {
        type Change = fn(&mut Facts);
        let cases: [(Change, &str); 13] = [
            (|f| f.sources.clear(), "DICOM"),
            (|f| f.raster_input = true, "DICOM"),
            (
                |f| {
                    f.sources[2].modality = Some("CT".into());
                    f.sources[2].sop_class = Some("1.2.840.10008.5.1.4.1.1.2".into());
                },
                "CR or DX",
            ),
            (
                |f| {
                    f.sources[0].modality = Some("MG".into());
                    f.sources[0].sop_class = None;
                },
                "CR or DX",
            ),
            (|f| f.colour = true, "colour"),
            (|f| f.samples = Samples::Labels, "label"),
            (|f| f.spacing = None, "spacing"),
            (|f| f.spacing = Some([0.0, 0.0]), "spacing"),
            (|f| f.signed = true, "unsigned"),
            (|f| f.bits_stored = 1, "unsigned"),
            (|f| f.rescale = Some((2.0, -10.0)), "Rescale"),
            (|f| f.orientation_known = false, "Orientation"),
            (|f| f.laterality_known = false, "Laterality"),
        ];
        for (change, want) in cases {
            let mut f = cr_stitch();
            change(&mut f);
            let (iod, why) = choose(&f);
            assert_eq!(iod, Iod::SecondaryCapture, "{f:?}");
            let why = why.expect("a reason");
            assert!(why.contains(want), "{why} should mention {want}");
        }
        let mut f = cr_stitch();
        f.anatomy_known = false;
        assert_eq!(choose(&f).0, Iod::SecondaryCapture);
    }

    #[test]
    fn tables() {
        assert!(unpaired("CHEST") && unpaired("SPINE") && !unpaired("KNEE") && !unpaired(""));
        assert_eq!(anatomic_region("CHEST"), Some(("816094009", "Chest")));
        assert_eq!(anatomic_region("THORAX"), None);
        assert_eq!(view_code("PA").map(|c| c.0), Some("272479007"));
        assert_eq!(view_code("XX"), None);
        assert_eq!(lossy_method("1.2.840.10008.1.2.4.50"), Some("ISO_10918_1"));
        assert_eq!(lossy_method("1.2.840.10008.1.2.4.90"), None);
        assert_eq!(lossy_method("1.2.840.10008.1.2.1"), None);
    }
}
