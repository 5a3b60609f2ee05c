//! The `radpipe` binary as a user meets it: outputs by extension, and every bad input answered with one
//! line naming the file and the problem, a non-zero exit, no panic and no output file left behind.

use crate::common;

use common::cli::{radpipe, s, stderr};

use std::path::{Path, PathBuf};
use std::process::Output;

use common::repo_path;

/// Asserts a clean failure: exit code 1, one error line naming `name`, no panic, `output` absent.
fn assert_refused(o: &Output, name: &str, output: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr: {err}");
    assert!(err.contains(name), "error must name {name}: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!output.exists(), "{} must not exist", output.display());
    if let Some(dir) = output.parent().filter(|d| d.is_dir()) {
        let partial: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().contains(".partial"))
            .collect();
        assert!(partial.is_empty(), "partial files left: {partial:?}");
    }
}

fn ct() -> PathBuf {
    common::require(&repo_path("tests/data/dicom/ct_small.dcm")).to_path_buf()
}

#[test]
fn window_writes_png_tiff_and_dicom() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bits) in [
        ("ct.png", "8"),
        ("ct16.png", "16"),
        ("ct.tif", "12"),
        ("ct.dcm", "12"),
    ] {
        let out = dir.path().join(name);
        let o = radpipe(&["window", s(&ct()), "-o", s(&out), "--bits", bits]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(out.exists(), "{name}");
    }
    let png = radpipe::io::raster::read_raster(&dir.path().join("ct.png")).expect("png");
    assert_eq!(
        (png.width, png.height, png.format()),
        (128, 128, radpipe::PixelFormat::U8)
    );
    let png16 = radpipe::io::raster::read_raster(&dir.path().join("ct16.png")).expect("png16");
    assert_eq!(png16.format(), radpipe::PixelFormat::U16);
    let tif = radpipe::io::raster::read_raster(&dir.path().join("ct.tif")).expect("tif");
    assert!(
        tif.pixels.min_max().expect("range").1 <= 4095.0,
        "12-bit range"
    );
    let dcm = radpipe::io::dicom::read_dicom(&dir.path().join("ct.dcm")).expect("derived dicom");
    assert_eq!((dcm.width, dcm.height, dcm.bits_stored), (128, 128, 12));
}

#[test]
fn missing_input_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.png");
    let o = radpipe(&["window", "no/such/file.dcm", "-o", s(&out)]);
    assert_refused(&o, "no/such/file.dcm", &out);
}

#[test]
fn bad_window_widths_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.png");
    for width in ["0", "-5", "NaN", "inf", "0.5"] {
        let o = radpipe(&[
            "window",
            s(&ct()),
            "-o",
            s(&out),
            "--center",
            "40",
            "--width",
            width,
        ]);
        assert_refused(&o, "ct_small.dcm", &out);
        assert!(stderr(&o).contains("width"), "{width}: {}", stderr(&o));
    }
    let o = radpipe(&["window", s(&ct()), "-o", s(&out), "--center", "40"]);
    assert_refused(&o, "ct_small.dcm", &out);
}

#[test]
fn output_equal_to_input_is_refused_and_input_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("in.dcm");
    std::fs::copy(ct(), &copy).expect("copy");
    let before = std::fs::read(&copy).expect("read");
    let o = radpipe(&["window", s(&copy), "-o", s(&copy)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("in.dcm"), "{err}");
    assert_eq!(
        std::fs::read(&copy).expect("read"),
        before,
        "input modified"
    );
}

#[test]
fn garbage_and_unknown_formats_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.dcm");
    std::fs::write(&junk, vec![0x42u8; 4000]).expect("write");
    let out = dir.path().join("o.png");
    assert_refused(
        &radpipe(&["window", s(&junk), "-o", s(&out)]),
        "junk.dcm",
        &out,
    );

    let truncated = dir.path().join("truncated.dcm");
    let bytes = std::fs::read(ct()).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).expect("write");
    assert_refused(
        &radpipe(&["window", s(&truncated), "-o", s(&out)]),
        "truncated.dcm",
        &out,
    );

    let weird = dir.path().join("o.xyz");
    assert_refused(
        &radpipe(&["window", s(&ct()), "-o", s(&weird)]),
        "o.xyz",
        &weird,
    );

    let o = radpipe(&["window", s(&ct()), "-o", s(&out), "--frame", "5"]);
    assert_refused(&o, "ct_small.dcm", &out);
}

#[test]
fn unwritable_output_directory_is_named() {
    let out = Path::new("/no/such/dir/o.png");
    let o = radpipe(&["window", s(&ct()), "-o", s(out)]);
    assert_refused(&o, "/no/such/dir/o.png", out);
}

#[test]
fn info_json_names_the_chosen_adapter() {
    let o = radpipe(&["info", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["chosen"]["name"].as_str().is_some_and(|n| !n.is_empty()),
        "{v}"
    );
    assert!(
        v["adapters"].as_array().is_some_and(|a| !a.is_empty()),
        "{v}"
    );
}
