//! The derived objects the DICOM node sends: the demo stitch, the IOD choice, the RGB overlay.

use super::*;

use dicom_dictionary_std::tags;
use radpipe::io::dicom::{
    DerivedDicom, Iod, Photometric, derived_iod, read_dicom, write_derived_rgb,
};
use radpipe::io::raw;

use dicom_object::OpenFileOptions;

/// The demo stitch as the DICOM node sends it: DX For Presentation, MONOCHROME1 with the stations'
/// values, 0.4 mm kept, all three stations referenced, the same UIDs on a rerun.
#[test]
fn demo_stitch_is_dx_for_presentation_with_every_station() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = [station(1), station(2), station(3)];
    let args = |out: &Path| -> Vec<String> {
        let mut a = vec!["stitch".to_string()];
        a.extend(inputs.iter().map(|p| s(p).to_string()));
        a.extend(["-o".to_string(), s(out).to_string()]);
        a
    };
    let run = |out: &Path| {
        let a = args(out);
        run_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    };
    let (a, b, raw_out) = (
        dir.path().join("a.dcm"),
        dir.path().join("b.dcm"),
        dir.path().join("x.raw"),
    );
    run(&a);
    run(&b);
    run(&raw_out);

    let obj = open(&a);
    assert_eq!(attr(&obj, tags::SOP_CLASS_UID), DX);
    assert_eq!(attr(&obj, tags::PHOTOMETRIC_INTERPRETATION), "MONOCHROME1");
    assert_eq!(attr(&obj, tags::PRESENTATION_LUT_SHAPE), "INVERSE");
    assert_eq!(attr(&obj, tags::PIXEL_SPACING), "0.4\\0.4");
    assert_eq!(attr(&obj, tags::IMAGER_PIXEL_SPACING), "0.4\\0.4");
    assert_eq!(attr(&obj, tags::PATIENT_ORIENTATION), "L\\F");
    assert_eq!(attr(&obj, tags::IMAGE_LATERALITY), "U");
    assert_eq!(attr(&obj, tags::BODY_PART_EXAMINED), "CHEST");
    let station_uids: Vec<String> = inputs
        .iter()
        .map(|p| {
            read_dicom(p)
                .expect("station")
                .sop_instance_uid
                .expect("uid")
        })
        .collect();
    let referenced: Vec<String> = obj
        .element(tags::SOURCE_IMAGE_SEQUENCE)
        .expect("source image sequence")
        .items()
        .expect("items")
        .iter()
        .map(|item| attr(item, tags::REFERENCED_SOP_INSTANCE_UID))
        .collect();
    assert_eq!(referenced, station_uids);
    let first = open(&inputs[0]);
    for tag in [
        tags::PATIENT_ID,
        tags::STUDY_INSTANCE_UID,
        tags::ACCESSION_NUMBER,
    ] {
        assert_eq!(attr(&obj, tag), attr(&first, tag), "{tag}");
    }
    assert_ne!(
        attr(&obj, tags::SERIES_INSTANCE_UID),
        attr(&first, tags::SERIES_INSTANCE_UID)
    );
    assert!(attr(&obj, tags::DERIVATION_DESCRIPTION).contains("3 stations"));

    // A rerun: the same object, UIDs included.
    let uid = attr(&obj, tags::SOP_INSTANCE_UID);
    assert!(uid.starts_with("2.25."), "{uid}");
    assert_eq!(attr(&open(&b), tags::SOP_INSTANCE_UID), uid);
    assert_eq!(std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));

    // Pixels: the stitched stored values, as the .raw output has them (MONOCHROME1, not inverted).
    let back = read_dicom(&a).expect("read back");
    assert_eq!(back.photometric, Photometric::Monochrome1);
    let image = back.frame(0).expect("frame");
    let raw_image = raw::read_raw(
        &raw_out,
        image.width,
        image.height,
        image.format(),
        raw::ByteOrder::Little,
    )
    .expect("raw of the DICOM's size");
    assert_eq!(image.pixels, raw_image.pixels, "DICOM pixels = .raw stitch");

    // pydicom reads the same.
    if let Some(python) = python_with_pydicom() {
        let script = "import sys, json, hashlib, pydicom\n\
            ds = pydicom.dcmread(sys.argv[1])\n\
            a = ds.pixel_array.astype('<u2')\n\
            print(json.dumps({'class': ds.SOPClassUID, 'pi': ds.PhotometricInterpretation, \
            'spacing': [float(v) for v in ds.PixelSpacing], \
            'sources': [i.ReferencedSOPInstanceUID for i in ds.SourceImageSequence], \
            'sha256': hashlib.sha256(a.tobytes()).hexdigest()}))";
        let p = pydicom_json(&python, script, &a);
        assert_eq!(p["class"], DX);
        assert_eq!(p["pi"], "MONOCHROME1");
        assert_eq!(p["spacing"], serde_json::json!([0.4, 0.4]));
        assert_eq!(p["sources"], serde_json::json!(station_uids));
        let radpipe::Pixels::U16(values) = &image.pixels else {
            panic!("u16 expected")
        };
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(p["sha256"].as_str(), Some(sha256(&bytes).as_str()));
    } else {
        eprintln!("SKIPPED pydicom check: no Python with pydicom (set RADPIPE_PYTHON)");
    }
}

/// The IOD rules through the library: CR with a spacing → DX; CT, a CR without spacing, no source →
/// Secondary Capture with the reason.
#[test]
fn derived_iod_tells_the_choice() {
    let cr = read_dicom(&station(1)).expect("station");
    let ct = read_dicom(&repo_path("data/demo/ct_small.dcm")).expect("ct");
    let cr0 = read_dicom(&repo_path("data/demo/cr_chest.dcm")).expect("cr");
    let choice = |d: &radpipe::io::dicom::DicomImage| {
        let image = d.frame(0).expect("frame");
        derived_iod(&image, &DerivedDicom::from_source(Some(d), "test")).expect("iod")
    };
    assert_eq!(choice(&cr), (Iod::DxForPresentation, None));
    let (iod, why) = choice(&ct);
    assert_eq!(iod, Iod::SecondaryCapture);
    assert!(why.expect("why").contains("CR or DX"));
    let (iod, why) = choice(&cr0);
    assert_eq!(iod, Iod::SecondaryCapture);
    assert!(why.expect("why").contains("spacing"));
    // Unknown axes: the orientation comes from the image's own Image Orientation; without that
    // too it is unknown, which a DX object cannot say.
    let mut image = cr.frame(0).expect("frame");
    let unknown = DerivedDicom {
        axes: None,
        ..DerivedDicom::from_source(Some(&cr), "test")
    };
    assert_eq!(
        derived_iod(&image, &unknown).expect("iod").0,
        Iod::DxForPresentation
    );
    image.geometry.image_orientation = None;
    let (iod, why) = derived_iod(&image, &unknown).expect("iod");
    assert_eq!(iod, Iod::SecondaryCapture);
    assert!(why.expect("why").contains("Orientation"));
}

/// The RGB Secondary Capture the node sends a segmentation overlay as: valid, the bytes as given,
/// pydicom reads the same image; wrong sizes are refused naming the file.
#[test]
fn rgb_secondary_capture_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = read_dicom(&station(1)).expect("station");
    let (w, h) = (45u32, 21u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let with_source = dir.path().join("overlay.dcm");
    let opts = DerivedDicom::from_source(Some(&source), "corpus callosum outline drawn by radpipe");
    write_derived_rgb(&with_source, w, h, &rgb, &opts).expect("write rgb");
    let bare = dir.path().join("bare.dcm");
    write_derived_rgb(&bare, w, h, &rgb, &DerivedDicom::default()).expect("write rgb");
    for path in [&with_source, &bare] {
        assert_valid(path, "SCImage");
        let obj = open(path);
        assert_eq!(attr(&obj, tags::SOP_CLASS_UID), SC);
        assert_eq!(attr(&obj, tags::PHOTOMETRIC_INTERPRETATION), "RGB");
        assert_eq!(attr(&obj, tags::SAMPLES_PER_PIXEL), "3");
        assert_eq!(attr(&obj, tags::PLANAR_CONFIGURATION), "0");
        let data = obj
            .element(tags::PIXEL_DATA)
            .expect("pixel data")
            .to_bytes()
            .expect("bytes");
        assert_eq!(&data[..rgb.len()], rgb.as_slice());
    }
    let obj = open(&with_source);
    assert_eq!(
        attr(&obj, tags::PATIENT_ID),
        attr(&open(&station(1)), tags::PATIENT_ID)
    );
    let item = &obj
        .element(tags::SOURCE_IMAGE_SEQUENCE)
        .expect("source")
        .items()
        .expect("items")[0];
    assert_eq!(
        attr(item, tags::REFERENCED_SOP_INSTANCE_UID),
        source.sop_instance_uid.clone().expect("uid")
    );
    if let Some(python) = python_with_pydicom() {
        let script = "import sys, json, hashlib, pydicom\n\
            ds = pydicom.dcmread(sys.argv[1])\n\
            a = ds.pixel_array\n\
            print(json.dumps({'shape': list(a.shape), 'sha256': hashlib.sha256(a.tobytes()).hexdigest()}))";
        let p = pydicom_json(&python, script, &with_source);
        assert_eq!(p["shape"], serde_json::json!([h, w, 3]));
        assert_eq!(p["sha256"].as_str(), Some(sha256(&rgb).as_str()));
    } else {
        eprintln!("SKIPPED pydicom check: no Python with pydicom (set RADPIPE_PYTHON)");
    }
    let short = dir.path().join("short.dcm");
    let err = write_derived_rgb(&short, w, h, &rgb[1..], &opts).expect_err("short");
    assert!(err.to_string().contains("short.dcm"), "{err}");
    assert!(write_derived_rgb(&short, 0, h, &[], &opts).is_err());
    assert!(!short.exists());
}

/// A copy of station 1 with Body Part Examined `part` and Image Laterality `side` (absent: `None`).
fn station_with(dir: &Path, name: &str, part: &str, side: Option<&str>) -> PathBuf {
    use dicom_core::{DataElement, VR};
    let mut obj = OpenFileOptions::new()
        .open_file(station(1))
        .expect("open station");
    obj.put(DataElement::new(tags::BODY_PART_EXAMINED, VR::CS, part));
    obj.remove_element(tags::IMAGE_LATERALITY);
    if let Some(l) = side {
        obj.put(DataElement::new(tags::IMAGE_LATERALITY, VR::CS, l));
    }
    let path = dir.join(name);
    obj.write_to_file(&path).expect("write copy");
    path
}

/// Laterality and anatomy decide between DX and SC end to end: a left knee is DX with its side and
/// coded region; a knee of unknown side, or a body part without a code, is Secondary Capture; a
/// left knee written as SC (a perspective warp: orientation unknown) keeps its side in Laterality.
#[test]
fn laterality_and_anatomy_choose_the_iod() {
    let dir = tempfile::tempdir().expect("tempdir");
    let knee_l = station_with(dir.path(), "knee_l.dcm", "KNEE", Some("L"));
    let knee = station_with(dir.path(), "knee.dcm", "KNEE", None);
    let thorax = station_with(dir.path(), "thorax.dcm", "THORAX", None);
    let resize = |input: &Path, name: &str| -> PathBuf {
        let out = dir.path().join(name);
        run_ok(&["resize", s(input), "-o", s(&out), "--size", "220x100"]);
        out
    };
    let out = resize(&knee_l, "knee_l_out.dcm");
    assert_valid(&out, "DXImageForPresentation");
    let obj = open(&out);
    assert_eq!(attr(&obj, tags::IMAGE_LATERALITY), "L");
    let region = &obj
        .element(tags::ANATOMIC_REGION_SEQUENCE)
        .expect("region")
        .items()
        .expect("items")[0];
    assert_eq!(attr(region, tags::CODE_VALUE), "72696002");
    for (input, name) in [(&knee, "knee_out.dcm"), (&thorax, "thorax_out.dcm")] {
        let out = resize(input, name);
        assert_valid(&out, "SCImage");
        assert_eq!(attr(&open(&out), tags::SOP_CLASS_UID), SC, "{name}");
    }
    let warped = dir.path().join("knee_l_warp.dcm");
    run_ok(&[
        "warp",
        s(&knee_l),
        "-o",
        s(&warped),
        "--matrix",
        "1,0,0,0,1,0,0.0001,0,1",
    ]);
    assert_valid(&warped, "SCImage");
    assert_eq!(attr(&open(&warped), tags::LATERALITY), "L");
}
