//! `radpipe equalize`, `radpipe match` and `radpipe window --auto` as a user meets them: results equal
//! to the library / OpenCV fixtures, outputs by extension, and every bad input answered with one line
//! naming the file or the parameter, a non-zero exit, no panic and no output file left behind.

use crate::common;

use common::cli::{radpipe, s, stderr};

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_close, repo_path};
use radpipe::PixelFormat;
use radpipe::io::raster::read_raster;

/// A clean failure: exit `code`, no panic, `output` absent and no partial file; for exit 1 exactly
/// one line that contains `name`.
fn assert_refused(o: &Output, code: i32, name: &str, output: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    assert!(err.contains(name), "error must name {name}: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    if code == 1 {
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    assert!(!output.exists(), "{} must not exist", output.display());
    if let Some(dir) = output.parent().filter(|d| d.is_dir()) {
        let partial = std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .any(|e| e.path().to_string_lossy().contains(".partial"));
        assert!(!partial, "partial file left in {}", dir.display());
    }
}

fn fixture(name: &str) -> PathBuf {
    common::require(&repo_path(&format!(
        "tests/fixtures/opencv_histogram/{name}"
    )))
    .to_path_buf()
}

fn dicom(name: &str) -> PathBuf {
    common::require(&repo_path(&format!("tests/data/dicom/{name}"))).to_path_buf()
}

#[test]
fn equalize_global_equals_opencv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("eq.png");
    let o = radpipe(&["equalize", s(&fixture("in.mr8.png")), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = read_raster(&out).expect("output");
    let want = read_raster(&fixture("eq.mr8.png")).expect("fixture");
    assert_close("cli_equalize_mr8", &got, &want, 0.0, 0.0);
}

#[test]
fn equalize_clahe_16bit_is_within_one_lsb_of_opencv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("clahe.tif");
    let o = radpipe(&[
        "equalize",
        s(&fixture("in.mr16.png")),
        "-o",
        s(&out),
        "--method",
        "clahe",
        "--clip-limit",
        "2",
        "--tiles",
        "8x8",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = read_raster(&out).expect("output");
    assert_eq!(got.format(), PixelFormat::U16);
    let want = read_raster(&fixture("clahe.mr16.c2_t8x8.png")).expect("fixture");
    assert_close("cli_clahe_mr16", &got, &want, 1.0, 1.0);
}

#[test]
fn twelve_bit_dicom_equalizes_into_twelve_bits() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (method, name) in [("global", "g.dcm"), ("clahe", "c.dcm")] {
        let out = dir.path().join(name);
        let o = radpipe(&[
            "equalize",
            s(&dicom("mr_slope.dcm")),
            "-o",
            s(&out),
            "--method",
            method,
            "--bits",
            "12",
        ]);
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        assert!(!stderr(&o).contains("radpipe: error"), "{}", stderr(&o));
        let d = radpipe::io::dicom::read_dicom(&out).expect("derived dicom");
        assert_eq!(d.bits_stored, 12, "{method}");
        let frame = d.frame(0).expect("frame");
        let (lo, hi) = frame.pixels.min_max().expect("range");
        assert!(
            (4000.0..=4095.0).contains(&hi),
            "{method}: range {lo}..{hi}"
        );
    }
    // MONOCHROME1 is inverted for display.
    let out = dir.path().join("cr.png");
    let o = radpipe(&["equalize", s(&dicom("cr_mono1.dcm")), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("MONOCHROME1 inverted"));
}

#[test]
fn match_equals_the_definition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.png");
    let o = radpipe(&[
        "match",
        s(&fixture("in.mr8.png")),
        "--reference",
        s(&fixture("in.cr8.png")),
        "-o",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = read_raster(&out).expect("output");
    let want = read_raster(&fixture("match.mr8.to.cr8.png")).expect("fixture");
    assert_close("cli_match", &got, &want, 0.0, 0.0);
}

#[test]
fn auto_window_0_100_is_the_min_max_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (auto, plain) = (dir.path().join("auto.png"), dir.path().join("plain.png"));
    let input = fixture("in.cr16.png");
    let o = radpipe(&["window", s(&input), "-o", s(&auto), "--auto", "0,100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = radpipe(&["window", s(&input), "-o", s(&plain)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&auto).expect("auto"),
        std::fs::read(&plain).expect("plain"),
        "--auto 0,100 must equal the min-max window"
    );
}

#[test]
fn auto_window_uses_modality_percentiles() {
    // ct_small: signed CT with intercept −1024. Percentiles computed here from the stored values.
    let input = dicom("ct_small.dcm");
    let d = radpipe::io::dicom::read_dicom(&input).expect("read");
    let stored = d.frame(0).expect("frame");
    let lut = d.modality_lut(0);
    let mut values: Vec<f64> = (0..stored.pixel_count())
        .map(|i| lut.apply(stored.pixels.get_f64(i)))
        .collect();
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let pick = |p: f64| values[((p / 100.0 * n).ceil() as usize).max(1) - 1];
    let (lo, hi) = (pick(2.0), pick(98.0));
    let width = hi - lo + 1.0;
    let center = lo + width / 2.0;

    let dir = tempfile::tempdir().expect("tempdir");
    let (auto, manual) = (dir.path().join("auto.png"), dir.path().join("manual.png"));
    let o = radpipe(&["window", s(&input), "-o", s(&auto), "--auto", "2,98"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(report.contains("auto window"), "{report}");
    let o = radpipe(&[
        "window",
        s(&input),
        "-o",
        s(&manual),
        "--center",
        &center.to_string(),
        "--width",
        &width.to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&auto).expect("auto"),
        std::fs::read(&manual).expect("manual"),
        "window C={center} W={width}; report: {report}"
    );
}

#[test]
fn bad_equalize_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.png");
    let mr8 = fixture("in.mr8.png");
    let mr16 = fixture("in.mr16.png");
    // Missing input.
    assert_refused(
        &radpipe(&["equalize", "no/such.png", "-o", s(&out)]),
        1,
        "no/such.png",
        &out,
    );
    // Parameters that do not suit the file name it.
    for args in [
        vec!["--bins", "100"],
        vec!["--bins", "512"],
        vec!["--bits", "9"],
        vec!["--method", "clahe", "--clip-limit", "NaN"],
        vec!["--method", "clahe", "--clip-limit", "-1"],
        vec!["--method", "clahe", "--tiles", "300x2"],
    ] {
        let mut full = vec!["equalize", s(&mr8), "-o", s(&out)];
        full.extend(args.iter().copied());
        assert_refused(&radpipe(&full), 1, "in.mr8.png", &out);
    }
    // CLAHE-only options with the global method.
    let o = radpipe(&["equalize", s(&mr16), "-o", s(&out), "--clip-limit", "2"]);
    assert_refused(&o, 1, "clip-limit", &out);
    // Malformed values are usage errors (exit 2).
    for args in [
        vec!["--tiles", "8"],
        vec!["--tiles", "0x8"],
        vec!["--method", "median"],
    ] {
        let mut full = vec!["equalize", s(&mr8), "-o", s(&out)];
        full.extend(args.iter().copied());
        assert_refused(&radpipe(&full), 2, args[0], &out);
    }
    // Unknown output format, output equal to input, garbage input.
    let weird = dir.path().join("o.xyz");
    assert_refused(
        &radpipe(&["equalize", s(&mr8), "-o", s(&weird)]),
        1,
        "o.xyz",
        &weird,
    );
    let copy = dir.path().join("copy.png");
    std::fs::copy(&mr8, &copy).expect("copy");
    let before = std::fs::read(&copy).expect("read");
    let o = radpipe(&["equalize", s(&copy), "-o", s(&copy)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("copy.png"));
    assert_eq!(
        std::fs::read(&copy).expect("read"),
        before,
        "input modified"
    );
    let junk = dir.path().join("junk.png");
    std::fs::write(&junk, b"\x89PNG\r\n\x1a\nnot really").expect("write");
    assert_refused(
        &radpipe(&["equalize", s(&junk), "-o", s(&out)]),
        1,
        "junk.png",
        &out,
    );
}

#[test]
fn bad_match_and_auto_window_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.png");
    // 8-bit image, 16-bit reference: the reference is named.
    let o = radpipe(&[
        "match",
        s(&fixture("in.mr8.png")),
        "--reference",
        s(&fixture("in.mr16.png")),
        "-o",
        s(&out),
    ]);
    assert_refused(&o, 1, "in.mr16.png", &out);
    let o = radpipe(&[
        "match",
        s(&fixture("in.mr8.png")),
        "--reference",
        "no/ref.png",
        "-o",
        s(&out),
    ]);
    assert_refused(&o, 1, "no/ref.png", &out);
    // Percentiles out of order or range: usage errors.
    for auto in ["99,1", "0,101", "x,5", "50"] {
        let o = radpipe(&[
            "window",
            s(&fixture("in.mr8.png")),
            "-o",
            s(&out),
            "--auto",
            auto,
        ]);
        assert_refused(&o, 2, "--auto", &out);
    }
    // --auto with an explicit window.
    let o = radpipe(&[
        "window",
        s(&dicom("ct_small.dcm")),
        "-o",
        s(&out),
        "--auto",
        "1,99",
        "--center",
        "40",
        "--width",
        "400",
    ]);
    assert_refused(&o, 1, "--auto", &out);
}
