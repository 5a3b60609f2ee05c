//! A host application that owns its device (a viewer's render loop) hands it to radpipe: the engine must
//! create no device of its own, and window → download must cost exactly one upload, one submission and
//! one readback. Repeating the work must build no new pipeline and allocate no new buffer.

use crate::common;

use radpipe::image::{HostImage, Pixels};
use radpipe::ops::window::{self, WindowSettings, WindowSource};
use radpipe::pipeline::Recorder;
use radpipe::transforms::{ModalityLut, Voi, VoiFunction, Window};
use radpipe::{Engine, wgpu};

fn host_device() -> (wgpu::Device, wgpu::Queue, wgpu::AdapterInfo) {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .expect("the host needs an adapter (apt-get install mesa-vulkan-drivers)");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("host-owned device"),
        ..wgpu::DeviceDescriptor::default()
    }))
    .expect("host device");
    (device, queue, adapter.get_info())
}

#[test]
fn borrowed_device_window_then_download_is_one_submit_one_readback() {
    let (device, queue, info) = host_device();
    let engine = Engine::from_device(device, queue, info);
    assert_eq!(engine.stats().devices_created, 0);

    let img = HostImage::new(
        129,
        67,
        Pixels::I16((0..129 * 67).map(|i| (i % 3000 - 1024) as i16).collect()),
    )
    .expect("image");
    let settings = WindowSettings {
        modality: ModalityLut::Rescale {
            slope: 1.0,
            intercept: -1024.0,
        },
        voi: Voi::Window(Window {
            center: 40.0,
            width: 400.0,
            function: VoiFunction::Linear,
        }),
        bits: 8,
        invert: false,
        source: WindowSource::Explicit,
    };

    let before = engine.stats();
    let out = window::window_image(&engine, &img, &settings).expect("window");
    let first = engine.stats().since(&before);
    assert_eq!(first.devices_created, 0, "engine created a device");
    assert_eq!(first.submissions, 1, "{first:?}");
    assert_eq!(first.readbacks, 1, "{first:?}");
    assert_eq!(first.uploads, 1, "one image upload, no table: {first:?}");
    assert_eq!(first.dispatches, 1);
    assert_eq!(first.pipelines_created, 1);
    assert_eq!(
        out.pixels,
        window::reference(&img, &settings).expect("cpu").pixels
    );

    // Steady state: the same work again builds nothing and allocates nothing.
    let before = engine.stats();
    window::window_image(&engine, &img, &settings).expect("window again");
    let second = engine.stats().since(&before);
    assert_eq!(second.pipelines_created, 0, "{second:?}");
    assert_eq!(second.buffers_created, 0, "{second:?}");
    assert_eq!(second.submissions, 1);
    assert_eq!(second.readbacks, 1);
}

#[test]
fn many_stages_one_submission() {
    let (device, queue, info) = host_device();
    let engine = Engine::from_device(device, queue, info);
    let img =
        HostImage::new(64, 64, Pixels::U16((0..4096).map(|i| i as u16).collect())).expect("image");
    let mut settings = WindowSettings {
        modality: ModalityLut::IDENTITY,
        voi: Voi::Window(Window {
            center: 2048.0,
            width: 4096.0,
            function: VoiFunction::Linear,
        }),
        bits: 16,
        invert: false,
        source: WindowSource::Explicit,
    };
    let before = engine.stats();
    let input = engine.upload(&img).expect("upload");
    let mut rec = Recorder::new(&engine);
    let a = window::encode(&mut rec, &input, &settings).expect("stage 1");
    settings.invert = true;
    let b = window::encode(&mut rec, &a, &settings).expect("stage 2");
    let download = rec.download(&b).expect("download");
    rec.submit().expect("submit");
    let out = download.wait().expect("wait");
    let d = engine.stats().since(&before);
    assert_eq!(
        (d.submissions, d.readbacks, d.dispatches),
        (1, 1, 2),
        "{d:?}"
    );
    // Stage 2 windows stage 1's output with the same identity window, inverted: x → 65535 − x.
    settings.invert = false;
    let stage1 = window::reference(&img, &settings).expect("cpu 1");
    settings.invert = true;
    let expected = window::reference(&stage1, &settings).expect("cpu 2");
    common::assert_close("two_stages", &out, &expected, 1.0, 0.005);
}

#[test]
fn waiting_before_submit_is_an_error_not_a_hang() {
    let (device, queue, info) = host_device();
    let engine = Engine::from_device(device, queue, info);
    let img = HostImage::new(4, 4, Pixels::U8(vec![7; 16])).expect("image");
    let input = engine.upload(&img).expect("upload");
    let mut rec = Recorder::new(&engine);
    let download = rec.download(&input).expect("download");
    let err = download.wait().expect_err("must refuse");
    assert!(
        err.to_string()
            .contains("before its recording was submitted"),
        "{err}"
    );
    drop(rec);
}
