//! Values that used to be replaced silently by a default: a file's Window Center/Width or Rescale
//! Slope/Intercept that is `NaN`, `inf` or text, and command-line numbers out of their range
//! (`--bands 0`, `--min-ncc NaN`, a `--border-value` outside the image's sample range). Each is now
//! refused with one line naming the attribute or argument.

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use crate::common::cli::{radpipe, s, stderr};
use crate::common::repo_path;

fn with_value(dir: &Path, tag: dicom_core::Tag, value: &str) -> PathBuf {
    let mut obj = dicom_object::open_file(repo_path("data/demo/ct_small.dcm")).expect("open");
    obj.put(DataElement::new(tag, VR::DS, PrimitiveValue::from(value)));
    let out = dir.join(format!(
        "ct_{:04x}_{}.dcm",
        tag.element(),
        value.replace(' ', "_")
    ));
    obj.write_to_file(&out).expect("write");
    out
}

fn assert_refused(args: &[&str], says: &[&str]) {
    let o = radpipe(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    for s in says {
        assert!(err.contains(s), "{args:?}: '{s}' not in {err}");
    }
}

#[test]
fn unreadable_window_and_rescale_values_are_refused_not_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.png");
    for (tag, name) in [
        (tags::WINDOW_WIDTH, "Window Width"),
        (tags::WINDOW_CENTER, "Window Center"),
        (tags::RESCALE_SLOPE, "Rescale Slope"),
        (tags::RESCALE_INTERCEPT, "Rescale Intercept"),
    ] {
        for value in ["NaN", "inf", "-inf", "wide"] {
            let file = with_value(dir.path(), tag, value);
            let name_of_file = file
                .file_name()
                .and_then(|n| n.to_str())
                .expect("name")
                .to_string();
            assert_refused(
                &["window", s(&file), "-o", s(&out)],
                &[name, "not a finite number", &name_of_file],
            );
        }
    }
    assert!(!out.exists());
}

#[test]
fn out_of_range_stitch_and_warp_numbers_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = |n: u32| repo_path(&format!("data/demo/stitch_station{n}.dcm"));
    let (a, b) = (st(1), st(2));
    let out = dir.path().join("o.png");
    assert_refused(
        &[
            "stitch",
            s(&a),
            s(&b),
            "-o",
            s(&out),
            "--blend",
            "multiband",
            "--bands",
            "0",
        ],
        &["--bands"],
    );
    for v in ["NaN", "1.5", "-2"] {
        let arg = format!("--min-ncc={v}");
        assert_refused(
            &["stitch", s(&a), s(&b), "-o", s(&out), &arg],
            &["--min-ncc"],
        );
    }
    let png = repo_path("data/demo/brain_mid_sagittal.png");
    for v in ["300", "-1"] {
        let arg = format!("--border-value={v}");
        assert_refused(
            &[
                "warp",
                s(&png),
                "-o",
                s(&out),
                "--matrix",
                "1,0,5,0,1,5",
                &arg,
            ],
            &["border value", "u8"],
        );
    }
    assert!(!out.exists());
}

/// A copy of the second demo station with its Image Orientation (Patient) replaced.
fn station_with_orientation(dir: &Path, value: &str, name: &str) -> PathBuf {
    let mut obj =
        dicom_object::open_file(repo_path("data/demo/stitch_station2.dcm")).expect("open");
    obj.put(DataElement::new(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        PrimitiveValue::from(value),
    ));
    let out = dir.join(name);
    obj.write_to_file(&out).expect("write");
    out
}

#[test]
fn stations_whose_orientation_cannot_place_them_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = repo_path("data/demo/stitch_station1.dcm");
    let out = dir.path().join("o.png");
    for (value, name, says) in [
        ("0\\0\\0\\0\\0\\0", "zero.dcm", "length 0.000"),
        ("1\\0\\0\\0.5\\0.5\\0", "short.dcm", "not 1"),
        (
            "1\\0\\0\\0.7071068\\0.7071068\\0",
            "skew.dcm",
            "45.0° apart",
        ),
        (
            "1\\0\\0\\0\\0\\1",
            "lateral.dcm",
            "90.0° from the first station",
        ),
    ] {
        let station = station_with_orientation(dir.path(), value, name);
        assert_refused(
            &["stitch", s(&first), s(&station), "-o", s(&out)],
            &[name, "Image Orientation (Patient)", says],
        );
    }
    assert!(!out.exists());
}

#[test]
fn a_negative_pixel_spacing_is_named_when_stitching_by_geometry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut obj =
        dicom_object::open_file(repo_path("data/demo/stitch_station2.dcm")).expect("open");
    obj.put(DataElement::new(
        tags::PIXEL_SPACING,
        VR::DS,
        PrimitiveValue::from("-0.1\\0.1"),
    ));
    let station = dir.path().join("negative_spacing.dcm");
    obj.write_to_file(&station).expect("write");
    let first = repo_path("data/demo/stitch_station1.dcm");
    let out = dir.path().join("o.png");
    assert_refused(
        &["stitch", s(&first), s(&station), "-o", s(&out)],
        &[
            "negative_spacing.dcm",
            "no usable Pixel Spacing (absent, zero or negative)",
        ],
    );
}
