//! The derived-DICOM writer: round trip of pixels and geometry with new UIDs and the patient/study
//! copied, the output formats, and what it refuses.

use super::*;

fn attr(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.element(tag)
        .map(|e| {
            e.to_str()
                .expect("text")
                .trim_end_matches(['\0', ' '])
                .to_string()
        })
        .unwrap_or_default()
}

/// A parameter error about `path`: refused before anything is written, naming the output.
fn refused_for(err: &Error, path: &Path) -> bool {
    matches!(err, Error::InFile { path: p, source } if p == path && matches!(**source, Error::InvalidParams(_)))
}

#[test]
fn derived_dicom_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source_path = data("ct_small.dcm");
    let before = std::fs::read(&source_path).expect("read source");
    let source = read(&source_path);
    let mut image = source.frame(0).expect("frame");
    image.geometry = Geometry {
        pixel_spacing: Some([0.661468, 0.661468]),
        image_position: Some([-158.135803, -179.035797, -75.699997]),
        image_orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
    };
    let window = Window {
        center: 40.0,
        width: 400.0,
        function: VoiFunction::LinearExact,
    };
    let out = dir.path().join("derived.dcm");
    let opts = DerivedDicom {
        rescale: Some((1.0, -1024.0)),
        window: Some(window),
        ..DerivedDicom::from_source(Some(&source), "radpipe test: identity")
    };
    write_derived_dicom(&out, &image, &opts).expect("write derived");

    let back = read(&out);
    assert_eq!(
        (back.width, back.height, back.frames),
        (source.width, source.height, 1)
    );
    assert_eq!(
        (
            back.bits_allocated,
            back.bits_stored,
            back.high_bit,
            back.signed
        ),
        (16, 16, 15, true)
    );
    assert_eq!(back.photometric, Photometric::Monochrome2);
    assert_eq!(back.transfer_syntax, "1.2.840.10008.1.2.1");
    let read_back = back.frame(0).expect("frame");
    assert_eq!(read_back.pixels, image.pixels);
    assert_eq!(read_back.geometry, image.geometry);
    assert_eq!(
        back.modality_lut(0),
        ModalityLut::Rescale {
            slope: 1.0,
            intercept: -1024.0
        }
    );
    assert_eq!(back.windows(0), vec![window]);
    assert_eq!(
        back.sop_class_uid.as_deref(),
        Some("1.2.840.10008.5.1.4.1.1.7")
    );
    let sop = back.sop_instance_uid.clone().expect("sop instance");
    assert!(
        sop.starts_with("2.25.") && Some(&sop) != source.sop_instance_uid.as_ref(),
        "{sop}"
    );
    assert_eq!(back.modality, source.modality);

    let src = OpenFileOptions::new()
        .open_file(&source_path)
        .expect("open source");
    let obj = OpenFileOptions::new()
        .open_file(&out)
        .expect("open derived");
    assert_eq!(
        obj.meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0'),
        sop
    );
    let image_type = attr(&obj, tags::IMAGE_TYPE);
    assert!(image_type.starts_with("DERIVED\\SECONDARY"), "{image_type}");
    for tag in [
        tags::PATIENT_ID,
        tags::PATIENT_NAME,
        tags::STUDY_INSTANCE_UID,
        tags::STUDY_DATE,
        tags::FRAME_OF_REFERENCE_UID,
    ] {
        assert_eq!(attr(&obj, tag), attr(&src, tag), "{tag}");
    }
    assert!(!attr(&src, tags::PATIENT_ID).is_empty());
    let series = attr(&obj, tags::SERIES_INSTANCE_UID);
    assert!(
        series.starts_with("2.25.")
            && series != attr(&src, tags::SERIES_INSTANCE_UID)
            && series != sop
    );
    assert_eq!(
        attr(&obj, tags::DERIVATION_DESCRIPTION),
        "radpipe test: identity"
    );
    assert_eq!(attr(&obj, tags::CONVERSION_TYPE), "WSD");
    let item = &obj
        .element(tags::SOURCE_IMAGE_SEQUENCE)
        .expect("source seq")
        .items()
        .expect("items")[0];
    assert_eq!(
        attr(item, tags::REFERENCED_SOP_INSTANCE_UID),
        attr(&src, tags::SOP_INSTANCE_UID)
    );
    assert_eq!(
        attr(item, tags::REFERENCED_SOP_CLASS_UID),
        attr(&src, tags::SOP_CLASS_UID)
    );

    assert_eq!(
        std::fs::read(&source_path).expect("reread source"),
        before,
        "source modified"
    );
    let err = write_derived_dicom(&source_path, &image, &opts).expect_err("overwrite source");
    assert!(matches!(err, Error::InvalidParams(_)), "{err}");
    assert_eq!(
        std::fs::read(&source_path).expect("reread source"),
        before,
        "source modified"
    );
}

#[test]
fn derived_dicom_formats_and_refusals() {
    let dir = tempfile::tempdir().expect("tempdir");
    // U8 with an odd pixel count (padded Pixel Data), no source.
    let u8_img = HostImage::new(3, 3, Pixels::U8((0..9).map(|v| v * 20).collect())).expect("img");
    let out = dir.path().join("u8.dcm");
    write_derived_dicom(&out, &u8_img, &DerivedDicom::default()).expect("write u8");
    let back = read(&out);
    assert_eq!(back.frame(0).expect("frame").pixels, u8_img.pixels);
    assert_eq!(
        (back.bits_allocated, back.bits_stored, back.signed),
        (8, 8, false)
    );
    assert_eq!(back.modality.as_deref(), Some("OT"));
    assert!(back.windows(0).is_empty() && back.modality_lut(0) == ModalityLut::IDENTITY);

    // U16 with 12 bits stored.
    let u16_img = HostImage::new(2, 2, Pixels::U16(vec![0, 1, 4094, 4095]))
        .expect("img")
        .with_geometry(Geometry::with_spacing(0.1 + 0.2, 1e-20));
    let out = dir.path().join("u16.dcm");
    let opts = DerivedDicom {
        bits_stored: Some(12),
        ..DerivedDicom::default()
    };
    write_derived_dicom(&out, &u16_img, &opts).expect("write u16");
    let back = read(&out);
    assert_eq!((back.bits_stored, back.high_bit), (12, 11));
    assert_eq!(back.frame(0).expect("frame").pixels, u16_img.pixels);
    let [r, c] = back.geometry(0).pixel_spacing.expect("spacing");
    assert!(
        (r - 0.3).abs() < 1e-12 && (c / 1e-20 - 1.0).abs() < 1e-9,
        "{r} {c}"
    );

    let too_big = HostImage::new(2, 1, Pixels::U16(vec![0, 4096])).expect("img");
    let err = write_derived_dicom(&dir.path().join("x.dcm"), &too_big, &opts)
        .expect_err("4096 in 12 bits");
    assert!(refused_for(&err, &dir.path().join("x.dcm")), "{err}");
    let f32_img = HostImage::new(1, 1, Pixels::F32(vec![0.5])).expect("img");
    let err = write_derived_dicom(
        &dir.path().join("f.dcm"),
        &f32_img,
        &DerivedDicom::default(),
    )
    .expect_err("f32");
    assert!(refused_for(&err, &dir.path().join("f.dcm")), "{err}");
    assert!(!dir.path().join("x.dcm").exists() && !dir.path().join("f.dcm").exists());
    let bad_window = DerivedDicom {
        window: Some(Window {
            center: 0.0,
            width: 0.0,
            function: VoiFunction::Linear,
        }),
        ..DerivedDicom::default()
    };
    assert!(write_derived_dicom(&dir.path().join("w.dcm"), &u8_img, &bad_window).is_err());
}
