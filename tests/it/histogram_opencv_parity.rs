//! Parity with OpenCV on the fixtures of `scripts/make_opencv_histogram_fixtures.py` (real MR and CR
//! crops from `tests/data/dicom/` as 8- and 16-bit PNGs, random images, a constant image; OpenCV's
//! version is in the manifest):
//!
//! * `cv2.equalizeHist` — the GPU result must be identical (every pixel).
//! * `cv2.createCLAHE(clipLimit, tileGridSize).apply`, five settings, 8- and 16-bit — every pixel
//!   within 1 LSB (OpenCV's f32 blend and ours may round a tie differently), and the CPU reference
//!   too. The tile histograms and LUTs are integer-exact by construction; only the blend is f32.
//! * histogram matching — no OpenCV function exists, so the script computes the definition
//!   independently in numpy int64; the GPU result must be identical.
//!
//! Each case prints its exact-match count and max |diff| (run with `--nocapture`).

use crate::common;

use common::{assert_close, engine, repo_path};
use radpipe::image::HostImage;
use radpipe::io::raster::read_raster;
use radpipe::ops::clahe::{self, ClaheParams};
use radpipe::ops::equalize::{self, EqualizeParams};
use radpipe::ops::histmatch::{self, HostMatchReference, MatchParams};
use serde_json::Value;

fn manifest() -> Value {
    let path = repo_path("tests/fixtures/opencv_histogram/manifest.json");
    assert!(
        path.exists(),
        "missing {}: run `.venv/bin/python scripts/make_opencv_histogram_fixtures.py`",
        path.display()
    );
    serde_json::from_slice(&std::fs::read(path).expect("read manifest")).expect("manifest json")
}

fn load(m: &Value, input: &str) -> HostImage {
    let path = m["inputs"][input]["path"].as_str().expect("input path");
    read_raster(&repo_path(path)).unwrap_or_else(|e| panic!("{input}: {e}"))
}

fn load_output(case: &Value) -> HostImage {
    let path = case["output"]["path"].as_str().expect("output path");
    read_raster(&repo_path(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (pixels equal, max |diff|, pixel count).
fn stats(actual: &HostImage, expected: &HostImage) -> (usize, f64, usize) {
    let d = common::abs_diffs(actual, expected);
    let exact = d.iter().filter(|&&x| x == 0.0).count();
    let worst = d.iter().cloned().fold(0.0, f64::max);
    (exact, worst, d.len())
}

fn cases<'a>(m: &'a Value, op: &str) -> Vec<&'a Value> {
    m["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["op"] == op)
        .collect()
}

#[test]
fn equalize_hist_is_bit_exact() {
    let m = manifest();
    eprintln!("OpenCV {}", m["versions"]["opencv"]);
    let list = cases(&m, "equalize_hist");
    assert!(list.len() >= 5, "expected the 8-bit equalize cases");
    for case in list {
        let input = case["input"].as_str().expect("input");
        let image = load(&m, input);
        let expected = load_output(case);
        let gpu = equalize::equalize_image(engine(), &image, &EqualizeParams::default())
            .expect("gpu equalize");
        let (exact, worst, n) = stats(&gpu, &expected);
        eprintln!("equalizeHist {input}: {exact}/{n} pixels identical, max |diff| {worst}");
        assert_close(&format!("cv_equalize_{input}"), &gpu, &expected, 0.0, 0.0);
        let cpu = equalize::reference(&image, &EqualizeParams::default()).expect("cpu");
        assert_close(
            &format!("cv_equalize_cpu_{input}"),
            &cpu,
            &expected,
            0.0,
            0.0,
        );
    }
}

#[test]
fn clahe_is_within_one_lsb_on_8_and_16_bit() {
    let m = manifest();
    let list = cases(&m, "clahe");
    assert!(
        list.len() >= 30,
        "expected CLAHE cases for every input and setting"
    );
    let (mut total_exact, mut total_pixels, mut total_worst) = (0usize, 0usize, 0.0f64);
    let mut sixteen = 0;
    for case in list {
        let input = case["input"].as_str().expect("input");
        let image = load(&m, input);
        if image.format() == radpipe::PixelFormat::U16 {
            sixteen += 1;
        }
        let tiles = case["tiles"].as_array().expect("tiles");
        let params = ClaheParams {
            clip_limit: case["clip_limit"].as_f64().expect("clip"),
            tiles_x: tiles[0].as_u64().expect("tx") as u32,
            tiles_y: tiles[1].as_u64().expect("ty") as u32,
            ..ClaheParams::default()
        };
        let expected = load_output(case);
        let gpu = clahe::clahe_image(engine(), &image, &params).expect("gpu clahe");
        let cpu = clahe::reference(&image, &params).expect("cpu clahe");
        let (exact, worst, n) = stats(&gpu, &expected);
        let (cpu_exact, cpu_worst, _) = stats(&cpu, &expected);
        eprintln!(
            "CLAHE {input} {}x{} clip {}: GPU {exact}/{n} identical, max |diff| {worst}; CPU ref {cpu_exact}/{n}, max {cpu_worst}",
            params.tiles_x, params.tiles_y, params.clip_limit
        );
        total_exact += exact;
        total_pixels += n;
        total_worst = total_worst.max(worst);
        let name = format!(
            "cv_clahe_{input}_{}x{}_c{}",
            params.tiles_x, params.tiles_y, params.clip_limit
        );
        assert_close(&name, &gpu, &expected, 1.0, 1.0);
        assert_close(&format!("{name}_cpu"), &cpu, &expected, 1.0, 1.0);
    }
    assert!(sixteen >= 10, "16-bit cases missing");
    eprintln!(
        "CLAHE total: {total_exact}/{total_pixels} pixels identical to OpenCV, max |diff| {total_worst}"
    );
}

#[test]
fn matching_equals_the_definition_exactly() {
    let m = manifest();
    let list = cases(&m, "match");
    assert!(list.len() >= 3, "expected match cases");
    for case in list {
        let input = case["input"].as_str().expect("input");
        let reference = case["reference"].as_str().expect("reference");
        let image = load(&m, input);
        let target = load(&m, reference);
        let expected = load_output(case);
        let href = HostMatchReference::Image {
            image: &target,
            rect: None,
            mask: None,
        };
        let gpu = histmatch::match_image(engine(), &image, None, &href, &MatchParams::default())
            .expect("gpu match");
        let (exact, worst, n) = stats(&gpu, &expected);
        eprintln!("match {input} -> {reference}: {exact}/{n} identical, max |diff| {worst}");
        assert_close(
            &format!("match_{input}_{reference}"),
            &gpu,
            &expected,
            0.0,
            0.0,
        );
        let cpu = histmatch::reference(&image, None, None, &href, &MatchParams::default())
            .expect("cpu match");
        assert_close(
            &format!("match_cpu_{input}_{reference}"),
            &cpu,
            &expected,
            0.0,
            0.0,
        );
    }
}
