//! Images beyond what the adapter can bind are refused with an error that says so, before any GPU
//! call — never a wgpu validation panic. The limit is lowered here so the test needs no huge image.

mod common;

use radpipe::image::{HostImage, Pixels};
use radpipe::ops::window::{WindowRequest, WindowSettings, window_image};
use radpipe::{Engine, EngineOptions, Error};

#[test]
fn over_the_binding_limit_is_a_clear_error() {
    let engine = Engine::with_options(EngineOptions {
        max_image_bytes: Some(64 * 1024),
        ..EngineOptions::default()
    })
    .expect("engine (apt-get install mesa-vulkan-drivers without a GPU)");
    let fits = HostImage::new(128, 128, Pixels::U16(vec![100; 128 * 128])).expect("image");
    let settings = WindowSettings::for_image(&fits, &WindowRequest::default()).expect("settings");
    assert!(
        window_image(&engine, &fits, &settings).is_ok(),
        "32 KiB must fit a 64 KiB cap"
    );

    let too_big = HostImage::new(256, 256, Pixels::U16(vec![100; 256 * 256])).expect("image");
    let before = engine.stats();
    let err = window_image(&engine, &too_big, &settings).expect_err("must be refused");
    assert!(matches!(err, Error::InvalidImage(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("256x256") && text.contains("limit"), "{text}");
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
