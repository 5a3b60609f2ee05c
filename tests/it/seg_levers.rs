//! The measured segmentation levers (models/MODEL.md): flip test-time augmentation averages the
//! margins of the image and of its left-right mirror, mirrored back — checked against the two
//! passes done by hand on a random network — and `radpipe evaluate` takes the levers and records
//! them in its report.

use std::process::Command;

use burn::tensor::Device;
use radpipe::image::{HostImage, Pixels};
use radpipe::seg::BiSeNetV2Config;
use radpipe::seg::infer::{Backend, Preprocess, SegInput, Segmenter};

use crate::common::Rng;

#[test]
fn flip_tta_is_the_mean_of_the_plain_and_the_mirrored_pass() {
    let (w, h) = (64u32, 48u32);
    let mut rng = Rng::new(7);
    let pixels: Vec<u8> = (0..w * h).map(|_| rng.int(0, 255) as u8).collect();
    let mirrored: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).rev().map(move |x| (y, x)))
        .map(|(y, x)| pixels[(y * w + x) as usize])
        .collect();
    let image = HostImage::new(w, h, Pixels::U8(pixels)).expect("image");
    let mirror = HostImage::new(w, h, Pixels::U8(mirrored)).expect("mirror");
    let net = BiSeNetV2Config::paddleseg(2, 0.25).init(&Device::flex());
    let pre = Preprocess {
        width: w,
        height: h,
        ..Preprocess::square(64)
    };
    let plain = Segmenter::new(net, Backend::Cpu, pre).expect("segmenter");
    let tta = plain.clone().with_flip_tta(true);
    assert!(tta.flip_tta() && !plain.flip_tta());
    fn one(img: &HostImage) -> Vec<SegInput<'_>> {
        vec![SegInput {
            image: img,
            window: None,
        }]
    }
    let a = plain.margins(&one(&image)).expect("plain");
    let b = plain.margins(&one(&mirror)).expect("mirrored");
    let t = tta.margins(&one(&image)).expect("tta");
    let (nw, nh) = (w as usize, h as usize);
    assert_eq!((a.len(), t.len()), (nw * nh, nw * nh));
    let mut worst = 0f32;
    for y in 0..nh {
        for x in 0..nw {
            let expected = 0.5 * (a[y * nw + x] + b[y * nw + (nw - 1 - x)]);
            worst = worst.max((t[y * nw + x] - expected).abs());
        }
    }
    assert!(worst < 1e-4, "largest difference {worst}");
    // A random network is not mirror-symmetric, so the check above could not pass by accident.
    let asym = (0..nh * nw)
        .map(|i| (a[i] - b[(i / nw) * nw + (nw - 1 - i % nw)]).abs())
        .fold(0f32, f32::max);
    assert!(asym > 1e-3, "{asym}");
}

#[test]
fn evaluate_takes_the_levers_and_reports_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    crate::seg_train::make_data(&data, &["A"], 2);
    let json = dir.path().join("eval.json");
    let stdout = crate::seg_train::evaluate_ok(
        &data,
        &[
            "--size",
            "64",
            "--flip-tta",
            "--post",
            "largest,fill",
            "--json",
            crate::common::cli::s(&json),
        ],
    );
    assert!(
        stdout.contains("flip TTA on, post-processing largest,fill"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("parse");
    assert_eq!(report["flip_tta"], true);
    assert_eq!(report["post"], "largest,fill");
    let out = Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .args(["evaluate", "--data"])
        .arg(&data)
        .args(["--post", "smooth"])
        .output()
        .expect("run radpipe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("smooth"),
        "{stderr}"
    );
}
