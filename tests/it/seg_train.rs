//! Training: the loss falls on a handful of images, a run resumes from its checkpoint's epoch, bad
//! data folders fail with clear errors, and `radpipe evaluate` scores a model on a labelled folder.
//! Everything runs on burn's CPU backend at 64² on tiny synthetic image/mask pairs made here.

use std::path::Path;
use std::process::Command;

use crate::common::cli::{radpipe, s};

use burn::tensor::{Device, Tensor, TensorData};
use radpipe::image::{HostImage, Pixels};
use radpipe::io::raster::write_png;
use radpipe::seg::BiSeNetV2Config;
use radpipe::seg::augment::{AugmentConfig, Rng, augment};
use radpipe::seg::dataset::{load_pair, pair_files};
use radpipe::seg::infer::Preprocess;
use radpipe::seg::loss::LossWeights;
use radpipe::seg::train::{AdamState, AdamW, TrainRequest, read_checkpoint, train, train_step};
use radpipe::seg::weights::{read_weights, save_weights, trained_input_size};

/// A synthetic "mid-sagittal slice": a textured disc (the head) with a bright curved band (the
/// structure to segment) at a per-image position and thickness; mask = the band.
fn synthetic(seed: u64, w: u32, h: u32) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let (cx, cy) = (
        w as f32 * rng.range(0.4, 0.6),
        h as f32 * rng.range(0.4, 0.6),
    );
    let r = w.min(h) as f32 * rng.range(0.18, 0.26);
    let thick = rng.range(2.5, 4.0);
    let (mut img, mut mask) = (Vec::new(), Vec::new());
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let head = (dx * dx + dy * dy).sqrt() < w.min(h) as f32 * 0.45;
            let d = (dx * dx + dy * dy).sqrt();
            let band = (d - r).abs() < thick && dy > 0.0;
            let base = if head { 70.0 } else { 5.0 };
            let v = if band { 200.0 } else { base } + 12.0 * rng.normal();
            img.push(v.clamp(0.0, 255.0) as u8);
            mask.push(if band { 255 } else { 0 });
        }
    }
    (img, mask)
}

fn write_pair(dir: &Path, image_name: &str, mask_name: &str, seed: u64) {
    let (img, mask) = synthetic(seed, 72, 64);
    let a = HostImage::new(72, 64, Pixels::U8(img)).expect("image");
    let b = HostImage::new(72, 64, Pixels::U8(mask)).expect("mask");
    write_png(&dir.join("image").join(image_name), &a).expect("write image");
    write_png(&dir.join("mask").join(mask_name), &b).expect("write mask");
}

/// `n` pairs per site, ABIDE-style names (role word msp / cc).
pub(crate) fn make_data(dir: &Path, sites: &[&str], n: usize) {
    std::fs::create_dir_all(dir.join("image")).expect("mkdir");
    std::fs::create_dir_all(dir.join("mask")).expect("mkdir");
    let mut seed = 1;
    for site in sites {
        for i in 0..n {
            write_pair(
                dir,
                &format!("{site}_{:07}_abide_msp.nii-slice000.png", 50000 + i),
                &format!("{site}_{:07}_abide_cc.nii-slice000.png", 50000 + i),
                seed,
            );
            seed += 1;
        }
    }
}

#[test]
fn loss_falls_over_a_few_steps_on_a_handful_of_images() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_data(dir.path(), &["A"], 4);
    let samples: Vec<_> = pair_files(dir.path())
        .expect("pairs")
        .iter()
        .map(|p| load_pair(p).expect("load"))
        .collect();
    let pre = Preprocess::square(64);
    let mut rng = Rng::new(5);
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    for s in &samples {
        let v = augment(s, &pre, 3, &AugmentConfig::none(), &mut rng);
        inputs.extend(v.input);
        targets.extend(v.target);
    }
    let device = Device::flex().autodiff();
    let mut model = BiSeNetV2Config::paddleseg(2, 0.25).init(&device);
    let mut adam = AdamState::default();
    let mut losses = Vec::new();
    for t in 1..=25 {
        let input =
            Tensor::<4>::from_data(TensorData::new(inputs.clone(), [4, 3, 64, 64]), &device);
        let target = Tensor::<3>::from_data(TensorData::new(targets.clone(), [4, 64, 64]), &device);
        let opt = AdamW {
            lr: 3e-3,
            weight_decay: 1e-4,
            t,
        };
        let loss;
        (model, loss) =
            train_step(model, &mut adam, input, target, LossWeights::default(), opt).expect("step");
        assert!(loss.is_finite(), "step {t}: loss {loss}");
        losses.push(loss);
    }
    let first = losses[..3].iter().sum::<f32>() / 3.0;
    let last = losses[losses.len() - 3..].iter().sum::<f32>() / 3.0;
    assert!(
        last < 0.6 * first,
        "loss should fall on a fixed batch: first {first:.4}, last {last:.4} ({losses:?})"
    );
}

#[test]
fn training_writes_weights_checkpoint_metrics_and_resumes_from_the_checkpoint_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    make_data(&data, &["A", "B", "C"], 3);
    let out = dir.path().join("m.safetensors");
    let request = TrainRequest {
        size: Some(64),
        epochs: Some(1),
        batch: Some(2),
        lr: Some(2e-3),
        warmup_steps: Some(1),
        val_sites: Some(vec!["C".into()]),
        steps_per_epoch: Some(2),
        ..TrainRequest::new(&data, &out)
    };
    let first = train(&request).expect("train");
    assert_eq!(first.counts, (6, 3));
    assert_eq!(first.history.len(), 1);
    let files = &first.files;
    for f in [&files.model, &files.checkpoint, &files.metrics, &files.best] {
        assert!(f.is_file(), "{} missing", f.display());
    }
    let ckpt = read_checkpoint(&files.checkpoint).expect("checkpoint");
    assert_eq!(ckpt.state.epoch, 1);
    assert_eq!(ckpt.state.step, 2);
    assert!(!ckpt.adam_m.is_empty() && ckpt.adam_m.len() == ckpt.adam_v.len());
    let dice = first.history[0].val_mean_dice.expect("validation Dice");
    assert!((0.0..=1.0).contains(&dice));

    // The weights load in the segmenter (what `radpipe segment --model` does) and record the
    // input size they were trained at.
    radpipe::seg::weights::load_model(&files.model, &Device::flex()).expect("weights load");
    assert_eq!(trained_input_size(&files.model), Some(64));
    assert_eq!(trained_input_size(&files.best), Some(64));

    // Resume: continues with epoch 2 from the checkpoint's step, keeps the history.
    let resumed = TrainRequest {
        resume: Some(files.checkpoint.clone()),
        epochs: Some(2),
        ..TrainRequest::new(&data, &out)
    };
    let second = train(&resumed).expect("resume");
    assert_eq!(
        second.history.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        second.history[0], first.history[0],
        "epoch 1 kept as it was"
    );
    let ckpt = read_checkpoint(&files.checkpoint).expect("checkpoint");
    assert_eq!((ckpt.state.epoch, ckpt.state.step), (2, 4));
    let csv = std::fs::read_to_string(&files.metrics).expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0].starts_with("epoch,train_loss,lr,steps,train_seconds,val_dice_C,val_dice_mean")
    );
    assert!(lines[2].starts_with("2,"), "{csv}");

    // Already done: nothing to do, history unchanged.
    let again = train(&resumed).expect("resume done");
    assert_eq!(again.history.len(), 2);

    // Resuming with a different setting is refused, naming it.
    let err = train(&TrainRequest {
        resume: Some(files.checkpoint.clone()),
        size: Some(96),
        ..TrainRequest::new(&data, &out)
    })
    .expect_err("different size");
    assert!(err.to_string().contains("--size 96"), "{err}");
}

#[test]
fn init_fine_tunes_from_existing_weights_and_refuses_other_shapes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    make_data(&data, &["A", "B"], 2);
    let base = |out: &Path| TrainRequest {
        size: Some(64),
        epochs: Some(1),
        batch: Some(2),
        warmup_steps: Some(1),
        val_sites: Some(vec!["B".into()]),
        steps_per_epoch: Some(1),
        ..TrainRequest::new(&data, out)
    };
    let first = train(&TrainRequest {
        lr: Some(2e-3),
        ..base(&dir.path().join("a.safetensors"))
    })
    .expect("first run");
    let start = read_weights(&first.files.model).expect("weights a");

    // A new run from those weights with a learning rate too small to move them: its convolution
    // kernels are the init file's (batch-norm running statistics do move), not a fresh init's.
    let tuned = train(&TrainRequest {
        lr: Some(1e-12),
        init: Some(first.files.model.clone()),
        ..base(&dir.path().join("b.safetensors"))
    })
    .expect("fine-tune");
    let after = read_weights(&tuned.files.model).expect("weights b");
    let fresh = train(&TrainRequest {
        lr: Some(1e-12),
        seed: Some(7),
        ..base(&dir.path().join("c.safetensors"))
    })
    .expect("fresh run");
    let fresh = read_weights(&fresh.files.model).expect("weights c");
    let kernel = "head.conv_1x1.weight";
    let max_diff = |a: &radpipe::seg::weights::NamedTensors,
                    b: &radpipe::seg::weights::NamedTensors| {
        a.tensors[kernel]
            .values
            .iter()
            .zip(&b.tensors[kernel].values)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(max_diff(&start, &after) < 1e-6, "init weights not loaded");
    assert!(
        max_diff(&start, &fresh) > 1e-3,
        "the comparison cannot fail"
    );
    let ckpt = read_checkpoint(&tuned.files.checkpoint).expect("checkpoint");
    assert_eq!(
        ckpt.state.settings.init.as_deref(),
        Some(first.files.model.as_path())
    );
    assert_eq!(ckpt.state.step, 1, "a new run: its own step count");

    // --init with --resume is refused; weights of another shape are refused naming the file.
    let err = train(&TrainRequest {
        resume: Some(tuned.files.checkpoint.clone()),
        init: Some(first.files.model.clone()),
        ..TrainRequest::new(&data, dir.path().join("b.safetensors"))
    })
    .expect_err("init and resume");
    assert!(err.to_string().contains("give one of them"), "{err}");
    let three = dir.path().join("three_classes.safetensors");
    save_weights(
        &BiSeNetV2Config::paddleseg(3, 0.25).init(&Device::flex()),
        &three,
    )
    .expect("save");
    let err = train(&TrainRequest {
        init: Some(three.clone()),
        ..base(&dir.path().join("d.safetensors"))
    })
    .expect_err("three classes");
    let msg = err.to_string();
    assert!(
        msg.contains("three_classes.safetensors") && msg.contains("3 classes"),
        "{msg}"
    );
}

#[test]
fn bad_data_folders_fail_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.safetensors");

    let missing = dir.path().join("nope");
    let err = train(&TrainRequest::new(&missing, &out)).expect_err("missing folder");
    assert!(err.to_string().contains("nope"), "{err}");

    let no_masks = dir.path().join("no_masks");
    std::fs::create_dir_all(no_masks.join("image")).expect("mkdir");
    let err = train(&TrainRequest::new(&no_masks, &out)).expect_err("no mask folder");
    assert!(err.to_string().contains("mask"), "{err}");

    let data = dir.path().join("data");
    make_data(&data, &["A"], 3);
    write_pair(
        &data,
        "A_9_abide_msp.nii-slice000.png",
        "Z_9_abide_cc.nii-slice000.png",
        9,
    );
    let err = train(&TrainRequest::new(&data, &out)).expect_err("unmatched");
    let msg = err.to_string();
    assert!(
        msg.contains("A_9_abide_msp.nii-slice000.png") && msg.contains("without a mask"),
        "{msg}"
    );
    assert!(
        msg.contains("Z_9_abide_cc.nii-slice000.png") && msg.contains("without an image"),
        "{msg}"
    );

    let data = dir.path().join("data2");
    make_data(&data, &["A", "B"], 3);
    let err = train(&TrainRequest {
        val_sites: Some(vec!["Q".into()]),
        ..TrainRequest::new(&data, &out)
    })
    .expect_err("unknown site");
    assert!(err.to_string().contains("unknown site(s) Q"), "{err}");

    let err = train(&TrainRequest::new(&data, dir.path().join("m.pt"))).expect_err("extension");
    assert!(err.to_string().contains(".safetensors"), "{err}");
}

/// Runs `radpipe evaluate --data DATA ARGS…`, asserts that it succeeded and returns its stdout.
pub(crate) fn evaluate_ok(data: &Path, args: &[&str]) -> String {
    let mut all = vec!["evaluate", "--data", s(data)];
    all.extend_from_slice(args);
    let out = radpipe(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn evaluate_prints_site_dice_and_angle_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    make_data(&data, &["A", "B"], 2);
    let model = dir.path().join("random.safetensors");
    let net = BiSeNetV2Config::paddleseg(2, 0.25).init(&Device::flex());
    save_weights(&net, &model).expect("save");
    let json = dir.path().join("eval.json");
    let stdout = evaluate_ok(
        &data,
        &[
            "--model",
            s(&model),
            "--size",
            "64",
            "--degraded",
            "--json",
            s(&json),
        ],
    );
    for kind in ["clean", "noise", "blur", "lowres"] {
        assert!(stdout.contains(&format!("{kind}: mean Dice")), "{stdout}");
    }
    assert!(stdout.contains("A ") && stdout.contains("B "), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("parse");
    assert_eq!(report["images"].as_array().map(Vec::len), Some(16));
    // --device auto (the default) says where the network ran.
    let backend = crate::seg_device::expected_auto();
    assert_eq!(report["device"]["backend"], backend, "{}", report["device"]);
    assert!(stdout.contains("network on "), "{stdout}");

    let out = Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .args(["evaluate", "--data"])
        .arg(&data)
        .arg("--model")
        .arg(&model)
        .args(["--sites", "Nowhere"])
        .output()
        .expect("run radpipe");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown site(s) Nowhere"));
}

/// Writes augmented views of real pairs as PNGs for a visual check:
/// `RADPIPE_AUGMENT_DATA=DIR cargo test --release --test seg_train -- --ignored augment_gallery`
/// (outputs in test-output/augment/: image and mask overlaid side by side).
#[test]
#[ignore = "visual check on a real data folder; set RADPIPE_AUGMENT_DATA"]
fn augment_gallery() {
    let Some(data) = std::env::var_os("RADPIPE_AUGMENT_DATA") else {
        return;
    };
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-output/augment");
    std::fs::create_dir_all(&out).expect("mkdir");
    let pairs = pair_files(Path::new(&data)).expect("pairs");
    let pre = Preprocess::square(256);
    let mut rng = Rng::new(11);
    for (i, p) in pairs.iter().step_by(pairs.len() / 6 + 1).enumerate() {
        let s = load_pair(p).expect("load");
        for k in 0..4 {
            let v = augment(&s, &pre, 1, &AugmentConfig::default(), &mut rng);
            let mut px = Vec::with_capacity(512 * 256);
            for y in 0..256 {
                for x in 0..256 {
                    px.push(((v.input[y * 256 + x] * 0.5 + 0.5) * 255.0).round() as u8);
                }
                for x in 0..256 {
                    let g = ((v.input[y * 256 + x] * 0.5 + 0.5) * 160.0) as u8;
                    px.push(if v.target[y * 256 + x] > 0.5 {
                        255
                    } else {
                        g / 2
                    });
                }
            }
            let img = HostImage::new(512, 256, Pixels::U8(px)).expect("image");
            write_png(&out.join(format!("{i}_{k}.png")), &img).expect("png");
        }
    }
}

#[test]
fn matmul_upsampling_equals_bilinear_interpolation() {
    use radpipe::seg::bisenet::{upsample, upsample_matmul};
    let device = Device::flex();
    let mut rng = Rng::new(3);
    for (from, to) in [
        ([5, 7], [16, 20]),
        ([16, 16], [5, 9]),
        ([8, 8], [64, 64]),
        ([3, 1], [6, 4]),
    ] {
        for align in [false, true] {
            let n = 2 * 3 * from[0] * from[1];
            let values: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let x =
                Tensor::<4>::from_data(TensorData::new(values, [2, 3, from[0], from[1]]), &device);
            let a = upsample(x.clone(), to, align)
                .into_data()
                .try_to_vec::<f32>()
                .expect("a");
            let b = upsample_matmul(x, to, align)
                .into_data()
                .try_to_vec::<f32>()
                .expect("b");
            let worst = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-5,
                "{from:?} -> {to:?} align {align}: max diff {worst}"
            );
        }
    }
}
