//! The render-loop embedding example, run headless for 100 frames: the host owns the device, and per
//! frame radpipe creates no device, no pipeline and no buffer, reads nothing back, and submits once.
//! The last frame, read back here (test only), matches the CPU reference of the display stage.

#[path = "../../examples/render_loop.rs"]
#[allow(clippy::module_inception)]
mod render_loop;

use crate::common;

use radpipe::ops::display;
use radpipe::pipeline::Recorder;

#[test]
fn hundred_frames_no_readback_one_submit_each() {
    let (report, engine, texture, view, settings, stored) = render_loop::run(100, (160, 120));
    assert_eq!(
        report.total.devices_created, 0,
        "engine created a device: {:?}",
        report.total
    );
    assert_eq!(report.first_frame.submissions, 1);
    assert_eq!(report.steady.submissions, 99, "{:?}", report.steady);
    assert_eq!(report.steady.readbacks, 0, "{:?}", report.steady);
    assert_eq!(report.steady.pipelines_created, 0, "{:?}", report.steady);
    assert_eq!(report.steady.buffers_created, 0, "{:?}", report.steady);
    assert_eq!(report.steady.dispatches, 99);
    assert_eq!(report.total.pipelines_created, 1);

    // Read the last frame back (a test-only readback) and compare with the CPU reference.
    let mut rec = Recorder::new(&engine);
    let download = rec.download_texture_rgba8(&texture).expect("download");
    rec.submit().expect("submit");
    let frame = download.wait().expect("frame");
    let expected = display::reference(&stored, &settings, &view, (160, 120)).expect("reference");
    common::assert_close("render_loop_last_frame", &frame, &expected, 1.0, 0.01);
    let (lo, hi) = frame.pixels.min_max().expect("range");
    assert!(hi > lo, "the frame is blank");
}

#[test]
fn display_settings_must_be_8_bit_and_view_finite() {
    let (_, engine, texture, mut view, mut settings, stored) = render_loop::run(1, (32, 32));
    let target = texture.create_view(&Default::default());
    let resident = engine.upload(&stored).expect("upload");
    let mut rec = Recorder::new(&engine);
    settings.bits = 16;
    assert!(
        display::encode_to_texture(&mut rec, &resident, &settings, &view, &target, (32, 32))
            .is_err()
    );
    settings.bits = 8;
    view.zoom = f64::NAN;
    assert!(
        display::encode_to_texture(&mut rec, &resident, &settings, &view, &target, (32, 32))
            .is_err()
    );
}
