//! Hand-built files that must read right: `UN` attributes decoded by dictionary VR, files without
//! preamble or meta group, baseline JPEG, deflated explicit VR and enhanced multi-frame functional
//! groups.

use super::*;

#[test]
fn synthetic_un_attributes_are_decoded_by_dictionary_vr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("un.dcm");
    let mut obj = basic_image(2, 3, vec![0, 1, 2, 3, 4, 1000]);
    obj.put(un(tags::ROWS, &2u16.to_le_bytes()));
    obj.put(un(tags::COLUMNS, &3u16.to_le_bytes()));
    obj.put(un(tags::RESCALE_INTERCEPT, b"-1024 "));
    obj.put(un(tags::RESCALE_SLOPE, b"2 "));
    obj.put(un(tags::WINDOW_CENTER, b"40\\400 "));
    obj.put(un(tags::WINDOW_WIDTH, b"400\\1500"));
    obj.put(un(tags::VOILUT_FUNCTION, b"SIGMOID "));
    obj.put(un(tags::PIXEL_SPACING, b"0.5\\0.25"));
    obj.put(un(tags::MODALITY, b"CT"));
    write_file(&path, obj);

    // The trap itself: dicom-rs reads the UN intercept's bytes as numbers.
    let raw = OpenFileOptions::new().open_file(&path).expect("open");
    let naive = raw
        .element(tags::RESCALE_INTERCEPT)
        .expect("elem")
        .to_float64()
        .ok();
    assert!(
        naive != Some(-1024.0),
        "dicom-rs no longer misreads UN: {naive:?}"
    );

    let dicom = read(&path);
    assert_eq!((dicom.width, dicom.height), (3, 2));
    assert_eq!(dicom.modality.as_deref(), Some("CT"));
    assert_eq!(
        dicom.modality_lut(0),
        ModalityLut::Rescale {
            slope: 2.0,
            intercept: -1024.0
        }
    );
    let w = |center, width| Window {
        center,
        width,
        function: VoiFunction::Sigmoid,
    };
    assert_eq!(dicom.windows(0), vec![w(40.0, 400.0), w(400.0, 1500.0)]);
    assert_eq!(dicom.geometry(0).pixel_spacing, Some([0.5, 0.25]));
    assert_eq!(
        dicom.frame(0).expect("frame").pixels,
        Pixels::U16(vec![0, 1, 2, 3, 4, 1000])
    );
    assert_eq!(dicom.modality_range(0), Some((-1024.0, 976.0)));
}

#[test]
fn files_without_preamble_or_meta_group_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = read(&data("mr_small.dcm")).frame(0).expect("frame").pixels;
    // No 128-byte preamble: "DICM" at byte 0.
    let bytes = std::fs::read(data("mr_implicit.dcm")).expect("read");
    let no_preamble = dir.path().join("no_preamble.dcm");
    std::fs::write(&no_preamble, &bytes[128..]).expect("write");
    assert_eq!(read(&no_preamble).frame(0).expect("frame").pixels, expected);
    // No file meta group at all: a bare Implicit VR Little Endian data set.
    let group_len = u32::from_le_bytes([bytes[140], bytes[141], bytes[142], bytes[143]]) as usize;
    assert_eq!(&bytes[132..136], &[2, 0, 0, 0], "meta group length first");
    let bare = dir.path().join("bare.dcm");
    std::fs::write(&bare, &bytes[144 + group_len..]).expect("write");
    let dicom = read(&bare);
    assert_eq!(dicom.frame(0).expect("frame").pixels, expected);
    assert_eq!(dicom.transfer_syntax, "1.2.840.10008.1.2");
}

/// A 16 x 8 8-bit gradient image and its baseline JPEG encoding.
fn jpeg_gradient() -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (16u32, 8u32);
    let pixels: Vec<u8> = (0..w * h)
        .map(|i| ((i % w) * 12 + (i / w) * 8) as u8)
        .collect();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode(&pixels, w, h, image::ExtendedColorType::L8)
        .expect("encode jpeg");
    (pixels, jpeg)
}

fn encapsulated(rows: u16, cols: u16, bits: u16, fragment: Vec<u8>) -> InMemDicomObject {
    let mut obj = basic_image(rows, cols, vec![]);
    obj.put(us(tags::BITS_ALLOCATED, if bits > 8 { 16 } else { 8 }));
    obj.put(us(tags::BITS_STORED, bits));
    obj.put(us(tags::HIGH_BIT, bits - 1));
    let seq = PixelFragmentSequence::new(Vec::<u32>::new(), vec![fragment]);
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        DicomValue::PixelSequence(seq),
    ));
    obj
}

#[test]
fn jpeg_baseline_decodes_and_12_bit_lossy_is_unsupported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (original, jpeg) = jpeg_gradient();
    let path = dir.path().join("jpeg_baseline.dcm");
    write_file_ts(
        &path,
        encapsulated(8, 16, 8, jpeg.clone()),
        "1.2.840.10008.1.2.4.50",
    );
    let dicom = read(&path);
    let Pixels::U8(decoded) = dicom.frame(0).expect("frame").pixels else {
        panic!("expected U8")
    };
    let reference = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
        .expect("decode jpeg")
        .to_luma8()
        .into_raw();
    let max_diff = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max();
    // Two independent decoders of the same stream agree within IDCT rounding; both are near the source.
    assert!(
        max_diff(&decoded, &reference).is_some_and(|d| d <= 2),
        "vs image crate"
    );
    assert!(
        max_diff(&decoded, &original).is_some_and(|d| d <= 12),
        "vs original"
    );

    // The same stream relabelled as 12-bit extended (SOF1, precision 12): jpeg-decoder refuses it.
    let mut twelve = jpeg;
    let sof = twelve
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    twelve[sof + 1] = 0xC1;
    twelve[sof + 4] = 12;
    let path = dir.path().join("jpeg_12bit.dcm");
    write_file_ts(
        &path,
        encapsulated(8, 16, 12, twelve),
        "1.2.840.10008.1.2.4.51",
    );
    let err = assert_names_file(
        read_dicom(&path),
        &path,
        "JPEG Extended (12-bit) (1.2.840.10008.1.2.4.51)",
    );
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");

    // JPEG-LS needs CharLS (C++), which this build leaves out: refused naming the transfer syntax.
    let path = dir.path().join("jpeg_ls.dcm");
    write_file_ts(
        &path,
        encapsulated(8, 16, 8, vec![0xFF, 0xD8, 0xFF, 0xD9]),
        "1.2.840.10008.1.2.4.80",
    );
    let err = assert_names_file(
        read_dicom(&path),
        &path,
        "JPEG-LS Lossless (1.2.840.10008.1.2.4.80)",
    );
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
}

#[test]
fn deflated_explicit_vr_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deflated.dcm");
    let pixels: Vec<u16> = (0..64).map(|i| i * 1000).collect();
    write_file_ts(
        &path,
        basic_image(8, 8, pixels.clone()),
        "1.2.840.10008.1.2.1.99",
    );
    let dicom = read(&path);
    assert_eq!(dicom.transfer_syntax, "1.2.840.10008.1.2.1.99");
    assert_eq!(dicom.frame(0).expect("frame").pixels, Pixels::U16(pixels));
}

#[test]
fn functional_groups_give_per_frame_transforms_and_geometry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("enhanced.dcm");
    let mut obj = basic_image(2, 2, (0..8).collect());
    obj.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from("2"),
    ));
    obj.put(seq(
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![item(vec![
            seq(
                tags::PIXEL_MEASURES_SEQUENCE,
                vec![item(vec![ds(tags::PIXEL_SPACING, "0.7\\0.8")])],
            ),
            seq(
                tags::PLANE_ORIENTATION_SEQUENCE,
                vec![item(vec![ds(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    "1\\0\\0\\0\\1\\0",
                )])],
            ),
        ])],
    ));
    let frame = |intercept: &str, z: &str, center: &str| {
        item(vec![
            seq(
                tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                vec![item(vec![
                    ds(tags::RESCALE_INTERCEPT, intercept),
                    ds(tags::RESCALE_SLOPE, "2"),
                ])],
            ),
            seq(
                tags::PLANE_POSITION_SEQUENCE,
                vec![item(vec![ds(
                    tags::IMAGE_POSITION_PATIENT,
                    &format!("0\\0\\{z}"),
                )])],
            ),
            seq(
                tags::FRAME_VOILUT_SEQUENCE,
                vec![item(vec![
                    ds(tags::WINDOW_CENTER, center),
                    ds(tags::WINDOW_WIDTH, "100"),
                ])],
            ),
        ])
    };
    obj.put(seq(
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![frame("-10", "5", "20"), frame("-20", "7.5", "30")],
    ));
    write_file(&path, obj);

    let dicom = read(&path);
    assert_eq!(dicom.frames, 2);
    assert_eq!(
        dicom.modality_lut(0),
        ModalityLut::Rescale {
            slope: 2.0,
            intercept: -10.0
        }
    );
    assert_eq!(
        dicom.modality_lut(1),
        ModalityLut::Rescale {
            slope: 2.0,
            intercept: -20.0
        }
    );
    assert_eq!(dicom.windows(1)[0].center, 30.0);
    assert_eq!(dicom.windows(0)[0].center, 20.0);
    let g1 = dicom.geometry(1);
    assert_eq!(g1.pixel_spacing, Some([0.7, 0.8]));
    assert_eq!(g1.image_position, Some([0.0, 0.0, 7.5]));
    assert_eq!(g1.image_orientation, Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]));
    assert_eq!(dicom.frame(1).expect("frame").geometry, g1);
    assert_eq!(
        dicom.frame(1).expect("frame").pixels,
        Pixels::U16(vec![4, 5, 6, 7])
    );
    assert_eq!(dicom.modality_range(1), Some((-12.0, -6.0)));
}
