//! Parity with pydicom: `apply_modality_lut` + `apply_voi_lut`, normalised to the output range and
//! MONOCHROME1-inverted as `tests/fixtures/README.md` defines, for real CT (signed, intercept −1024),
//! MR (non-unit slope), CR MONOCHROME1 (15-bit), a file with a VOI LUT Function, a multi-frame file, a
//! Modality LUT Sequence, a VOI LUT Sequence and a 12-bit signed file with garbage high bits — all three
//! VOI functions at 8, 12 and 16 bits. Fixtures come from `scripts/make_fixtures.py`.
//!
//! Tolerance: every pixel within 1 LSB; pixels that differ at all must be no more than the fixture's
//! `near_half_count` (values within float32 error of a rounding tie) plus 0.1 %. Outputs the fixture
//! keeps only as a hash must match it exactly when the fixture reports no near-ties.

use crate::common;

use common::{assert_close, engine, repo_path};
use radpipe::image::{HostImage, Pixels};
use radpipe::io::dicom::read_dicom;
use radpipe::ops::window::{WindowRequest, WindowSettings, WindowSource, window_image};
use radpipe::transforms::VoiFunction;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn manifest() -> Value {
    let path = common::require(&repo_path("tests/fixtures/pydicom/manifest.json")).to_path_buf();
    serde_json::from_slice(&std::fs::read(path).expect("read manifest")).expect("manifest json")
}

fn source_of(name: &str) -> WindowSource {
    match name {
        "explicit" => WindowSource::Explicit,
        "file" => WindowSource::File,
        "voi_lut_sequence" => WindowSource::VoiLutSequence,
        "min_max" => WindowSource::MinMax,
        other => panic!("unknown window source {other}"),
    }
}

fn u16_hash(img: &HostImage) -> String {
    let mut h = Sha256::new();
    for i in 0..img.pixel_count() {
        h.update((img.pixels.get_f64(i) as u16).to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn window_matches_pydicom_on_real_files() {
    let engine = engine();
    let m = manifest();
    let mut compared_png = 0;
    let mut compared_hash = 0;
    let mut functions_seen = std::collections::BTreeSet::new();
    for case in m["cases"].as_array().expect("cases") {
        let Some(w) = case["window"].as_object() else {
            continue;
        };
        let name = case["name"].as_str().expect("name");
        let input = repo_path(case["input"].as_str().expect("input"));
        let frame = case["frame"].as_u64().expect("frame") as u32;
        let dicom = read_dicom(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let source = source_of(w["source"].as_str().expect("source"));
        for out in w["outputs"].as_array().expect("outputs") {
            let function_name = out["function"].as_str().expect("function");
            let bits = out["bits"].as_u64().expect("bits") as u32;
            let function = VoiFunction::parse(function_name);
            let request = match source {
                WindowSource::Explicit => WindowRequest {
                    center: w["center"].as_f64(),
                    width: w["width"].as_f64(),
                    function,
                    bits,
                },
                WindowSource::VoiLutSequence => WindowRequest {
                    bits,
                    ..WindowRequest::default()
                },
                _ => WindowRequest {
                    function,
                    bits,
                    ..WindowRequest::default()
                },
            };
            let settings = WindowSettings::from_source(&dicom, frame, &request)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(settings.source, source, "{name}: window source");
            assert_eq!(
                settings.invert,
                w["inverted"].as_bool().expect("inverted"),
                "{name}"
            );
            if let (Some(c), Some(win)) = (w["center"].as_f64(), settings.window()) {
                assert!(
                    (win.center - c).abs() < 1e-6,
                    "{name}: center {} vs {c}",
                    win.center
                );
                let width = w["width"].as_f64().expect("width");
                assert!(
                    (win.width - width).abs() < 1e-6,
                    "{name}: width {} vs {width}",
                    win.width
                );
            }
            let stored = dicom.frame(frame).expect("frame");
            let actual = window_image(engine, &stored, &settings).expect("gpu window");
            let near_half = out["near_half_count"].as_u64().unwrap_or(0) as f64;
            let label = format!("pydicom_{name}_{function_name}_{bits}");
            functions_seen.insert(function_name.to_string());
            match out["path"].as_str() {
                Some(png) => {
                    let expected =
                        radpipe::io::raster::read_raster(&repo_path(png)).expect("fixture png");
                    let expected = match (bits, expected.pixels) {
                        (8, p @ Pixels::U8(_)) => {
                            HostImage::new(expected.width, expected.height, p)
                        }
                        (_, p @ Pixels::U16(_)) if bits > 8 => {
                            HostImage::new(expected.width, expected.height, p)
                        }
                        (_, p) => panic!("{label}: fixture has {:?} samples", p.format()),
                    }
                    .expect("expected image");
                    let allowed = (near_half / actual.pixel_count() as f64) + 0.001;
                    assert_close(&label, &actual, &expected, 1.0, allowed);
                    compared_png += 1;
                }
                None => {
                    let (lo, hi) = actual.pixels.min_max().expect("range");
                    let exp_lo = out["min"].as_f64().expect("min");
                    let exp_hi = out["max"].as_f64().expect("max");
                    assert!(
                        (lo - exp_lo).abs() <= 1.0 && (hi - exp_hi).abs() <= 1.0,
                        "{label}: range"
                    );
                    if near_half == 0.0 {
                        assert_eq!(
                            u16_hash(&actual),
                            out["pixels_sha256"].as_str().expect("sha"),
                            "{label}"
                        );
                    }
                    compared_hash += 1;
                }
            }
        }
    }
    eprintln!("compared {compared_png} PNG fixtures and {compared_hash} hashed outputs");
    assert!(
        compared_png >= 60,
        "too few fixture comparisons: {compared_png}"
    );
    for f in ["LINEAR", "LINEAR_EXACT", "SIGMOID", "TABLE"] {
        assert!(functions_seen.contains(f), "no fixture for {f}");
    }
}

#[test]
fn the_cli_output_matches_pydicom() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mr.png");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .args(["window"])
        .arg(repo_path("tests/data/dicom/mr_sigmoid.dcm"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run radpipe");
    assert!(status.success());
    // mr_sigmoid.dcm says SIGMOID; its file window is 600/1600 like mr_small's.
    let actual = radpipe::io::raster::read_raster(&out).expect("output");
    let expected = radpipe::io::raster::read_raster(&repo_path(
        "tests/fixtures/pydicom/mr_small.SIGMOID.8.png",
    ))
    .expect("fixture");
    assert_close("cli_mr_sigmoid", &actual, &expected, 1.0, 0.001);
}
