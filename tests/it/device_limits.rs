//! Images beyond what the adapter can bind: window/level runs in row bands and warps run in tiles
//! (with the true image borders), both checked against the untiled CPU reference; what cannot be tiled
//! is refused with an error that says so, before any GPU call — never a wgpu validation panic. The
//! limit is lowered here (EngineOptions::max_image_bytes) so the test needs no huge image. A lost
//! device (destroyed on purpose) turns later calls into errors that say the device was lost.

use crate::common;

use common::{Rng, seed};
use radpipe::image::{Geometry, HostImage, PixelFormat, Pixels};
use radpipe::ops::warp::{Border, Transform, WarpParams, rotation_matrix, warp_image};
use radpipe::ops::window::{WindowRequest, WindowSettings, window_image};
use radpipe::{Engine, EngineOptions, Error};

/// An engine whose images may not exceed `bytes` per binding (as if the adapter's limit were that).
fn capped_engine(bytes: u64) -> Engine {
    Engine::with_options(EngineOptions {
        max_image_bytes: Some(bytes),
        poison: Some(0xDEAD_BEEF),
        ..EngineOptions::default()
    })
    .expect("engine (apt-get install mesa-vulkan-drivers without a GPU)")
}

fn random_u16(rng: &mut Rng, w: u32, h: u32) -> HostImage {
    // Smooth content plus noise, so bilinear sampling errors would show.
    let pixels = (0..w * h)
        .map(|i| {
            let (x, y) = (f64::from(i % w), f64::from(i / w));
            let v =
                20000.0 + 15000.0 * (x / 17.0).sin() * (y / 23.0).cos() + rng.range(-800.0, 800.0);
            v.clamp(0.0, 65535.0) as u16
        })
        .collect();
    HostImage::new(w, h, Pixels::U16(pixels))
        .expect("image")
        .with_geometry(Geometry::with_spacing(0.5, 0.25))
}

#[test]
fn window_over_the_binding_limit_runs_in_row_bands() {
    let engine = capped_engine(64 * 1024);
    let mut rng = Rng::new(seed("window_tiled"));
    // 300×250 u16 = 150 000 bytes: over the 64 KiB cap, so it must be banded.
    let image = random_u16(&mut rng, 300, 250);
    assert!(engine.check_fits(300, 250, PixelFormat::U16).is_err());
    let settings = WindowSettings::for_image(
        &image,
        &WindowRequest {
            center: Some(20000.0),
            width: Some(30000.0),
            bits: 12,
            ..WindowRequest::default()
        },
    )
    .expect("settings");
    let before = engine.stats();
    let tiled = window_image(&engine, &image, &settings).expect("tiled window");
    let used = engine.stats().since(&before);
    assert!(used.submissions >= 3, "150 kB in 64 KiB bands: {used:?}");
    let untiled = window_image(common::engine(), &image, &settings).expect("untiled");
    assert_eq!(
        tiled.pixels, untiled.pixels,
        "a point operation must not see the bands"
    );
    assert_eq!(tiled.geometry, image.geometry);
    let cpu = radpipe::ops::window::reference(&image, &settings).expect("reference");
    common::assert_close("window_tiled", &tiled, &cpu, 1.0, 0.01);
    assert!(engine.take_uncaptured_errors().is_empty());
}

#[test]
fn warp_over_the_binding_limit_runs_in_tiles_with_true_borders() {
    let engine = capped_engine(48 * 1024);
    let mut rng = Rng::new(seed("warp_tiled"));
    let image = random_u16(&mut rng, 320, 240);
    let c = [160.0, 120.0];
    let cases = [
        (
            "rotate_constant",
            Transform::Affine(rotation_matrix(c, 33.0, 1.1)),
            Border::Constant(1234.0),
        ),
        (
            "rotate_replicate",
            Transform::Affine(rotation_matrix(c, -71.0, 0.8)),
            Border::Replicate,
        ),
        (
            "rotate_reflect",
            Transform::Affine(rotation_matrix(c, 12.0, 0.6)),
            Border::Reflect101,
        ),
        (
            "perspective_reflect",
            Transform::Perspective([[0.9, 0.1, 10.0], [-0.05, 1.1, -5.0], [0.0004, 0.0002, 1.0]]),
            Border::Reflect101,
        ),
        (
            "flip_90",
            Transform::Affine([[0.0, 1.0, 0.0], [-1.0, 0.0, 319.0]]),
            Border::Replicate,
        ),
    ];
    for (name, transform, border) in cases {
        let mut params = WarpParams::new(transform, 300, 260);
        params.border = border;
        let before = engine.stats();
        let tiled = warp_image(&engine, &image, &params).expect(name);
        let used = engine.stats().since(&before);
        assert!(used.submissions >= 2, "{name}: must be tiled: {used:?}");
        let cpu = radpipe::ops::warp::reference(&image, &params).expect("reference");
        // The shifted map changes f32 rounding of source coordinates: ≤ 1 LSB of a 16-bit sample
        // (1/65535 of the range) on a small fraction of pixels — the GPU-vs-CPU tolerance.
        common::assert_close(name, &tiled, &cpu, 1.0, 0.02);
        assert_eq!(tiled.geometry, cpu.geometry, "{name}");
    }
    assert!(engine.take_uncaptured_errors().is_empty());
}

#[test]
fn what_cannot_be_tiled_is_a_clear_error_before_any_gpu_call() {
    let engine = capped_engine(64 * 1024);
    // Resize is not tiled: refused by name.
    let image = HostImage::new(256, 256, Pixels::U16(vec![100; 256 * 256])).expect("image");
    let before = engine.stats();
    let err = radpipe::ops::resize::resize_image(
        &engine,
        &image,
        &radpipe::ops::resize::ResizeParams::new(200, 200),
    )
    .expect_err("must be refused");
    assert!(matches!(err, Error::InvalidImage(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("256x256") && text.contains("limit"), "{text}");
    // A single row over the limit cannot be banded.
    let wide = HostImage::new(40_000, 1, Pixels::U16(vec![7; 40_000])).expect("wide");
    let settings = WindowSettings::for_image(&wide, &WindowRequest::default()).expect("settings");
    let err = window_image(&engine, &wide, &settings).expect_err("one row over the cap");
    assert!(err.to_string().contains("row"), "{err}");
    assert_eq!(
        engine.stats().since(&before).submissions,
        0,
        "nothing may reach the GPU"
    );
    assert!(engine.take_uncaptured_errors().is_empty());
}

#[test]
fn adapter_limits_are_reported_in_the_error() {
    let engine = common::fresh_engine();
    let limit = engine
        .limits()
        .max_storage_buffer_binding_size
        .min(engine.limits().max_buffer_size);
    // A header can claim 65535×65535 u16 (8 GiB): refused by size alone, no allocation attempted.
    let err = engine
        .check_fits(65535, 65535, radpipe::PixelFormat::U16)
        .expect_err("8 GiB must exceed the binding limit");
    assert!(err.to_string().contains(&limit.to_string()), "{err}");
}

/// A lost device (here destroyed on purpose, as a driver reset or an unplugged eGPU would) makes every
/// later call return an error — upload, record, submit and readback — never a panic or an abort.
#[test]
fn a_lost_device_gives_errors_not_panics() {
    let engine = common::fresh_engine();
    let mut rng = Rng::new(seed("a_lost_device_gives_errors_not_panics"));
    let img = random_u16(&mut rng, 64, 48);
    let settings = WindowSettings::for_image(&img, &WindowRequest::default()).expect("settings");
    window_image(&engine, &img, &settings).expect("before the loss");
    engine.device().destroy();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        window_image(&engine, &img, &settings)
    }));
    match outcome {
        Ok(result) => {
            let err = result.expect_err("a destroyed device cannot window");
            eprintln!("after device loss: {err}");
            assert!(matches!(err, Error::Gpu(_)), "{err:?}");
            assert!(err.to_string().contains("device was lost"), "{err}");
        }
        Err(_) => panic!("window_image panicked on a lost device"),
    }
}
