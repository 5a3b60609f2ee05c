//! Batch mode: a folder of real and broken files through a pipeline file. Good files are written,
//! bad ones are reported and skipped without stopping the batch or leaving partial outputs, each image
//! costs one upload, one submission and one readback, and GPU allocations stop growing after the first
//! images (the pool reaches a steady state), so a 10 000-image batch holds the same memory as a
//! 10-image one.

use crate::common;

use std::path::{Path, PathBuf};

use common::repo_path;
use radpipe::batch::{self, BatchEvent, PipelineSpec};
use radpipe::image::{HostImage, Pixels};

const PIPELINE: &str = "output = \"png\"\n[[stage]]\nop = \"window\"\ncenter = 40\nwidth = 400\n";

fn folder_with(files: &[(&str, &Path)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, src) in files {
        std::fs::copy(src, dir.path().join(name)).expect("copy");
    }
    dir
}

#[test]
fn good_files_written_bad_files_skipped() {
    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let mr = repo_path("tests/data/dicom/mr_small.dcm");
    let input = folder_with(&[("a_ct.dcm", &ct), ("b_mr.dcm", &mr)]);
    std::fs::write(input.path().join("c_junk.dcm"), vec![7u8; 3000]).expect("junk");
    let bytes = std::fs::read(&ct).expect("read");
    std::fs::write(
        input.path().join("d_truncated.dcm"),
        &bytes[..bytes.len() / 2],
    )
    .expect("truncated");
    let out = tempfile::tempdir().expect("out");

    let spec = PipelineSpec::parse(PIPELINE, Path::new("inline.toml")).expect("spec");
    let inputs = batch::collect_inputs(input.path()).expect("inputs");
    assert_eq!(inputs.len(), 4);
    let engine = common::fresh_engine();
    let mut events = Vec::new();
    let report = batch::run_batch(&engine, &spec, &inputs, out.path(), |e| {
        events.push(match e {
            BatchEvent::Done { input, .. } => format!("ok {}", input.display()),
            BatchEvent::Failed { error, .. } => format!("failed {error}"),
        })
    })
    .expect("batch");
    assert_eq!(report.processed, 2, "{events:?}");
    assert_eq!(report.failed.len(), 2, "{events:?}");
    assert!(
        report
            .failed
            .iter()
            .any(|(p, e)| p.ends_with("c_junk.dcm") && e.contains("c_junk.dcm"))
    );
    assert!(
        report
            .failed
            .iter()
            .any(|(p, _)| p.ends_with("d_truncated.dcm"))
    );
    let written: Vec<PathBuf> = batch::collect_inputs(out.path()).expect("outputs");
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a_ct.png", "b_mr.png"]);
    let leftovers = std::fs::read_dir(out.path()).expect("dir").count();
    assert_eq!(leftovers, 2, "no partial files");
    // One upload, one submission, one readback per written image; failed files cost nothing on the GPU.
    assert_eq!(report.stats.uploads, 2, "{:?}", report.stats);
    assert_eq!(report.stats.submissions, 2, "{:?}", report.stats);
    assert_eq!(report.stats.readbacks, 2, "{:?}", report.stats);

    // The batch output equals the single-file command's output.
    let single = out.path().join("single.png");
    let request = radpipe::ops::window::WindowRequest {
        center: Some(40.0),
        width: Some(400.0),
        ..Default::default()
    };
    radpipe::workflow::window::window_file(&engine, &ct, &single, &request, 0).expect("single");
    let a = radpipe::io::raster::read_raster(&out.path().join("a_ct.png")).expect("a");
    let b = radpipe::io::raster::read_raster(&single).expect("single");
    assert_eq!(a.pixels, b.pixels);
}

#[test]
fn gpu_allocations_reach_a_steady_state() {
    let input = tempfile::tempdir().expect("tempdir");
    for i in 0..120u32 {
        let img = HostImage::new(
            40 + i % 3,
            30,
            Pixels::U16(
                (0..(40 + i % 3) * 30)
                    .map(|p| ((p * 13 + i) % 4096) as u16)
                    .collect(),
            ),
        )
        .expect("image");
        radpipe::io::raster::write_png(&input.path().join(format!("img{i:04}.png")), &img)
            .expect("png");
    }
    let out = tempfile::tempdir().expect("out");
    let spec = PipelineSpec::parse(PIPELINE, Path::new("inline.toml")).expect("spec");
    let inputs = batch::collect_inputs(input.path()).expect("inputs");
    let engine = common::fresh_engine();
    let first =
        batch::run_batch(&engine, &spec, &inputs[..20], out.path(), |_| {}).expect("first 20");
    let rest =
        batch::run_batch(&engine, &spec, &inputs[20..], out.path(), |_| {}).expect("next 100");
    assert_eq!(first.processed + rest.processed, 120);
    assert_eq!(
        rest.stats.buffers_created, 0,
        "the pool must serve the next 100 images: {:?}",
        rest.stats
    );
    assert_eq!(rest.stats.pipelines_created, 0);
    assert_eq!(rest.stats.readbacks, 100);
}

#[test]
fn cli_reports_failures_with_a_nonzero_exit() {
    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let input = folder_with(&[("good.dcm", &ct)]);
    std::fs::write(input.path().join("bad.dcm"), b"nope").expect("bad");
    let out = tempfile::tempdir().expect("out");
    let pipeline = input
        .path()
        .join("..")
        .join(format!("p{}.toml", std::process::id()));
    std::fs::write(&pipeline, PIPELINE).expect("pipeline");
    let report = out.path().join("report.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .arg("run")
        .arg(&pipeline)
        .arg(input.path())
        .arg("-o")
        .arg(out.path().join("results"))
        .arg("--report")
        .arg(&report)
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&pipeline);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bad.dcm"), "{stderr}");
    assert!(out.path().join("results/good.png").exists());
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    assert_eq!(v["processed"], 1);

    let bad_spec = input.path().join("broken.toml");
    std::fs::write(&bad_spec, "output = \"png\"\n[[stage]]\nop = \"sharpen\"\n").expect("spec");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .arg("run")
        .arg(&bad_spec)
        .arg(input.path())
        .arg("-o")
        .arg(out.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("broken.toml"));
}

/// A four-stage pipeline (resize → window → CLAHE → equalize) is recorded into one submission per
/// image and gives exactly what the single-op library calls give one after another.
#[test]
fn multi_stage_pipeline_matches_the_ops_chained_by_hand() {
    use radpipe::ops::{clahe, equalize, resize, window};

    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let mr = repo_path("tests/data/dicom/mr_small.dcm");
    let input = folder_with(&[("a_ct.dcm", &ct), ("b_mr.dcm", &mr)]);
    let out = tempfile::tempdir().expect("out");
    let text = "output = \"dcm\"\n\
                [[stage]]\nop = \"resize\"\nscale = 0.5\nmode = \"area\"\n\
                [[stage]]\nop = \"window\"\nbits = 12\n\
                [[stage]]\nop = \"clahe\"\nclip-limit = 3.0\ntiles = [4, 4]\nbits = 12\n\
                [[stage]]\nop = \"equalize\"\nbits = 12\n";
    let spec = PipelineSpec::parse(text, Path::new("inline.toml")).expect("spec");
    let inputs = batch::collect_inputs(input.path()).expect("inputs");
    let engine = common::fresh_engine();
    let report = batch::run_batch(&engine, &spec, &inputs, out.path(), |_| {}).expect("batch");
    assert_eq!(report.processed, 2, "{:?}", report.failed);
    // Per image: the image itself plus the resize stage's coefficient table (tables are counted as
    // uploads too); one submission; one readback.
    assert_eq!(report.stats.uploads, 2 * 2, "{:?}", report.stats);
    assert_eq!(report.stats.submissions, 2, "{:?}", report.stats);
    assert_eq!(report.stats.readbacks, 2, "{:?}", report.stats);

    for (name, src) in [("a_ct", &ct), ("b_mr", &mr)] {
        let dicom = radpipe::io::dicom::read_dicom(src).expect("read");
        let stored = dicom.frame(0).expect("frame");
        let mut rp = resize::ResizeParams::new(
            (f64::from(stored.width) * 0.5).round() as u32,
            (f64::from(stored.height) * 0.5).round() as u32,
        );
        rp.mode = resize::ResizeMode::Area;
        let small = resize::resize_image(&engine, &stored, &rp).expect("resize");
        let request = window::WindowRequest {
            bits: 12,
            ..Default::default()
        };
        let settings = window::WindowSettings::from_source(&dicom, 0, &request).expect("settings");
        let shown = window::window_image(&engine, &small, &settings).expect("window");
        let cp = clahe::ClaheParams {
            clip_limit: 3.0,
            tiles_x: 4,
            tiles_y: 4,
            bits: Some(12),
            ..Default::default()
        };
        let contrast = clahe::clahe_image(&engine, &shown, &cp).expect("clahe");
        let ep = equalize::EqualizeParams {
            bits: Some(12),
            ..Default::default()
        };
        let expected = equalize::equalize_image(&engine, &contrast, &ep).expect("equalize");

        let written = radpipe::io::dicom::read_dicom(&out.path().join(format!("{name}.dcm")))
            .expect("read output");
        let got = written.frame(0).expect("output frame");
        assert_eq!((got.width, got.height), (expected.width, expected.height));
        assert_eq!(got.pixels, expected.pixels, "{name}");
        assert_eq!(written.bits_stored, 12, "{name}");
        // The pixel spacing follows the resize.
        let (src_sp, out_sp) = (stored.geometry.pixel_spacing, got.geometry.pixel_spacing);
        if let (Some(a), Some(b)) = (src_sp, out_sp) {
            let ratio = stored.width as f64 / got.width as f64;
            assert!((b[1] - a[1] * ratio).abs() < 1e-6, "{a:?} -> {b:?}");
        }
    }
}

#[test]
fn window_after_a_value_stage_is_refused_by_name() {
    let err = PipelineSpec::parse(
        "output = \"png\"\n[[stage]]\nop = \"clahe\"\n[[stage]]\nop = \"window\"\n",
        Path::new("order.toml"),
    )
    .expect_err("window after clahe");
    let text = err.to_string();
    assert!(
        text.starts_with("order.toml: ") && text.contains("window"),
        "{text}"
    );
}

/// A rotate stage equals `radpipe rotate`'s library call (same matrix, same kernel) and keeps the
/// stored values, so a window stage may follow it.
#[test]
fn rotate_stage_matches_the_rotate_op() {
    use radpipe::ops::{warp, window};

    let mr = repo_path("tests/data/dicom/mr_small.dcm");
    let input = folder_with(&[("mr.dcm", &mr)]);
    let out = tempfile::tempdir().expect("out");
    let text = "output = \"png\"\n[[stage]]\nop = \"rotate\"\nangle = 7.5\nscale = 1.1\nborder = \"replicate\"\n\
                [[stage]]\nop = \"window\"\ncenter = 600\nwidth = 1200\n";
    let spec = PipelineSpec::parse(text, Path::new("inline.toml")).expect("spec");
    let inputs = batch::collect_inputs(input.path()).expect("inputs");
    let engine = common::fresh_engine();
    let report = batch::run_batch(&engine, &spec, &inputs, out.path(), |_| {}).expect("batch");
    assert_eq!(report.processed, 1, "{:?}", report.failed);
    assert_eq!(report.stats.submissions, 1);

    let dicom = radpipe::io::dicom::read_dicom(&mr).expect("read");
    let stored = dicom.frame(0).expect("frame");
    let center = radpipe::workflow::warp::image_center(&stored);
    let mut params = warp::WarpParams::new(
        warp::Transform::Affine(warp::rotation_matrix(center, 7.5, 1.1)),
        stored.width,
        stored.height,
    );
    params.border = warp::Border::Replicate;
    let turned = warp::warp_image(&engine, &stored, &params).expect("rotate");
    let request = window::WindowRequest {
        center: Some(600.0),
        width: Some(1200.0),
        ..Default::default()
    };
    let settings = window::WindowSettings::from_source(&dicom, 0, &request).expect("settings");
    let expected = window::window_image(&engine, &turned, &settings).expect("window");
    let got = radpipe::io::raster::read_raster(&out.path().join("mr.png")).expect("png");
    assert_eq!(got.pixels, expected.pixels);
}

/// A match stage after a window: every image's display values are matched to a reference read and
/// uploaded once for the batch, and equal the match op run by hand (window, then `match_image`).
/// A reference of another sample format fails each image by name without stopping the batch.
#[test]
fn match_stage_matches_the_match_op_and_uploads_its_reference_once() {
    use radpipe::ops::histmatch::{HostMatchReference, MatchParams, match_image};
    use radpipe::ops::window;

    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let mr = repo_path("tests/data/dicom/mr_small.dcm");
    let reference = repo_path("data/demo/brain_mid_sagittal.png");
    let input = folder_with(&[("a_ct.dcm", &ct), ("b_mr.dcm", &mr)]);
    let pipes = tempfile::tempdir().expect("pipes");
    std::fs::copy(&reference, pipes.path().join("ref.png")).expect("copy ref");
    let pipeline = pipes.path().join("p.toml");
    std::fs::write(
        &pipeline,
        "output = \"png\"\n[[stage]]\nop = \"window\"\n[[stage]]\nop = \"match\"\nreference = \"ref.png\"\n",
    )
    .expect("write pipeline");
    let spec = PipelineSpec::read(&pipeline).expect("spec");
    let inputs = batch::collect_inputs(input.path()).expect("inputs");
    let engine = common::fresh_engine();
    let out = tempfile::tempdir().expect("out");
    let report = batch::run_batch(&engine, &spec, &inputs, out.path(), |_| {}).expect("batch");
    assert_eq!(report.processed, 2, "{:?}", report.failed);
    assert_eq!(report.stats.uploads, 1 + 2, "{:?}", report.stats);
    assert_eq!(report.stats.submissions, 2, "{:?}", report.stats);
    assert_eq!(report.stats.readbacks, 2, "{:?}", report.stats);

    let ref_image = radpipe::io::raster::read_raster(&reference).expect("ref");
    for (name, src) in [("a_ct", &ct), ("b_mr", &mr)] {
        let dicom = radpipe::io::dicom::read_dicom(src).expect("read");
        let stored = dicom.frame(0).expect("frame");
        let settings =
            window::WindowSettings::from_source(&dicom, 0, &window::WindowRequest::default())
                .expect("settings");
        let shown = window::window_image(&engine, &stored, &settings).expect("window");
        let expected = match_image(
            &engine,
            &shown,
            None,
            &HostMatchReference::Image {
                image: &ref_image,
                rect: None,
                mask: None,
            },
            &MatchParams::default(),
        )
        .expect("match");
        let got =
            radpipe::io::raster::read_raster(&out.path().join(format!("{name}.png"))).expect("png");
        assert_eq!(got.pixels, expected.pixels, "{name}");
        assert_ne!(got.pixels, shown.pixels, "{name}: matching changed nothing");
    }

    // Stored 16-bit values against an 8-bit reference: refused per image, by name.
    std::fs::write(
        &pipeline,
        "output = \"png\"\n[[stage]]\nop = \"match\"\nreference = \"ref.png\"\n",
    )
    .expect("write pipeline");
    let spec = PipelineSpec::read(&pipeline).expect("spec");
    let out = tempfile::tempdir().expect("out");
    let report = batch::run_batch(&engine, &spec, &inputs, out.path(), |_| {}).expect("batch");
    assert_eq!(report.processed, 0);
    assert_eq!(report.failed.len(), 2);
    for (input, why) in &report.failed {
        assert!(
            why.contains(&input.display().to_string()) && why.contains("same sample format"),
            "{why}"
        );
    }
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 0);

    // A missing reference stops the batch before any image, naming the reference.
    std::fs::remove_file(pipes.path().join("ref.png")).expect("rm");
    let err = batch::run_batch(&engine, &spec, &inputs, out.path(), |_| {})
        .expect_err("missing reference")
        .to_string();
    assert!(err.contains("ref.png"), "{err}");
}

/// A warp stage (perspective matrix, explicit size, reflect border) equals `radpipe warp`'s library
/// call, and a singular matrix is refused when the pipeline file is read, naming the file.
#[test]
fn warp_stage_matches_the_warp_op_and_singular_matrices_are_refused() {
    use radpipe::ops::warp;

    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let input = folder_with(&[("ct.dcm", &ct)]);
    let out = tempfile::tempdir().expect("out");
    let m = [1.05, 0.08, -6.0, -0.04, 0.97, 3.5, 0.0004, -0.0002, 1.0];
    let text = format!(
        "output = \"dcm\"\n[[stage]]\nop = \"warp\"\nmatrix = {m:?}\nsize = [150, 110]\nborder = \"reflect\"\n"
    );
    let spec = PipelineSpec::parse(&text, Path::new("inline.toml")).expect("spec");
    let inputs = batch::collect_inputs(input.path()).expect("inputs");
    let engine = common::fresh_engine();
    let report = batch::run_batch(&engine, &spec, &inputs, out.path(), |_| {}).expect("batch");
    assert_eq!(report.processed, 1, "{:?}", report.failed);
    assert_eq!(report.stats.submissions, 1);
    assert_eq!(report.stats.readbacks, 1);

    let stored = radpipe::io::dicom::read_dicom(&ct)
        .expect("read")
        .frame(0)
        .expect("frame");
    let mut params = warp::WarpParams::new(
        warp::Transform::Perspective([[m[0], m[1], m[2]], [m[3], m[4], m[5]], [m[6], m[7], m[8]]]),
        150,
        110,
    );
    params.border = warp::Border::Reflect101;
    let expected = warp::warp_image(&engine, &stored, &params).expect("warp");
    let got = radpipe::io::dicom::read_dicom(&out.path().join("ct.dcm"))
        .expect("output")
        .frame(0)
        .expect("output frame");
    assert_eq!((got.width, got.height), (150, 110));
    assert_eq!(got.pixels, expected.pixels);

    let err = PipelineSpec::parse(
        "output = \"png\"\n[[stage]]\nop = \"warp\"\nmatrix = [1, 2, 0, 2, 4, 0]\n",
        Path::new("singular.toml"),
    )
    .expect_err("singular")
    .to_string();
    assert!(
        err.starts_with("singular.toml: ") && err.contains("singular"),
        "{err}"
    );
}

/// A segment stage gives the same masks as the segmentation library call on the same images (the
/// DICOM windowed by its own window first, the 8-bit PNG as it is), with one upload and one
/// readback per image and the network loaded once; misplaced or 16-bit-fed segment stages are
/// refused by name.
#[test]
fn segment_stage_matches_the_segmenter_and_reads_back_once_per_image() {
    use radpipe::ops::window::{WindowRequest, WindowSettings};
    use radpipe::seg::infer::{Backend, Preprocess, SegInput, Segmenter};
    use radpipe::workflow::segment::resolve_model;

    let brain = repo_path("data/demo/brain_mid_sagittal.png");
    let mr = repo_path("tests/data/dicom/mr_small.dcm");
    let input = folder_with(&[("a_brain.png", &brain), ("b_mr.dcm", &mr)]);
    let spec = PipelineSpec::parse(
        "output = \"png\"\n[[stage]]\nop = \"segment\"\nsize = 256\n",
        Path::new("inline.toml"),
    )
    .expect("spec");
    let inputs = batch::collect_inputs(input.path()).expect("inputs");
    let engine = common::fresh_engine();
    let out = tempfile::tempdir().expect("out");
    let report = batch::run_batch(&engine, &spec, &inputs, out.path(), |_| {}).expect("batch");
    assert_eq!(report.processed, 2, "{:?}", report.failed);
    assert_eq!(report.stats.uploads, 2, "{:?}", report.stats);
    assert_eq!(report.stats.readbacks, 2, "{:?}", report.stats);

    let segmenter = Segmenter::load(
        &resolve_model(None).expect("shipped model"),
        Backend::Gpu(engine.clone()),
        Preprocess::square(256),
    )
    .expect("segmenter");
    let png = radpipe::io::raster::read_raster(&brain).expect("png");
    let dicom = radpipe::io::dicom::read_dicom(&mr).expect("dicom");
    let stored = dicom.frame(0).expect("frame");
    let settings =
        WindowSettings::from_source(&dicom, 0, &WindowRequest::default()).expect("window");
    for (name, image, window) in [("a_brain", &png, None), ("b_mr", &stored, Some(&settings))] {
        let expected = segmenter
            .segment(&[SegInput { image, window }])
            .expect("segment")
            .remove(0);
        let got = radpipe::io::raster::read_raster(&out.path().join(format!("{name}.png")))
            .expect("mask");
        assert_eq!(
            (got.width, got.height),
            (image.width, image.height),
            "{name}"
        );
        assert_eq!(got.pixels, expected.pixels, "{name}");
    }
    let Pixels::U8(mask) = &radpipe::io::raster::read_raster(&out.path().join("a_brain.png"))
        .expect("mask")
        .pixels
    else {
        panic!("mask is not 8-bit");
    };
    let foreground = mask.iter().filter(|&&v| v == 255).count();
    assert!(
        foreground > 200 && mask.iter().all(|&v| v == 0 || v == 255),
        "the bundled slice's corpus callosum: {foreground} px"
    );

    // 12-bit display values cannot feed the network: refused per image, naming it.
    let spec = PipelineSpec::parse(
        "output = \"png\"\n[[stage]]\nop = \"window\"\nbits = 12\n[[stage]]\nop = \"segment\"\n",
        Path::new("inline.toml"),
    )
    .expect("spec");
    let out = tempfile::tempdir().expect("out");
    let mr_dir = folder_with(&[("b_mr.dcm", &mr)]);
    let mr_only = batch::collect_inputs(mr_dir.path()).expect("inputs");
    let report = batch::run_batch(&engine, &spec, &mr_only, out.path(), |_| {}).expect("batch");
    assert_eq!(report.processed, 0);
    let (input, why) = &report.failed[0];
    assert!(
        why.contains(&input.display().to_string()) && why.contains("8-bit display values"),
        "{why}"
    );
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 0);

    // A segment stage anywhere but last, or a network size out of range, is refused with the file.
    for (text, expected) in [
        (
            "output = \"png\"\n[[stage]]\nop = \"segment\"\n[[stage]]\nop = \"equalize\"\n",
            "must be the last stage",
        ),
        (
            "output = \"png\"\n[[stage]]\nop = \"segment\"\nsize = 16\n",
            "size 16 must be within",
        ),
    ] {
        let err = PipelineSpec::parse(text, Path::new("seg.toml"))
            .expect_err(expected)
            .to_string();
        assert!(err.contains("seg.toml") && err.contains(expected), "{err}");
    }
}
