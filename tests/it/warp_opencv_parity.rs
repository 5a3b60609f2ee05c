//! Parity with opencv-python-headless: `cv2.warpAffine`, `cv2.getRotationMatrix2D` + `warpAffine`,
//! `cv2.warpPerspective`, a rotated-ROI crop and `cv2.resize` (INTER_LINEAR, INTER_AREA) on a real
//! radiograph (16-bit and 8-bit) and on random noise, with every border mode. The fixtures and their
//! manifest (parameters, cv2/numpy versions, whether IPP ran) come from
//! `scripts/make_opencv_warp_fixtures.py`.
//!
//! Target (issue 3): in `Sampling::OpenCv` mode at least 99.9 % of pixels within 1 LSB of cv2 and none
//! off by more than 2, for the GPU and for the CPU reference. The exact mode (float coordinates) is
//! measured too and held to a looser bound on the radiograph, since OpenCV's 1/32-px coordinate
//! quantisation moves steep edges. Every case prints its figures (`--nocapture`).

use crate::common;

use std::path::PathBuf;

use common::{engine, repo_path, require};
use radpipe::image::HostImage;
use radpipe::ops::resize::{self, ResizeMode, ResizeParams};
use radpipe::ops::warp::{self, Border, Sampling, Transform, WarpParams};
use serde_json::Value;

fn dir() -> PathBuf {
    repo_path("tests/fixtures/opencv_warp")
}

fn manifest() -> Value {
    let path = dir().join("manifest.json");
    let text = std::fs::read_to_string(require(&path)).expect("read manifest");
    serde_json::from_str(&text).expect("parse manifest")
}

fn read(name: &str) -> HostImage {
    let path = dir().join(name);
    radpipe::io::raster::read_raster(require(&path)).expect("read fixture")
}

fn num(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn matrix<const R: usize>(v: &Value) -> [[f64; 3]; R] {
    std::array::from_fn(|r| std::array::from_fn(|c| num(&v[r][c])))
}

fn border(case: &Value) -> Border {
    match case["border"].as_str().expect("border") {
        "constant" => Border::Constant(num(&case["border_value"])),
        "replicate" => Border::Replicate,
        "reflect101" => Border::Reflect101,
        other => panic!("unknown border {other}"),
    }
}

/// Either a warp or a resize, as the case describes it.
enum Op {
    Warp(WarpParams),
    Resize(ResizeParams),
}

fn op_for(case: &Value, sampling: Sampling) -> Op {
    let size = &case["size"];
    let (w, h) = (num(&size[0]) as u32, num(&size[1]) as u32);
    let name = case["name"].as_str().expect("name");
    let warp_with = |transform: Transform, inverse: bool| {
        let mut p = WarpParams::new(transform, w, h);
        p.inverse = inverse;
        p.border = border(case);
        p.sampling = sampling;
        Op::Warp(p)
    };
    match case["op"].as_str().expect("op") {
        "warp" => warp_with(
            Transform::Affine(matrix::<2>(&case["matrix"])),
            case["inverse"].as_bool().expect("inverse"),
        ),
        "persp" => warp_with(
            Transform::Perspective(matrix::<3>(&case["matrix"])),
            case["inverse"].as_bool().expect("inverse"),
        ),
        "rotate" => {
            let center = [num(&case["center"][0]), num(&case["center"][1])];
            let m = warp::rotation_matrix(center, num(&case["angle"]), num(&case["scale"]));
            assert_eq!(
                m,
                matrix::<2>(&case["matrix"]),
                "{name}: getRotationMatrix2D"
            );
            warp_with(Transform::Affine(m), false)
        }
        "crop" => {
            let center = [num(&case["center"][0]), num(&case["center"][1])];
            let m = warp::rotated_roi_matrix(center, [w, h], num(&case["angle"]));
            let cv = matrix::<2>(&case["matrix"]);
            for (a, b) in m.iter().flatten().zip(cv.iter().flatten()) {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "{name}: {m:?} vs {cv:?}"
                );
            }
            warp_with(Transform::Affine(m), false)
        }
        "resize" => {
            let mut p = ResizeParams::new(w, h);
            p.mode = match case["mode"].as_str().expect("mode") {
                "linear" => ResizeMode::Linear,
                _ => ResizeMode::Area,
            };
            p.sampling = sampling;
            Op::Resize(p)
        }
        other => panic!("unknown op {other}"),
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    pixels: usize,
    exact: usize,
    within1: usize,
    max: f64,
}

impl Stats {
    fn of(actual: &HostImage, expected: &HostImage) -> Stats {
        let d = common::abs_diffs(actual, expected);
        Stats {
            pixels: d.len(),
            exact: d.iter().filter(|&&x| x == 0.0).count(),
            within1: d.iter().filter(|&&x| x <= 1.0).count(),
            max: d.iter().cloned().fold(0.0, f64::max),
        }
    }
    fn pct(n: usize, of: usize) -> f64 {
        100.0 * n as f64 / of as f64
    }
    fn line(&self) -> String {
        format!(
            "{:7.3}% exact, {:7.3}% within 1 LSB, max {}",
            Self::pct(self.exact, self.pixels),
            Self::pct(self.within1, self.pixels),
            self.max
        )
    }
    fn meets_target(&self) -> bool {
        self.within1 as f64 >= 0.999 * self.pixels as f64 && self.max <= 2.0
    }
}

fn run(op: &Op, input: &HostImage, gpu: bool) -> HostImage {
    let engine = engine();
    match (op, gpu) {
        (Op::Warp(p), true) => warp::warp_image(engine, input, p),
        (Op::Warp(p), false) => warp::reference(input, p),
        (Op::Resize(p), true) => resize::resize_image(engine, input, p),
        (Op::Resize(p), false) => resize::reference(input, p),
    }
    .expect("resample")
}

#[test]
fn opencv_mode_matches_cv2() {
    let m = manifest();
    eprintln!(
        "fixtures: cv2 {} (IPP {}), numpy {}",
        m["versions"]["cv2"], m["ipp"], m["versions"]["numpy"]
    );
    let cases = m["cases"].as_array().expect("cases");
    assert!(cases.len() >= 60, "manifest lists {} cases", cases.len());
    let mut failures = Vec::new();
    let (mut total, mut within, mut exact) = (0usize, 0usize, 0usize);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let input = read(case["input"].as_str().expect("input"));
        let expected = read(case["output"].as_str().expect("output"));
        let op = op_for(case, Sampling::OpenCv);
        for gpu in [true, false] {
            let actual = run(&op, &input, gpu);
            assert_eq!(
                (actual.width, actual.height, actual.format()),
                (expected.width, expected.height, expected.format()),
                "{name}: shape"
            );
            let s = Stats::of(&actual, &expected);
            let side = if gpu { "gpu" } else { "cpu" };
            eprintln!("{name:38} {side}: {}", s.line());
            if gpu {
                total += s.pixels;
                within += s.within1;
                exact += s.exact;
            }
            if !s.meets_target() {
                common::write_failure_images(&format!("opencv_{name}_{side}"), &actual, &expected);
                failures.push(format!("{name} ({side}): {}", s.line()));
            }
        }
    }
    eprintln!(
        "all cases (gpu): {:.4}% exact, {:.4}% within 1 LSB of {} pixels",
        Stats::pct(exact, total),
        Stats::pct(within, total),
        total
    );
    assert!(
        failures.is_empty(),
        "below the parity target (≥ 99.9 % within 1 LSB, max ≤ 2):\n{}",
        failures.join("\n")
    );
}

/// The exact mode (float coordinates) is not OpenCV's arithmetic, but on the radiograph it must stay
/// close. Its difference is what OpenCV's 1/32-px coordinate quantisation is worth: up to 1/64 px
/// times the local gradient, largest where a constant border meets bright anatomy. Bounds (measured
/// with margin, fixtures are fixed): 8-bit cases and all resizes ≥ 99.9 % within 1 LSB, max ≤ 4;
/// 16-bit warps ≥ 99.5 % within 0.1 % of full scale (65 LSB), max ≤ 0.5 % (328 LSB). On noise every
/// pixel is an edge (1/32 px is worth up to 8 LSB at 8 bits), so noise is only reported.
#[test]
fn exact_mode_stays_close_to_cv2_on_the_radiograph() {
    let m = manifest();
    let mut failures = Vec::new();
    for case in m["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let input = read(case["input"].as_str().expect("input"));
        let expected = read(case["output"].as_str().expect("output"));
        let actual = run(&op_for(case, Sampling::Exact), &input, true);
        let s = Stats::of(&actual, &expected);
        let d = common::abs_diffs(&actual, &expected);
        let within65 = d.iter().filter(|&&x| x <= 65.0).count();
        eprintln!(
            "{name:38} exact: {}, {:7.3}% within 65",
            s.line(),
            Stats::pct(within65, s.pixels)
        );
        if !name.starts_with("cr_") {
            continue;
        }
        let ok = if name.starts_with("cr_u8") || case["op"] == "resize" {
            s.within1 as f64 >= 0.999 * s.pixels as f64 && s.max <= 4.0
        } else {
            within65 as f64 >= 0.995 * s.pixels as f64 && s.max <= 328.0
        };
        if !ok {
            failures.push(format!("{name}: {}", s.line()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
