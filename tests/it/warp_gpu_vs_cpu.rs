//! GPU warp and resize against their CPU references (`ops::warp::reference`, `ops::resize::reference`)
//! on fresh random images (u8, u16, i16, f32; odd sizes that are not multiples of the workgroup) and
//! random transforms — rotations within ±45°, scales 0.5–2, sub-pixel shifts, mild perspective — with
//! every border mode, both samplings (exact and OpenCV-compatible) and converted output formats.
//! Output buffers are poisoned, so a pixel the kernel forgets fails. Plus checks that do not lean on
//! the shared coordinate tables: identity, integer shifts, quarter turns and axis-aligned crops must be
//! exact copies, and a warp → resize chain costs one submission and one readback.
//!
//! Tolerances: integer outputs within 1 LSB with at most 1 % of pixels off by that LSB (a driver may
//! fuse `a·b + c` into one rounding, which can move a value across a rounding tie; the 8-bit OpenCV path
//! is integer arithmetic and exact); f32 outputs within 1e-4 of the image's value range.

use crate::common;

use common::{Rng, assert_close, engine, fresh_engine, seed};
use radpipe::image::{Geometry, HostImage, PixelFormat, Pixels};
use radpipe::ops::resize::{self, ResizeMode, ResizeParams};
use radpipe::ops::warp::{self, Border, Sampling, Transform, WarpParams};
use radpipe::pipeline::Recorder;
use radpipe::{Engine, Error};

const FORMATS: [PixelFormat; 4] = [
    PixelFormat::U8,
    PixelFormat::U16,
    PixelFormat::I16,
    PixelFormat::F32,
];

fn random_image(rng: &mut Rng, format: PixelFormat, width: u32, height: u32) -> HostImage {
    let n = (width * height) as usize;
    // Half the images are smooth (a radiograph-like ramp plus noise), half pure noise.
    let smooth = rng.unit() < 0.5;
    let (fx, fy) = (rng.range(-0.2, 0.2), rng.range(-0.2, 0.2));
    let mut value = |i: usize, lo: f64, hi: f64| {
        if smooth {
            let (x, y) = ((i % width as usize) as f64, (i / width as usize) as f64);
            let t = 0.5 + 0.25 * ((x * fx).sin() + (y * fy).cos()) + rng.range(-0.02, 0.02);
            lo + (hi - lo) * t.clamp(0.0, 1.0)
        } else {
            rng.range(lo, hi)
        }
    };
    let pixels = match format {
        PixelFormat::U8 => Pixels::U8((0..n).map(|i| value(i, 0.0, 255.99) as u8).collect()),
        PixelFormat::U16 => Pixels::U16((0..n).map(|i| value(i, 0.0, 65535.99) as u16).collect()),
        PixelFormat::I16 => Pixels::I16(
            (0..n)
                .map(|i| value(i, -32768.0, 32767.99).floor() as i16)
                .collect(),
        ),
        PixelFormat::F32 => Pixels::F32((0..n).map(|i| value(i, -2000.0, 5000.0) as f32).collect()),
    };
    HostImage::new(width, height, pixels)
        .expect("image")
        .with_geometry(Geometry::with_spacing(0.15, 0.15))
}

/// Border `kind` (0 constant, 1 replicate, 2 reflect-101); constant values sometimes outside the
/// format's range, to exercise the clamping.
fn border(rng: &mut Rng, kind: u32, format: PixelFormat) -> Border {
    match kind {
        0 => Border::Constant(match format {
            PixelFormat::U8 => rng.range(0.0, 300.0),
            PixelFormat::F32 => rng.range(-100.0, 100.0),
            _ => rng.range(-40000.0, 70000.0),
        }),
        1 => Border::Replicate,
        _ => Border::Reflect101,
    }
}

fn random_affine(rng: &mut Rng, w: u32, h: u32) -> [[f64; 3]; 2] {
    let center = [rng.range(0.0, f64::from(w)), rng.range(0.0, f64::from(h))];
    let mut m = warp::rotation_matrix(center, rng.range(-45.0, 45.0), rng.range(0.5, 2.0));
    m[0][2] += rng.range(-3.0, 3.0);
    m[1][2] += rng.range(-3.0, 3.0);
    m
}

fn random_perspective(rng: &mut Rng, w: u32, h: u32) -> [[f64; 3]; 3] {
    let [r0, r1] = random_affine(rng, w, h);
    let scale = 1.0 / f64::from(w.max(h));
    [
        r0,
        r1,
        [
            rng.range(-0.3, 0.3) * scale,
            rng.range(-0.3, 0.3) * scale,
            rng.range(0.8, 1.2),
        ],
    ]
}

/// Largest |value| of an image (for the f32 tolerance).
fn magnitude(img: &HostImage) -> f64 {
    (0..img.pixel_count())
        .map(|i| img.pixels.get_f64(i).abs())
        .fold(1.0, f64::max)
}

/// Compares and returns (pixels that differ at all, pixels).
fn compare(name: &str, gpu: &HostImage, cpu: &HostImage, input: &HostImage) -> (usize, usize) {
    assert_eq!(gpu.geometry, cpu.geometry, "{name}: geometry");
    if gpu.format() == PixelFormat::F32 {
        let tol = 1e-4 * magnitude(input).max(magnitude(cpu));
        assert_close(name, gpu, cpu, tol, 1.0);
    } else {
        assert_close(name, gpu, cpu, 1.0, 0.01);
    }
    let d = common::abs_diffs(gpu, cpu);
    (d.iter().filter(|&&x| x > 0.0).count(), d.len())
}

fn report(test: &str, cases: usize, (off, total): (usize, usize)) {
    eprintln!("{test}: {cases} cases, {off} of {total} pixels differ from the reference");
}

fn run_warp(engine: &Engine, name: &str, input: &HostImage, p: &WarpParams) -> (usize, usize) {
    let gpu = warp::warp_image(engine, input, p).unwrap_or_else(|e| panic!("{name}: gpu: {e}"));
    let cpu = warp::reference(input, p).unwrap_or_else(|e| panic!("{name}: cpu: {e}"));
    compare(name, &gpu, &cpu, input)
}

#[test]
fn random_warps_match_the_reference() {
    let engine = engine();
    let seed = seed("random_warps_match_the_reference");
    let mut rng = Rng::new(seed);
    let sizes = [(37, 23), (61, 47), (129, 5), (1, 9), (300, 17)];
    let mut case = 0;
    let mut tally = (0, 0);
    for format in FORMATS {
        for sampling in [Sampling::Exact, Sampling::OpenCv] {
            for perspective in [false, true] {
                for border_kind in 0..3 {
                    let (w, h) = sizes[rng.int(0, sizes.len() as i64 - 1) as usize];
                    let input = random_image(&mut rng, format, w, h);
                    let transform = if perspective {
                        Transform::Perspective(random_perspective(&mut rng, w, h))
                    } else {
                        Transform::Affine(random_affine(&mut rng, w, h))
                    };
                    let (dw, dh) = (rng.int(1, 90) as u32, rng.int(1, 70) as u32);
                    let mut p = WarpParams::new(transform, dw, dh);
                    p.inverse = rng.unit() < 0.3;
                    p.sampling = sampling;
                    p.border = border(&mut rng, border_kind, format);
                    if rng.unit() < 0.25 {
                        p.out_format = Some(FORMATS[rng.int(0, 3) as usize]);
                    }
                    let name = format!(
                        "warp_{case}_{format}_{sampling:?}_{}_{w}x{h}_to_{dw}x{dh}",
                        if perspective { "persp" } else { "affine" }
                    );
                    let (off, n) = run_warp(engine, &name, &input, &p);
                    tally = (tally.0 + off, tally.1 + n);
                    case += 1;
                }
            }
        }
    }
    report("random_warps_match_the_reference", case, tally);
}

#[test]
fn random_resizes_match_the_reference() {
    let engine = engine();
    let seed = seed("random_resizes_match_the_reference");
    let mut rng = Rng::new(seed);
    let mut case = 0;
    let mut tally = (0, 0);
    for format in FORMATS {
        for sampling in [Sampling::Exact, Sampling::OpenCv] {
            for mode in [ResizeMode::Linear, ResizeMode::Area] {
                for _ in 0..3 {
                    let (w, h) = (rng.int(1, 150) as u32, rng.int(1, 90) as u32);
                    let input = random_image(&mut rng, format, w, h);
                    let (dw, dh) = match (mode, rng.int(0, 2)) {
                        (ResizeMode::Area, 0) if w >= 2 && h >= 2 => (w / 2, h / 2),
                        (ResizeMode::Area, 1) if w >= 3 && h >= 3 => (w / 3, h / 3),
                        (ResizeMode::Area, _) => (
                            rng.int(1, i64::from(w)) as u32,
                            rng.int(1, i64::from(h)) as u32,
                        ),
                        (ResizeMode::Linear, 0) => (w * 2, h * 2),
                        _ => (rng.int(1, 200) as u32, rng.int(1, 120) as u32),
                    };
                    let mut p = ResizeParams::new(dw.max(1), dh.max(1));
                    p.mode = mode;
                    p.sampling = sampling;
                    if rng.unit() < 0.25 {
                        p.out_format = Some(FORMATS[rng.int(0, 3) as usize]);
                    }
                    let name = format!(
                        "resize_{case}_{format}_{sampling:?}_{mode:?}_{w}x{h}_to_{}x{}",
                        p.width, p.height
                    );
                    let gpu = resize::resize_image(engine, &input, &p)
                        .unwrap_or_else(|e| panic!("{name}: gpu: {e}"));
                    let cpu = resize::reference(&input, &p)
                        .unwrap_or_else(|e| panic!("{name}: cpu: {e}"));
                    let (off, n) = compare(&name, &gpu, &cpu, &input);
                    tally = (tally.0 + off, tally.1 + n);
                    case += 1;
                }
            }
        }
    }
    report("random_resizes_match_the_reference", case, tally);
}

/// Exact copies that do not depend on the coordinate tables being right.
#[test]
fn simple_maps_are_exact_copies() {
    let engine = engine();
    let mut rng = Rng::new(seed("simple_maps_are_exact_copies"));
    for format in FORMATS {
        let n = 33u32;
        let input = random_image(&mut rng, format, n, n);
        let px = |x: i64, y: i64| input.pixels.get_f64((y * i64::from(n) + x) as usize);
        for sampling in [Sampling::Exact, Sampling::OpenCv] {
            for perspective in [false, true] {
                let run = |m: [[f64; 3]; 2], w: u32, h: u32, border: Border| {
                    let transform = if perspective {
                        Transform::Perspective([m[0], m[1], [0.0, 0.0, 1.0]])
                    } else {
                        Transform::Affine(m)
                    };
                    let mut p = WarpParams::new(transform, w, h);
                    p.sampling = sampling;
                    p.border = border;
                    warp::warp_image(engine, &input, &p).expect("warp")
                };
                let tag = format!("{format} {sampling:?} perspective={perspective}");
                // Identity.
                let out = run([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], n, n, Border::Replicate);
                assert_eq!(out.pixels, input.pixels, "identity {tag}");
                // Integer shift by (+3, −2) with a constant border.
                let out = run(
                    [[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]],
                    n,
                    n,
                    Border::Constant(7.0),
                );
                for y in 0..i64::from(n) {
                    for x in 0..i64::from(n) {
                        let (sx, sy) = (x - 3, y + 2);
                        let inside =
                            (0..i64::from(n)).contains(&sx) && (0..i64::from(n)).contains(&sy);
                        let want = if inside { px(sx, sy) } else { 7.0 };
                        let got = out.pixels.get_f64((y * i64::from(n) + x) as usize);
                        assert_eq!(got, want, "shift {tag} at ({x}, {y})");
                    }
                }
                // Quarter turn about the centre: dst(x, y) = src(n−1−y, x) for +90° (counter-clockwise).
                let c = (f64::from(n) - 1.0) / 2.0;
                let out = run(
                    warp::rotation_matrix([c, c], 90.0, 1.0),
                    n,
                    n,
                    Border::Replicate,
                );
                for y in 0..i64::from(n) {
                    for x in 0..i64::from(n) {
                        let got = out.pixels.get_f64((y * i64::from(n) + x) as usize);
                        assert_eq!(
                            got,
                            px(i64::from(n) - 1 - y, x),
                            "rot90 {tag} at ({x}, {y})"
                        );
                    }
                }
                // Axis-aligned crop of 7×4 centred on (10, 20) (even height: centre between rows).
                let m = warp::rotated_roi_matrix([10.0, 20.5], [7, 4], 0.0);
                let out = run(m, 7, 4, Border::Constant(0.0));
                for y in 0..4 {
                    for x in 0..7 {
                        let got = out.pixels.get_f64((y * 7 + x) as usize);
                        assert_eq!(got, px(7 + x, 19 + y), "crop {tag} at ({x}, {y})");
                    }
                }
            }
        }
        // Resize to the same size is a copy; 2× down in area mode is the 2×2 mean.
        for sampling in [Sampling::Exact, Sampling::OpenCv] {
            for mode in [ResizeMode::Linear, ResizeMode::Area] {
                let mut p = ResizeParams::new(n, n);
                p.mode = mode;
                p.sampling = sampling;
                let out = resize::resize_image(engine, &input, &p).expect("resize");
                assert_eq!(
                    out.pixels, input.pixels,
                    "same-size resize {format} {sampling:?} {mode:?}"
                );
            }
        }
    }
}

#[test]
fn warp_then_resize_is_one_submission_and_one_readback() {
    let engine = fresh_engine();
    let mut rng = Rng::new(seed("warp_then_resize_is_one_submission_and_one_readback"));
    let input = random_image(&mut rng, PixelFormat::U16, 97, 61);
    let gpu_in = engine.upload(&input).expect("upload");
    let mut p = WarpParams::new(Transform::Affine(random_affine(&mut rng, 97, 61)), 80, 70);
    p.border = Border::Reflect101;
    let r = ResizeParams::new(45, 33);
    let before = engine.stats();
    let mut rec = Recorder::new(&engine);
    let warped = warp::encode(&mut rec, &gpu_in, &p).expect("warp");
    let resized = resize::encode(&mut rec, &warped, &r).expect("resize");
    let download = rec.download(&resized).expect("download");
    rec.submit().expect("submit");
    let out = download.wait().expect("wait");
    let after = engine.stats();
    assert_eq!(after.submissions - before.submissions, 1);
    assert_eq!(after.readbacks - before.readbacks, 1);
    let cpu = resize::reference(&warp::reference(&input, &p).expect("cpu warp"), &r).expect("cpu");
    // Two roundings in a row: an off-by-one after the warp can carry through the resize.
    assert_close("warp_then_resize", &out, &cpu, 1.0, 0.02);
    assert_eq!(out.geometry, cpu.geometry);
    let [row, col] = out
        .geometry
        .pixel_spacing
        .expect("spacing survives a similarity + resize");
    assert!(row > 0.0 && col > 0.0);
}

#[test]
fn bad_parameters_are_refused() {
    let engine = engine();
    let input = HostImage::new(8, 8, Pixels::U16(vec![0; 64])).expect("image");
    let refused = |p: &WarpParams, what: &str| {
        for result in [
            warp::warp_image(engine, &input, p),
            warp::reference(&input, p),
        ] {
            match result {
                Err(Error::InvalidParams(msg)) => assert!(!msg.is_empty(), "{what}"),
                other => panic!("{what}: expected InvalidParams, got {other:?}"),
            }
        }
    };
    let affine = |m: [[f64; 3]; 2], w: u32, h: u32| WarpParams::new(Transform::Affine(m), w, h);
    refused(
        &affine([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]], 8, 8),
        "singular",
    );
    refused(
        &affine([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], 8, 8),
        "zero matrix",
    );
    refused(
        &affine([[1.0, 0.0, f64::NAN], [0.0, 1.0, 0.0]], 8, 8),
        "NaN",
    );
    refused(
        &affine([[1.0, 0.0, 0.0], [0.0, f64::INFINITY, 0.0]], 8, 8),
        "infinity",
    );
    refused(
        &affine([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], 0, 8),
        "zero width",
    );
    refused(
        &affine([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], 70_000, 8),
        "huge width",
    );
    let mut p = affine([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], 8, 8);
    p.border = Border::Constant(f64::NAN);
    refused(&p, "NaN border value");
    let flat = WarpParams::new(
        Transform::Perspective([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 0.0, 0.0]]),
        8,
        8,
    );
    refused(&flat, "singular homography");
    // Within MAX_SIDE but beyond what one storage buffer binding of any adapter holds (16 GiB of f32).
    let mut huge = affine([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], 65_535, 65_535);
    huge.out_format = Some(PixelFormat::F32);
    match warp::warp_image(engine, &input, &huge) {
        Err(Error::InvalidParams(msg)) => assert!(msg.contains("65535x65535"), "{msg}"),
        other => panic!("huge output: expected InvalidParams, got {other:?}"),
    }
    let mut area_up = ResizeParams::new(16, 4);
    area_up.mode = ResizeMode::Area;
    assert!(matches!(
        resize::resize_image(engine, &input, &area_up),
        Err(Error::InvalidParams(_))
    ));
    assert!(matches!(
        resize::resize_image(engine, &input, &ResizeParams::new(0, 4)),
        Err(Error::InvalidParams(_))
    ));
}

/// Coordinates far outside a tiny source: reflect-101 folds them through many periods (the shader
/// folds with an f32 quotient, the reference with an integer remainder) and the OpenCV modes saturate.
#[test]
fn far_coordinates_fold_like_the_reference() {
    let engine = engine();
    let mut rng = Rng::new(seed("far_coordinates_fold_like_the_reference"));
    for format in [PixelFormat::U8, PixelFormat::F32] {
        for (w, h) in [(7, 5), (1, 3), (2, 2)] {
            let input = random_image(&mut rng, format, w, h);
            for shift in [1e3, -7.77e4, 1.5e6, -1.2e7] {
                for sampling in [Sampling::Exact, Sampling::OpenCv] {
                    for border in [Border::Reflect101, Border::Replicate, Border::Constant(9.0)] {
                        let m = [[1.0, 0.25, shift], [-0.5, 1.0, shift * 0.37]];
                        let mut p = WarpParams::new(Transform::Affine(m), 23, 11);
                        p.inverse = true;
                        p.sampling = sampling;
                        p.border = border;
                        let name = format!("far_{format}_{w}x{h}_{shift}_{sampling:?}_{border:?}");
                        run_warp(engine, &name, &input, &p);
                    }
                }
            }
        }
    }
}

/// llvmpipe ends every loop of a shader invocation after 65 535 iterations in all, silently: an
/// area resize 400² → 1² (u16, integer blocks: 400 rows × 202 steps) gave 815 there against the
/// reference's 1999, and 1000² → 3² (weighted windows) 1170 against 2000. On the CPU adapter such a
/// resize is refused with the way around it; within the budget (200² → 1²) it matches the
/// reference. On a GPU every case runs and matches.
#[test]
fn area_resize_past_the_cpu_adapters_loop_budget_is_refused_there() {
    let engine = engine();
    let cpu_adapter = engine.summary().device_type == "cpu";
    for (side, out, within) in [(200u32, 1u32, true), (400, 1, false), (1000, 3, false)] {
        let px: Vec<u16> = (0..side * side)
            .map(|i| ((i * 7919) % 4000) as u16)
            .collect();
        let input = HostImage::new(side, side, Pixels::U16(px)).expect("image");
        let mut p = ResizeParams::new(out, out);
        p.mode = ResizeMode::Area;
        let gpu = resize::resize_image(engine, &input, &p);
        if cpu_adapter && !within {
            let err = gpu.expect_err("refused on the CPU adapter").to_string();
            assert!(
                err.contains("loop budget") && err.contains("two steps"),
                "{side} -> {out}: {err}"
            );
            continue;
        }
        let gpu = gpu.expect("resize");
        let cpu = resize::reference(&input, &p).expect("reference");
        assert_eq!(gpu.pixels, cpu.pixels, "{side} -> {out}");
    }
}
