//! Segmentation on the shared device against the CPU path, stage by stage and end to end:
//! - `seg_preprocess.wgsl` (resize + normalise into a batch buffer at an offset) against
//!   `preprocess_reference`, on fresh random u8 images and windowed u16 images of awkward sizes,
//!   enlarged and shrunk, into poisoned buffers: within 1e-5 (both compute the same f32 expression;
//!   the GPU may fuse multiply-adds);
//! - `seg_mask.wgsl` against `mask_reference` on random margins: equal wherever the resized margin is
//!   farther than 1e-4 from the threshold;
//! - the whole pipeline (upload → window → preprocess → copy into burn → BiSeNetV2 → copy out → mask
//!   → readback) with the PaddleSeg fixture weights: GPU logits within 1e-3 of the CPU backend's,
//!   masks equal away from the threshold, and `engine.stats()` showing exactly one upload and one
//!   readback per image.

use crate::common;

use common::{Rng, engine, fresh_engine, repo_path, require, seed};
use radpipe::image::{Geometry, HostImage, PixelFormat, Pixels};
use radpipe::ops::window::{self, WindowRequest, WindowSettings};
use radpipe::pipeline::Recorder;
use radpipe::seg::infer::{
    Backend, Preprocess, SegInput, Segmenter, display_reference, encode_mask, encode_preprocess,
    margin_resized, mask_reference, preprocess_reference,
};
use radpipe::seg::weights::{model_from_tensors, read_pdparams};

fn random_u8(rng: &mut Rng, w: u32, h: u32) -> HostImage {
    let n = (w * h) as usize;
    HostImage::new(
        w,
        h,
        Pixels::U8((0..n).map(|_| rng.int(0, 255) as u8).collect()),
    )
    .expect("img")
}

fn random_u16(rng: &mut Rng, w: u32, h: u32) -> HostImage {
    let n = (w * h) as usize;
    HostImage::new(
        w,
        h,
        Pixels::U16((0..n).map(|_| rng.int(0, 4095) as u16).collect()),
    )
    .expect("img")
}

#[test]
fn preprocess_shader_matches_reference() {
    let engine = engine();
    let mut rng = Rng::new(seed("preprocess_shader_matches_reference"));
    let pre = Preprocess {
        kind: radpipe::seg::infer::PreprocessKind::Radpipe,
        width: 64 + rng.int(0, 40) as u32,
        height: 48 + rng.int(0, 40) as u32,
        mean: 0.5,
        std: 0.5,
    };
    let sizes = [(37u32, 23u32), (300, 211), (64, 64), (1, 1), (129, 7)];
    for &(w, h) in &sizes {
        let u8_img = random_u8(&mut rng, w, h);
        let u16_img = random_u16(&mut rng, w, h);
        let settings =
            WindowSettings::for_image(&u16_img, &WindowRequest::default()).expect("window");
        let inputs = [
            SegInput {
                image: &u8_img,
                window: None,
            },
            SegInput {
                image: &u16_img,
                window: Some(&settings),
            },
        ];
        let plane = (pre.width * pre.height) as usize;
        let mut rec = Recorder::new(engine);
        let batch = rec
            .alloc_image(
                pre.width,
                pre.height * 6,
                PixelFormat::F32,
                Geometry::default(),
            )
            .expect("batch");
        for (i, input) in inputs.iter().enumerate() {
            let stored = engine.upload(input.image).expect("upload");
            let display = match input.window {
                Some(s) => window::encode(&mut rec, &stored, s).expect("window"),
                None => stored,
            };
            encode_preprocess(&mut rec, &display, &batch, (i * 3 * plane) as u32, 3, &pre)
                .expect("encode");
        }
        let download = rec.download(&batch).expect("download");
        rec.submit().expect("submit");
        let Pixels::F32(got) = download.wait().expect("wait").pixels else {
            panic!("f32 expected")
        };
        let mut expected = Vec::new();
        for input in &inputs {
            expected.extend(preprocess_reference(
                &display_reference(input).expect("display"),
                &pre,
                3,
            ));
        }
        // The u8 input goes straight to the preprocess stage: float-exact. The u16 input is windowed
        // first, and the window stage may differ from its CPU reference by 1 display LSB at rounding
        // ties (tests/it/window_gpu_vs_cpu.rs), i.e. 1 / (255 · std) after normalisation.
        for (i, tolerance) in [(0usize, 1e-5f32), (1, 1.0 / (255.0 * pre.std) + 1e-5)] {
            let range = i * 3 * plane..(i + 1) * 3 * plane;
            let worst = got[range.clone()]
                .iter()
                .zip(&expected[range])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, |m, d| if d.is_nan() || d > m { d } else { m });
            assert!(
                worst <= tolerance,
                "{w}x{h} -> {}x{} input {i}: max |gpu - cpu| {worst} (allowed {tolerance})",
                pre.width,
                pre.height
            );
        }
    }
}

#[test]
fn mask_shader_matches_reference() {
    let engine = engine();
    let mut rng = Rng::new(seed("mask_shader_matches_reference"));
    let net = (40 + rng.int(0, 30) as u32, 33 + rng.int(0, 30) as u32);
    let plane = (net.0 * net.1) as usize;
    let margins: Vec<f32> = (0..2 * plane)
        .map(|i| match i % 17 {
            0 => 0.0,
            _ => rng.range(-3.0, 3.0) as f32,
        })
        .collect();
    let margin_img = HostImage::new(net.0, net.1 * 2, Pixels::F32(margins.clone())).expect("img");
    for &(w, h) in &[(97u32, 61u32), (13, 200), (net.0, net.1), (8, 8)] {
        let gpu = engine.upload(&margin_img).expect("upload");
        let mut rec = Recorder::new(engine);
        let mask = encode_mask(&mut rec, &gpu, plane as u32, net, w, h, Geometry::default())
            .expect("encode");
        let download = rec.download(&mask).expect("download");
        rec.submit().expect("submit");
        let Pixels::U8(got) = download.wait().expect("wait").pixels else {
            panic!("u8 expected")
        };
        let second = &margins[plane..];
        let expected = mask_reference(second, net, w, h);
        let values = margin_resized(second, net, w, h);
        let bad = got
            .iter()
            .zip(&expected)
            .zip(&values)
            .filter(|((g, e), v)| g != e && v.abs() > 1e-4)
            .count();
        assert_eq!(
            bad, 0,
            "{w}x{h}: {bad} mask pixels differ away from the threshold"
        );
        assert!(got.iter().all(|&v| v == 0 || v == 255));
    }
}

#[test]
fn pipeline_on_the_shared_device_matches_cpu_with_one_upload_and_readback_per_image() {
    let engine = fresh_engine();
    let mut rng = Rng::new(seed("pipeline_matches_cpu"));
    let named = read_pdparams(require(&repo_path(
        "tests/fixtures/bisenet/weights.pdparams",
    )))
    .expect("weights");
    let pre = Preprocess::square(64);
    let gpu = {
        let device = radpipe::seg::infer::burn_device(&engine).expect("burn device");
        let model = model_from_tensors(&named, &device).expect("load");
        Segmenter::new(model, Backend::Gpu(engine.clone()), pre).expect("gpu segmenter")
    };
    let cpu = {
        let model = model_from_tensors(&named, &burn::tensor::Device::flex()).expect("load");
        Segmenter::new(model, Backend::Cpu, pre).expect("cpu segmenter")
    };
    let a = random_u8(&mut rng, 70, 50);
    // A windowed 16-bit input whose window maps every stored value to an integer display value
    // (LINEAR, centre 128, width 256: y = x), so the window stage has no rounding ties and GPU and CPU
    // feed the network identical pixels; the logits then differ by float arithmetic only.
    let n = 61 * 47;
    let b = HostImage::new(
        61,
        47,
        Pixels::U16((0..n).map(|_| rng.int(0, 255) as u16).collect()),
    )
    .expect("img");
    let request = WindowRequest {
        center: Some(128.0),
        width: Some(256.0),
        ..WindowRequest::default()
    };
    let settings = WindowSettings::for_image(&b, &request).expect("window");
    let display = display_reference(&SegInput {
        image: &b,
        window: Some(&settings),
    })
    .expect("display");
    assert_eq!(
        display.pixels,
        Pixels::U8(match &b.pixels {
            Pixels::U16(v) => v.iter().map(|&x| x as u8).collect(),
            _ => unreachable!(),
        }),
        "the window is the identity on 0..=255"
    );
    let inputs = [
        SegInput {
            image: &a,
            window: None,
        },
        SegInput {
            image: &b,
            window: Some(&settings),
        },
    ];
    let lg = gpu.logits(&inputs).expect("gpu logits");
    let lc = cpu.logits(&inputs).expect("cpu logits");
    let worst = lg
        .iter()
        .zip(&lc)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, |m, d| if d.is_nan() || d > m { d } else { m });
    eprintln!("64x64 batch of 2: max |gpu - cpu| logit {worst:.2e}");
    assert!(worst <= 1e-3, "gpu vs cpu logits differ by {worst}");

    let before = engine.stats();
    let masks = gpu.segment(&inputs).expect("gpu segment");
    let after = engine.stats();
    assert_eq!(after.uploads - before.uploads, 2, "one upload per image");
    assert_eq!(
        after.readbacks - before.readbacks,
        2,
        "one readback per image"
    );
    assert_eq!(
        after.waits - before.waits,
        1,
        "the host waits once, for the masks: none between preprocessing, the network and the mask"
    );

    let margins = cpu.margins(&inputs).expect("cpu margins");
    let cpu_masks = cpu.segment(&inputs).expect("cpu segment");
    let plane = 64 * 64;
    for (i, (g, c)) in masks.iter().zip(&cpu_masks).enumerate() {
        let img = inputs[i].image;
        assert_eq!((g.width, g.height), (img.width, img.height));
        let values = margin_resized(
            &margins[i * plane..(i + 1) * plane],
            (64, 64),
            img.width,
            img.height,
        );
        let (Pixels::U8(gv), Pixels::U8(cv)) = (&g.pixels, &c.pixels) else {
            panic!("u8 masks expected")
        };
        let bad = gv
            .iter()
            .zip(cv)
            .zip(&values)
            .filter(|((x, y), v)| x != y && v.abs() > 2e-3)
            .count();
        assert_eq!(bad, 0, "image {i}: masks differ away from the threshold");
        let fg = gv.iter().filter(|&&v| v == 255).count();
        eprintln!("image {i}: {fg} foreground pixels of {}", gv.len());
    }
}

/// Two engines (each with its own wgpu instance, whose device ids can coincide) get two burn devices;
/// clones of one engine share one. Keyed by device equality, the second engine was handed the first's
/// burn device and its tensors lived on the wrong device.
#[test]
fn each_engine_gets_its_own_burn_device() {
    let a = fresh_engine();
    let b = fresh_engine();
    let da = radpipe::seg::infer::burn_device(&a).expect("burn device a");
    let db = radpipe::seg::infer::burn_device(&b).expect("burn device b");
    let da2 = radpipe::seg::infer::burn_device(&a.clone()).expect("burn device a again");
    assert_ne!(a.uid(), b.uid());
    assert_ne!(
        format!("{da:?}"),
        format!("{db:?}"),
        "two engines share one burn device"
    );
    assert_eq!(
        format!("{da:?}"),
        format!("{da2:?}"),
        "one engine registered twice"
    );
}
