//! The committed corpus against pydicom 3.0.2: stored and modality values for every codec, 12-bit
//! sign extension, `UN` attributes, LUT sequences, window pairing and multi-frame files.

use super::*;

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
