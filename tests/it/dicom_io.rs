//! DICOM reader and derived-DICOM writer against pydicom and against hand-built trap files.
//!
//! - Every codec input (native LE/BE/implicit, RLE, JPEG 2000 lossless and lossy, explicit-VR-UN) decodes
//!   to pydicom 3.0.2's stored values exactly (SHA-256 of the int32 dump, element-wise where the dump is
//!   committed), and to its modality values (exact hash when they are integers, else within 1e-3
//!   relative of the float32 dump).
//! - Sign extension of 12-bit signed data with garbage high bits; `UN`-encoded attributes (the committed
//!   file and a synthetic one); Modality and VOI LUT Sequences; multi-frame; files without preamble or
//!   file meta group.
//! - Bad inputs fail with one-line errors that name the file, without panicking or allocating what a
//!   lying header claims.
//! - Derived output reads back with the same pixels and geometry, new UIDs, and the patient/study copied,
//!   leaving the source untouched.

use std::path::{Path, PathBuf};

use dicom_core::value::{
    DataSetSequence, PixelFragmentSequence, PrimitiveValue, Value as DicomValue,
};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use radpipe::io::dicom::{DerivedDicom, DicomImage, Photometric, read_dicom, write_derived_dicom};
use radpipe::transforms::{ModalityLut, VoiFunction, Window};
use radpipe::{Error, Geometry, HostImage, Pixels};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn data(name: &str) -> PathBuf {
    repo(&format!("tests/data/dicom/{name}"))
}

fn manifest() -> Value {
    let path = repo("tests/fixtures/pydicom/manifest.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate with `.venv/bin/python scripts/make_fixtures.py`",
            path.display()
        )
    });
    serde_json::from_slice(&bytes).expect("manifest json")
}

fn case<'a>(m: &'a Value, name: &str) -> &'a Value {
    m["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name} in manifest"))
}

fn read(path: &Path) -> DicomImage {
    read_dicom(path).unwrap_or_else(|e| panic!("{e}"))
}

fn stored_i32(img: &HostImage) -> Vec<i32> {
    (0..img.pixel_count())
        .map(|i| img.pixels.get_f64(i) as i32)
        .collect()
}

fn sha256_hex(bytes: impl IntoIterator<Item = [u8; 4]>) -> String {
    let mut h = Sha256::new();
    for b in bytes {
        h.update(b);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_i32_dump(path: &Path) -> Vec<i32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn read_f32_dump(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn modality_values(dicom: &DicomImage, frame: u32) -> Vec<f64> {
    let img = dicom.frame(frame).expect("frame");
    let lut = dicom.modality_lut(frame);
    (0..img.pixel_count())
        .map(|i| lut.apply(img.pixels.get_f64(i)))
        .collect()
}

#[test]
fn every_codec_matches_pydicom_stored_values() {
    let m = manifest();
    let mut checked = Vec::new();
    for c in m["cases"].as_array().expect("cases") {
        let name = c["name"].as_str().expect("name");
        let frame = c["frame"].as_u64().expect("frame") as u32;
        let dicom = read(&repo(c["input"].as_str().expect("input")));
        assert_eq!(
            dicom.width as u64,
            c["columns"].as_u64().expect("cols"),
            "{name}"
        );
        assert_eq!(
            dicom.height as u64,
            c["rows"].as_u64().expect("rows"),
            "{name}"
        );
        assert_eq!(
            dicom.frames as u64,
            c["number_of_frames"].as_u64().expect("nf"),
            "{name}"
        );
        assert_eq!(
            dicom.bits_stored as u64,
            c["bits_stored"].as_u64().expect("bs"),
            "{name}"
        );
        assert_eq!(dicom.signed, c["pixel_representation"] == 1, "{name}");
        assert_eq!(
            dicom.transfer_syntax,
            c["transfer_syntax"].as_str().expect("ts"),
            "{name}"
        );
        let mono1 = c["photometric"] == "MONOCHROME1";
        let expected_pi = if mono1 {
            Photometric::Monochrome1
        } else {
            Photometric::Monochrome2
        };
        assert_eq!(dicom.photometric, expected_pi, "{name}");

        let img = dicom.frame(frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        let stored = stored_i32(&img);
        let s = &c["stored"];
        if let Some(dump) = s["path"].as_str() {
            let expected = read_i32_dump(&repo(dump));
            assert_eq!(stored.len(), expected.len(), "{name}");
            if let Some(i) = (0..stored.len()).find(|&i| stored[i] != expected[i]) {
                panic!(
                    "{name}: pixel {i}: radpipe {} pydicom {}",
                    stored[i], expected[i]
                );
            }
        }
        let min = *stored.iter().min().expect("pixels");
        let max = *stored.iter().max().expect("pixels");
        assert_eq!(
            (min as i64, max as i64),
            (
                s["min"].as_i64().expect("min"),
                s["max"].as_i64().expect("max")
            ),
            "{name}: stored range"
        );
        let hash = sha256_hex(stored.iter().map(|v| v.to_le_bytes()));
        assert_eq!(
            hash,
            s["sha256"].as_str().expect("sha"),
            "{name}: stored sha256"
        );
        checked.push(name.to_string());
    }
    for required in [
        "ct_small",
        "mr_implicit",
        "mr_bigendian",
        "mr_rle",
        "mr_j2k_lossless",
        "ct_j2k",
        "explicit_vr_un",
        "ct_12bit_signed",
        "emri_multiframe_f7",
    ] {
        assert!(
            checked.iter().any(|c| c == required),
            "case {required} not in manifest"
        );
    }
}

#[test]
fn modality_values_match_pydicom() {
    let m = manifest();
    for c in m["cases"].as_array().expect("cases") {
        let name = c["name"].as_str().expect("name");
        let frame = c["frame"].as_u64().expect("frame") as u32;
        let dicom = read(&repo(c["input"].as_str().expect("input")));
        let values = modality_values(&dicom, frame);
        let md = &c["modality"];
        if let Some(dump) = md["path"].as_str() {
            let expected = read_f32_dump(&repo(dump));
            assert_eq!(values.len(), expected.len(), "{name}");
            for (i, (&a, &b)) in values.iter().zip(&expected).enumerate() {
                let b = f64::from(b);
                assert!(
                    (a - b).abs() <= 1e-3 * b.abs().max(1.0),
                    "{name}: modality pixel {i}: radpipe {a} pydicom {b}"
                );
            }
        }
        if md["all_integer"] == true {
            let hash = sha256_hex(values.iter().map(|&v| (v as f32).to_le_bytes()));
            assert_eq!(
                hash,
                md["sha256"].as_str().expect("sha"),
                "{name}: modality sha256"
            );
        }
        let (lo, hi) = dicom.modality_range(frame).expect("range");
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-3 * b.abs().max(1.0);
        assert!(
            close(lo, md["min"].as_f64().expect("min")),
            "{name}: min {lo} vs {}",
            md["min"]
        );
        assert!(
            close(hi, md["max"].as_f64().expect("max")),
            "{name}: max {hi} vs {}",
            md["max"]
        );
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!(
            close(mean, md["mean"].as_f64().expect("mean")),
            "{name}: mean {mean}"
        );
    }
}

#[test]
fn twelve_bit_signed_is_sign_extended() {
    let dicom = read(&data("ct_12bit_signed.dcm"));
    assert_eq!(
        (dicom.bits_stored, dicom.high_bit, dicom.signed),
        (12, 11, true)
    );
    let img = dicom.frame(0).expect("frame");
    let Pixels::I16(v) = &img.pixels else {
        panic!("expected I16, got {}", img.format())
    };
    let negatives = v.iter().filter(|&&x| x < 0).count();
    assert!(negatives > v.len() / 3, "only {negatives} negative values");
    assert_eq!(v.iter().min(), Some(&-896));
    assert_eq!(v.iter().max(), Some(&1167));
    assert_eq!(
        dicom.modality_lut(0),
        ModalityLut::Rescale {
            slope: 1.0,
            intercept: -1024.0
        }
    );
    // mlut.dcm: 12-bit signed without sign extension in the file either.
    let mlut = read(&data("mlut.dcm"));
    let (lo, hi) = mlut
        .frame(0)
        .expect("frame")
        .pixels
        .min_max()
        .expect("range");
    assert_eq!((lo, hi), (-2048.0, 2047.0));
}

#[test]
fn explicit_vr_un_file_reads_its_attributes() {
    let dicom = read(&data("explicit_vr_un.dcm"));
    assert_eq!((dicom.width, dicom.height), (512, 512));
    assert_eq!(dicom.modality.as_deref(), Some("CT"));
    assert!(
        dicom
            .sop_class_uid
            .as_deref()
            .is_some_and(|u| u.starts_with("1.2.840.10008.5.1.4.1.1."))
    );
    let ModalityLut::Rescale { slope, intercept } = dicom.modality_lut(0) else {
        panic!("expected a rescale, got {:?}", dicom.modality_lut(0))
    };
    assert_eq!(slope, 1.0);
    assert!(
        intercept.fract() == 0.0 && intercept.abs() <= 2048.0,
        "intercept {intercept}"
    );
    let g = dicom.geometry(0);
    let [r, c] = g.pixel_spacing.expect("spacing");
    assert!(r > 0.1 && r < 5.0 && c > 0.1 && c < 5.0, "spacing {r} {c}");
    assert!(g.image_position.is_some() && g.image_orientation.is_some());
    let o = g.image_orientation.expect("orientation");
    let norm = (o[0] * o[0] + o[1] * o[1] + o[2] * o[2]).sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "orientation {o:?}");
}

/// Writes `obj` as an Explicit VR Little Endian file.
fn write_file(path: &Path, obj: InMemDicomObject) {
    write_file_ts(path, obj, "1.2.840.10008.1.2.1");
}

/// Writes `obj` with transfer syntax `ts`.
fn write_file_ts(path: &Path, obj: InMemDicomObject, ts: &str) {
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(ts)
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("2.25.1"),
        )
        .expect("meta");
    file.write_to_file(path).expect("write test file");
}

fn un(tag: Tag, bytes: &[u8]) -> DataElement<InMemDicomObject> {
    DataElement::new(
        tag,
        VR::UN,
        PrimitiveValue::U8(bytes.iter().copied().collect()),
    )
}

fn us(tag: Tag, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, PrimitiveValue::from(v))
}

/// A small 16-bit greyscale image, every attribute typed, `pixels` as OW.
fn basic_image(rows: u16, cols: u16, pixels: Vec<u16>) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7"),
    ));
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("2.25.1"),
    ));
    obj.put(us(tags::SAMPLES_PER_PIXEL, 1));
    obj.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    ));
    obj.put(us(tags::ROWS, rows));
    obj.put(us(tags::COLUMNS, cols));
    obj.put(us(tags::BITS_ALLOCATED, 16));
    obj.put(us(tags::BITS_STORED, 16));
    obj.put(us(tags::HIGH_BIT, 15));
    obj.put(us(tags::PIXEL_REPRESENTATION, 0));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    obj
}

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
fn modality_and_voi_lut_sequences_are_parsed() {
    let m = manifest();
    let mlut = read(&data("mlut.dcm"));
    let ModalityLut::Table(t) = mlut.modality_lut(0) else {
        panic!(
            "mlut: expected a Modality LUT Sequence, got {:?}",
            mlut.modality_lut(0)
        )
    };
    assert_eq!((t.first_mapped, t.bits, t.data.len()), (-2048, 16, 4096));
    // pydicom's modality values for this file (hash of the float32 dump, all integers).
    let values = modality_values(&mlut, 0);
    let hash = sha256_hex(values.iter().map(|&v| (v as f32).to_le_bytes()));
    assert_eq!(
        hash,
        case(&m, "mlut")["modality"]["sha256"]
            .as_str()
            .expect("sha")
    );

    let vlut = read(&data("vlut.dcm"));
    let t = vlut.voi_lut(0).expect("vlut: VOI LUT Sequence");
    let desc = &case(&m, "vlut")["window"]["lut_descriptor"];
    assert_eq!(t.data.len() as i64, desc[0].as_i64().expect("entries"));
    assert_eq!(t.first_mapped, desc[1].as_i64().expect("first"));
    assert_eq!(t.bits as i64, desc[2].as_i64().expect("bits"));
    assert!(t.data.iter().all(|&e| f64::from(e) <= t.max_value()));
    assert!(t.data.windows(2).any(|p| p[0] != p[1]), "flat VOI LUT");
    assert!(mlut.voi_lut(0).is_none() && vlut.modality_lut(0) == ModalityLut::IDENTITY);
}

#[test]
fn file_windows_are_paired_in_order() {
    let m = manifest();
    let c = case(&m, "mr_multiwindow");
    let dicom = read(&repo(c["input"].as_str().expect("input")));
    let centers: Vec<f64> = dicom.windows(0).iter().map(|w| w.center).collect();
    let widths: Vec<f64> = dicom.windows(0).iter().map(|w| w.width).collect();
    let expect = |k: &str| -> Vec<f64> {
        c["window"][k]
            .as_array()
            .expect(k)
            .iter()
            .map(|v| v.as_f64().expect("num"))
            .collect()
    };
    assert_eq!(centers, expect("file_window_centers"));
    assert_eq!(widths, expect("file_window_widths"));
    let sig = read(&data("mr_sigmoid.dcm"));
    assert_eq!(sig.windows(0)[0].function, VoiFunction::Sigmoid);
    assert_eq!(
        read(&data("mr_small.dcm")).windows(0)[0].function,
        VoiFunction::Linear
    );
}

#[test]
fn multi_frame_frames_differ_and_match_pydicom() {
    let m = manifest();
    let dicom = read(&data("emri_multiframe.dcm"));
    assert_eq!(dicom.frames, 10);
    let f0 = dicom.frame(0).expect("frame 0");
    let f7 = dicom.frame(7).expect("frame 7");
    assert_ne!(f0.pixels, f7.pixels);
    let dump = case(&m, "emri_multiframe_f7")["stored"]["path"]
        .as_str()
        .expect("dump");
    assert_eq!(stored_i32(&f7), read_i32_dump(&repo(dump)));
    assert!(dicom.frame(9).is_ok());
    let err = dicom.frame(10).expect_err("frame 10 of 10");
    assert!(
        err.to_string().contains(&dicom.path.display().to_string()),
        "{err}"
    );
    assert!(dicom.modality_range(10).is_none());
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

/// Asserts `result` is an error whose one-line message names `path` and contains `what`.
fn assert_names_file<T: std::fmt::Debug>(
    result: radpipe::Result<T>,
    path: &Path,
    what: &str,
) -> Error {
    let err = result.expect_err("expected an error");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    assert!(
        msg.to_lowercase().contains(&what.to_lowercase()),
        "message lacks {what:?}: {msg}"
    );
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    err
}

#[test]
fn bad_inputs_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |name: &str| dir.path().join(name);

    let truncated = p("truncated.dcm");
    let real = std::fs::read(data("ct_small.dcm")).expect("read");
    std::fs::write(&truncated, &real[..1000]).expect("write");
    let err = assert_names_file(read_dicom(&truncated), &truncated, "");
    assert!(matches!(err, Error::Format { .. }), "{err:?}");

    // Deterministic pseudo-random bytes, without and with a DICM marker.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = vec![0u8; 8192];
    for b in noise.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *b = state as u8;
    }
    let random = p("random.dcm");
    std::fs::write(&random, &noise).expect("write");
    assert!(matches!(
        assert_names_file(read_dicom(&random), &random, ""),
        Error::Format { .. }
    ));
    noise[128..132].copy_from_slice(b"DICM");
    let random_dicm = p("random_dicm.dcm");
    std::fs::write(&random_dicm, &noise).expect("write");
    assert_names_file(read_dicom(&random_dicm), &random_dicm, "");

    let rows0 = p("rows0.dcm");
    let mut obj = basic_image(0, 4, vec![]);
    obj.put(us(tags::ROWS, 0));
    write_file(&rows0, obj);
    assert_names_file(read_dicom(&rows0), &rows0, "Rows 0");

    // A header claiming 65535 x 65535 x 16 bits (8 GiB) with 16 bytes of data: refused before any
    // allocation of that size, so quickly.
    let huge = p("huge.dcm");
    write_file(&huge, basic_image(65535, 65535, vec![7; 8]));
    let start = std::time::Instant::now();
    assert_names_file(read_dicom(&huge), &huge, "pixel data has 16 bytes");
    assert!(
        start.elapsed().as_secs_f64() < 2.0,
        "took {:?}",
        start.elapsed()
    );

    let short = p("short.dcm");
    write_file(&short, basic_image(4, 4, vec![1; 15]));
    assert_names_file(read_dicom(&short), &short, "needs 32");

    let rgb = p("rgb.dcm");
    let mut obj = basic_image(2, 2, vec![0; 6]);
    obj.put(us(tags::SAMPLES_PER_PIXEL, 3));
    obj.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("RGB"),
    ));
    write_file(&rgb, obj);
    let err = assert_names_file(
        read_dicom(&rgb),
        &rgb,
        "colour image (RGB); radpipe needs a greyscale image",
    );
    assert!(matches!(err, Error::Unsupported { .. }));

    let bits32 = p("bits32.dcm");
    let mut obj = basic_image(2, 2, vec![0; 8]);
    obj.put(us(tags::BITS_ALLOCATED, 32));
    obj.put(us(tags::BITS_STORED, 32));
    obj.put(us(tags::HIGH_BIT, 31));
    write_file(&bits32, obj);
    assert!(matches!(
        assert_names_file(read_dicom(&bits32), &bits32, "BitsAllocated 32"),
        Error::Unsupported { .. }
    ));

    let no_pixels = p("no_pixels.dcm");
    let mut obj = basic_image(2, 2, vec![0; 4]);
    obj.remove_element(tags::PIXEL_DATA);
    write_file(&no_pixels, obj);
    assert_names_file(read_dicom(&no_pixels), &no_pixels, "no pixel data");

    let float = p("float.dcm");
    let mut obj = basic_image(2, 2, vec![0; 4]);
    obj.remove_element(tags::PIXEL_DATA);
    obj.put(DataElement::new(
        tags::FLOAT_PIXEL_DATA,
        VR::OF,
        PrimitiveValue::F32(vec![0.0f32; 4].into()),
    ));
    write_file(&float, obj);
    assert_names_file(read_dicom(&float), &float, "float pixel data");

    let missing = p("missing.dcm");
    assert!(matches!(
        assert_names_file(read_dicom(&missing), &missing, ""),
        Error::Io { .. }
    ));

    // Encapsulated data that is not a valid codestream: a decoder failure, reported as unsupported.
    let bad_j2k = p("bad_j2k.dcm");
    let mut j2k = std::fs::read(data("mr_j2k_lossless.dcm")).expect("read");
    let n = j2k.len();
    for b in &mut j2k[n - 600..n - 20] {
        *b ^= 0x5A;
    }
    std::fs::write(&bad_j2k, &j2k).expect("write");
    if let Err(e) = read_dicom(&bad_j2k) {
        assert!(
            e.to_string().contains(&bad_j2k.display().to_string()),
            "{e}"
        );
    }
}

#[test]
fn truncated_prefixes_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "ct_small.dcm",
        "mr_rle.dcm",
        "mr_j2k_lossless.dcm",
        "explicit_vr_un.dcm",
        "mr_bigendian.dcm",
    ] {
        let bytes = std::fs::read(data(name)).expect("read");
        let path = dir.path().join(format!("cut_{name}"));
        let step = (bytes.len() / 37).max(1);
        for len in (0..bytes.len()).step_by(step) {
            std::fs::write(&path, &bytes[..len]).expect("write");
            if let Err(e) = read_dicom(&path) {
                let msg = e.to_string();
                assert!(
                    msg.contains(&path.display().to_string()),
                    "{name}[..{len}]: {msg}"
                );
            }
        }
    }
}

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
        source: Some(&source),
        description: "radpipe test: identity".to_string(),
        rescale: Some((1.0, -1024.0)),
        bits_stored: None,
        window: Some(window),
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
    assert!(matches!(err, Error::InvalidParams(_)), "{err}");
    let f32_img = HostImage::new(1, 1, Pixels::F32(vec![0.5])).expect("img");
    let err = write_derived_dicom(
        &dir.path().join("f.dcm"),
        &f32_img,
        &DerivedDicom::default(),
    )
    .expect_err("f32");
    assert!(matches!(err, Error::InvalidParams(_)), "{err}");
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

#[test]
fn lying_element_length_is_refused_without_allocating_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = std::fs::read(data("mr_small.dcm")).expect("read");
    let at = bytes
        .windows(6)
        .position(|w| w == [0xE0, 0x7F, 0x10, 0x00, b'O', b'W'])
        .expect("pixel data header");
    bytes[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let path = dir.path().join("lying_length.dcm");
    std::fs::write(&path, &bytes).expect("write");
    let peak = || -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let before = peak();
    let start = std::time::Instant::now();
    assert_names_file(read_dicom(&path), &path, "declares 4294967280 bytes");
    assert!(
        start.elapsed().as_secs_f64() < 1.0,
        "took {:?}",
        start.elapsed()
    );
    if let (Some(a), Some(b)) = (before, peak()) {
        assert!(
            b.saturating_sub(a) < 1 << 20,
            "peak memory grew by {} KiB",
            b - a
        );
    }
}

/// Lies the pre-scan used to miss (dicom-rs then allocated 3.2-4.2 GB for files of 2-13 KB): two the
/// dicom_reader fuzz target found, where the file meta group is read differently by a naive walk and by
/// dicom-rs (which follows the group length and reads unknown VRs with 4-byte lengths), and a deflated
/// data set whose lie only shows after inflating. "declares" is the pre-scan's wording: dicom-rs's own
/// error comes only after its allocation.
#[test]
fn meta_group_and_deflated_length_lies_are_caught_by_the_pre_scan() {
    for (name, says) in [
        (
            "fuzz_meta_unknown_vr_hides_length.dcm",
            "(BE28,BB00) declares 3456152576 bytes",
        ),
        (
            "fuzz_meta_desync_4gb.dcm",
            "(4FA2,59A2) declares 4188151202 bytes",
        ),
        (
            "deflated_length_lie.dcm",
            "(7FE0,0010) declares 3221225472 bytes",
        ),
    ] {
        let path = repo(&format!("tests/data/bad/{name}"));
        assert_names_file(read_dicom(&path), &path, says);
    }
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

fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

fn seq(tag: Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

fn ds(tag: Tag, text: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::DS, PrimitiveValue::from(text))
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

#[test]
fn mutated_files_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for name in [
        "ct_small.dcm",
        "mr_rle.dcm",
        "mr_j2k_lossless.dcm",
        "explicit_vr_un.dcm",
        "mr_bigendian.dcm",
        "mr_implicit.dcm",
        "emri_multiframe.dcm",
        "mlut.dcm",
    ] {
        let original = std::fs::read(data(name)).expect("read");
        let path = dir.path().join(format!("mutated_{name}"));
        for _ in 0..40 {
            let mut bytes = original.clone();
            // Mutate a few bytes, mostly in the header where the structure is.
            for _ in 0..1 + next() % 4 {
                let span = if next() % 4 == 0 {
                    bytes.len()
                } else {
                    bytes.len().min(2048)
                };
                let at = (next() as usize) % span;
                bytes[at] = next() as u8;
            }
            std::fs::write(&path, &bytes).expect("write");
            let t = std::time::Instant::now();
            let r = read_dicom(&path);
            // Lying lengths are refused before dicom-rs allocates them, so every read is quick.
            assert!(
                t.elapsed().as_secs_f64() < 2.0,
                "{name}: read took {:?}",
                t.elapsed()
            );
            match r {
                Ok(d) => {
                    for n in 0..d.frames.min(3) {
                        let _ = d.frame(n).map(|f| f.pixels.min_max());
                        let _ = (
                            d.modality_range(n),
                            d.windows(n),
                            d.voi_lut(n),
                            d.geometry(n),
                        );
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(&path.display().to_string()), "{name}: {msg}");
                }
            }
        }
    }
}
