//! `--preprocess paddleseg` against PaddleSeg 2.8.0 itself: the fixtures in
//! `tests/fixtures/paddleseg_preprocess/` are what `Compose([Resize, Normalize])` gave for 8-bit
//! images of odd sizes at network sides 256/320/512 (enlarging, shrinking, non-integer ratios, exact
//! 2×), written by `scripts/make_paddleseg_preprocess_fixtures.py`. Required: byte equality of
//!
//! - OpenCV's 8-bit `cv2.resize(INTER_LINEAR)` (the PNGs) and PaddleSeg's network input from a uint8
//!   array (`paddleseg-u8`, SHA-256 of the float32 bytes);
//! - PaddleSeg's network input from the image file (`paddleseg`: float32 resize), against OpenCV's
//!   C++ code (`cv2.setUseOptimized(False)`), and within what separates that from the default IPP
//!   run on the cases the fixtures dump.
//!
//! Then the plumbing: the kind changes the network input on a loaded segmenter, and the weights'
//! metadata (or a `.pdparams` file) picks it when nothing is asked, as the CLI reports.

use crate::common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::cli::{radpipe, s, stderr};
use common::{repo_path, require};
use radpipe::image::{HostImage, Pixels};
use radpipe::seg::infer::{
    Backend, PREPROCESS_KEY, Preprocess, PreprocessKind, SegInput, Segmenter, paddle_input,
    paddle_resize,
};
use radpipe::seg::weights::{read_pdparams, safetensors_bytes_with_metadata};
use radpipe::workflow::segment::load_segmenter_with;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn dir() -> PathBuf {
    repo_path("tests/fixtures/paddleseg_preprocess")
}

fn manifest() -> Value {
    let path = dir().join("manifest.json");
    let text = std::fs::read_to_string(require(&path)).expect("read manifest");
    serde_json::from_str(&text).expect("parse manifest")
}

fn cases() -> Vec<Value> {
    manifest()["cases"].as_array().expect("cases").clone()
}

fn read(name: &str) -> HostImage {
    radpipe::io::raster::read_raster(require(&dir().join(name))).expect("read fixture")
}

fn pre(case: &Value, kind: PreprocessKind) -> Preprocess {
    let size = case["size"].as_u64().expect("size") as u32;
    Preprocess::square(size).with_kind(kind)
}

fn sha256(values: &[f32]) -> String {
    let mut h = Sha256::new();
    for v in values {
        h.update(v.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn name(case: &Value) -> &str {
    case["name"].as_str().expect("name")
}

#[test]
fn u8_resize_is_byte_equal_to_cv2() {
    for case in cases() {
        let input = read(case["input"].as_str().expect("input"));
        let expected = read(case["cv2_u8"].as_str().expect("cv2_u8"));
        let Pixels::U8(want) = &expected.pixels else {
            panic!("{}: cv2 output is not 8-bit", name(&case));
        };
        let got = paddle_resize(&input, &pre(&case, PreprocessKind::PaddlesegU8)).expect("resize");
        let differing = got
            .iter()
            .zip(want)
            .filter(|(g, w)| **g != f32::from(**w))
            .count();
        assert_eq!(got.len(), want.len(), "{}", name(&case));
        assert_eq!(differing, 0, "{}: {differing} pixels differ", name(&case));
    }
}

#[test]
fn u8_network_input_is_byte_equal_to_paddleseg() {
    for case in cases() {
        let input = read(case["input"].as_str().expect("input"));
        let got = paddle_input(&input, &pre(&case, PreprocessKind::PaddlesegU8), 3).expect("input");
        assert_eq!(
            sha256(&got),
            case["sha256"]["u8"].as_str().expect("sha"),
            "{}",
            name(&case)
        );
    }
}

#[test]
fn file_network_input_is_byte_equal_to_paddleseg_on_opencvs_cpp_code() {
    let mut equal_to_ipp = 0;
    let all = cases();
    for case in &all {
        let input = read(case["input"].as_str().expect("input"));
        let p = pre(case, PreprocessKind::Paddleseg);
        let resized = paddle_resize(&input, &p).expect("resize");
        assert_eq!(
            sha256(&resized),
            case["sha256"]["cv2_f32_cpp"].as_str().expect("sha"),
            "{}: the float32 resize differs from cv2's",
            name(case)
        );
        let got = sha256(&paddle_input(&input, &p, 3).expect("input"));
        assert_eq!(
            got,
            case["sha256"]["file_cpp"].as_str().expect("sha"),
            "{}: the normalisation differs from PaddleSeg's",
            name(case)
        );
        equal_to_ipp += usize::from(got == case["sha256"]["file"].as_str().expect("sha"));
    }
    println!(
        "paddleseg: byte-equal to the default (IPP) PaddleSeg run in {equal_to_ipp} of {} cases",
        all.len()
    );
}

#[test]
fn file_network_input_is_within_what_ipp_changes() {
    let mut dumped = 0;
    for case in cases() {
        let Some(dump) = case["file_ipp_dump"].as_str() else {
            continue;
        };
        dumped += 1;
        let mut raw = Vec::new();
        let file = std::fs::File::open(require(&dir().join(dump))).expect("open dump");
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut raw)
            .expect("gunzip");
        let ipp: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let input = read(case["input"].as_str().expect("input"));
        let got = paddle_input(&input, &pre(&case, PreprocessKind::Paddleseg), 1).expect("input");
        assert_eq!(got.len(), ipp.len(), "{}", name(&case));
        let max = got
            .iter()
            .zip(&ipp)
            .map(|(a, b)| f64::from((a - b).abs()))
            .fold(0.0, f64::max);
        let bound = case["file_ipp_vs_cpp"]["max_abs"].as_f64().expect("bound");
        println!(
            "{}: max |radpipe − PaddleSeg with IPP| = {max:e}",
            name(&case)
        );
        assert!(max <= bound, "{}: {max} > {bound}", name(&case));
    }
    assert!(dumped > 0, "the manifest names no IPP dumps");
}

fn fixture_weights() -> PathBuf {
    repo_path("tests/fixtures/bisenet/weights.pdparams")
}

#[test]
fn the_kind_changes_the_network_input_of_a_segmenter() {
    let case = &cases()[0];
    let image = read(case["input"].as_str().expect("input"));
    let input = [SegInput {
        image: &image,
        window: None,
    }];
    let tensor = |kind| {
        let seg = Segmenter::load(require(&fixture_weights()), Backend::Cpu, pre(case, kind))
            .expect("load");
        let data = seg.input_tensor(&input).expect("input").into_data();
        data.try_to_vec::<f32>().expect("f32")
    };
    let radpipe = tensor(PreprocessKind::Radpipe);
    let paddle = tensor(PreprocessKind::Paddleseg);
    let paddle_u8 = tensor(PreprocessKind::PaddlesegU8);
    assert_eq!(
        sha256(&paddle),
        case["sha256"]["file_cpp"].as_str().expect("sha"),
        "the segmenter's paddleseg input is not PaddleSeg's"
    );
    assert_eq!(
        sha256(&paddle_u8),
        case["sha256"]["u8"].as_str().expect("sha")
    );
    let differ = |a: &[f32], b: &[f32]| a.iter().zip(b).filter(|(x, y)| x != y).count();
    assert!(differ(&radpipe, &paddle) > 0, "radpipe == paddleseg");
    assert!(differ(&paddle, &paddle_u8) > 0, "paddleseg == paddleseg-u8");
}

fn safetensors_with(dir: &Path, name: &str, preprocess: Option<&str>) -> PathBuf {
    let named = read_pdparams(require(&fixture_weights())).expect("read");
    let mut meta = std::collections::BTreeMap::new();
    meta.insert("input_size".to_string(), "64".to_string());
    if let Some(p) = preprocess {
        meta.insert(PREPROCESS_KEY.to_string(), p.to_string());
    }
    let path = dir.join(name);
    let bytes = safetensors_bytes_with_metadata(&named, &meta).expect("bytes");
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn the_weights_metadata_picks_the_preprocessing_unless_asked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let u8_model = safetensors_with(tmp.path(), "u8.safetensors", Some("paddleseg-u8"));
    let plain = safetensors_with(tmp.path(), "plain.safetensors", None);
    let bad = safetensors_with(tmp.path(), "bad.safetensors", Some("bicubic"));
    let load = |model: &Path, asked| {
        load_segmenter_with(
            None,
            Some(model),
            Some(64),
            radpipe::seg::infer::DeviceChoice::Cpu,
            asked,
        )
    };
    let cases = [
        (fixture_weights(), None, PreprocessKind::Paddleseg, "model"),
        (u8_model.clone(), None, PreprocessKind::PaddlesegU8, "model"),
        (plain, None, PreprocessKind::Radpipe, "default"),
        (
            u8_model,
            Some(PreprocessKind::Radpipe),
            PreprocessKind::Radpipe,
            "asked",
        ),
    ];
    for (model, asked, kind, source) in cases {
        let loaded = load(&model, asked).expect("load");
        assert_eq!(
            (loaded.preprocess.kind, loaded.preprocess.source),
            (kind, source),
            "{}",
            model.display()
        );
        assert_eq!(loaded.segmenter.preprocess().kind, kind);
    }
    let err = load(&bad, None)
        .expect_err("unknown preprocessing")
        .to_string();
    assert!(
        err.contains("bad.safetensors") && err.contains("bicubic"),
        "{err}"
    );
}

#[test]
fn segment_reports_which_preprocessing_ran() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let image = dir().join(cases()[0]["input"].as_str().expect("input"));
    let model = fixture_weights();
    for (extra, want) in [
        (vec![], "paddleseg (the model's)"),
        (vec!["--preprocess", "float"], "radpipe (asked for)"),
    ] {
        let json = tmp.path().join("report.json");
        let mut args = vec![
            "segment",
            s(&image),
            "-o",
            s(tmp.path()),
            "--model",
            s(&model),
            "--size",
            "64",
            "--device",
            "cpu",
            "--json",
            s(&json),
        ];
        args.extend(extra);
        let out = radpipe(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", stderr(&out));
        assert!(
            stdout.contains(&format!("preprocessing {want}")),
            "{stdout}"
        );
        let report: Value =
            serde_json::from_slice(&std::fs::read(&json).expect("report")).expect("json");
        let kind = want.split(' ').next().expect("kind");
        assert_eq!(report[0]["preprocess"]["kind"], kind, "{report}");
    }
    let out = radpipe(&[
        "segment",
        s(&image),
        "-o",
        s(tmp.path()),
        "--preprocess",
        "cubic",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cubic"), "{}", stderr(&out));
}

/// `run`'s segment stage with `preprocess = "paddleseg"` on the engine's device: the display values
/// come back for the host-side preprocessing (two readbacks per image instead of one), the report
/// says which preprocessing ran, and the mask is the segmenter's on the same device.
#[test]
fn run_segment_stage_takes_the_preprocessing_from_the_pipeline_file() {
    use radpipe::batch::{self, PipelineSpec};

    let case = &cases()[0];
    let image_path = dir().join(case["input"].as_str().expect("input"));
    let input = tempfile::tempdir().expect("input dir");
    std::fs::copy(&image_path, input.path().join("a.png")).expect("copy");
    let weights = fixture_weights();
    let text = format!(
        "output = \"png\"\n[[stage]]\nop = \"segment\"\nsize = 64\ndevice = \"gpu\"\n\
         preprocess = \"paddleseg\"\nweights = {:?}\n",
        s(&weights)
    );
    let spec = PipelineSpec::parse(&text, Path::new("inline.toml")).expect("spec");
    let engine = common::fresh_engine();
    let inputs = batch::collect_inputs(input.path()).expect("inputs");
    let out = tempfile::tempdir().expect("out");
    let report = batch::run_batch(&engine, &spec, &inputs, out.path(), |_| {}).expect("batch");
    assert_eq!(report.processed, 1, "{:?}", report.failed);
    assert_eq!(report.stats.readbacks, 2, "{:?}", report.stats);
    let used = report.segment_preprocess.expect("preprocess in the report");
    assert_eq!(
        (used.kind, used.source),
        (PreprocessKind::Paddleseg, "asked")
    );

    let segmenter = Segmenter::load(
        &weights,
        Backend::Gpu(engine.clone()),
        Preprocess::square(64).with_kind(PreprocessKind::Paddleseg),
    )
    .expect("segmenter");
    let image = read(case["input"].as_str().expect("input"));
    let expected = segmenter
        .segment(&[SegInput {
            image: &image,
            window: None,
        }])
        .expect("segment")
        .remove(0);
    let got = radpipe::io::raster::read_raster(&out.path().join("a.png")).expect("mask");
    assert_eq!(got.pixels, expected.pixels);

    let bad = text.replace("\"paddleseg\"", "\"bicubic\"");
    let err = PipelineSpec::parse(&bad, Path::new("inline.toml")).expect_err("bad preprocess");
    assert!(err.to_string().contains("bicubic"), "{err}");
}
