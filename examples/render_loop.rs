//! Embedding radpipe in a render loop. The host owns the wgpu device, queue and the storage texture it
//! presents; radpipe gets the device once (`Engine::from_device`), keeps the image resident, and each
//! frame records "window + pan/zoom into the texture" and submits it — no readback, no device or
//! pipeline created per frame, one submission per frame.
//!
//! Run: `cargo run --release --example render_loop` (headless: it renders 100 frames of the bundled CT
//! and prints the engine's counters; a real host would present the texture instead).

use radpipe::ops::display::{View, encode_to_texture};
use radpipe::ops::window::{WindowRequest, WindowSettings};
use radpipe::pipeline::Recorder;
use radpipe::{Engine, Stats, wgpu};

/// What a run of the loop cost.
#[derive(Debug)]
pub struct LoopReport {
    /// Frames rendered.
    pub frames: u32,
    /// Counters accumulated by the frames (after the first frame's warm-up).
    pub steady: Stats,
    /// Counters of the first frame (pipeline build, pool fill).
    pub first_frame: Stats,
    /// Counters over the whole life of the engine.
    pub total: Stats,
}

/// The host's side: its own instance, adapter, device and queue.
pub fn host_device() -> (wgpu::Device, wgpu::Queue, wgpu::AdapterInfo) {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter =
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
            .expect(
                "the host needs a GPU adapter (without a GPU: apt-get install mesa-vulkan-drivers)",
            );
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("host render-loop device"),
        ..wgpu::DeviceDescriptor::default()
    }))
    .expect("host device");
    (device, queue, adapter.get_info())
}

/// Renders `frames` frames of the bundled CT, panning and zooming, into a host-owned texture.
/// Returns the counters and the texture (so a test can read the last frame back).
pub fn run(
    frames: u32,
    size: (u32, u32),
) -> (
    LoopReport,
    Engine,
    wgpu::Texture,
    View,
    WindowSettings,
    radpipe::HostImage,
) {
    let (device, queue, info) = host_device();
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some("host presentation texture"),
        size: wgpu::Extent3d {
            width: size.0,
            height: size.1,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let target = texture.create_view(&wgpu::TextureViewDescriptor::default());

    let engine = Engine::from_device(device, queue, info);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/ct_small.dcm");
    let dicom = radpipe::io::dicom::read_dicom(&path).expect("bundled CT");
    let stored = dicom.frame(0).expect("frame");
    let resident = engine.upload(&stored).expect("upload once");
    let request = WindowRequest {
        center: Some(40.0),
        width: Some(400.0),
        ..WindowRequest::default()
    };
    let settings = WindowSettings::from_source(&dicom, 0, &request).expect("window");

    let start = engine.stats();
    let mut after_first = start;
    let mut view = View::fit((stored.width, stored.height), size);
    for frame in 0..frames {
        // The host's input: a slow pan and zoom.
        let t = f64::from(frame) / f64::from(frames.max(1));
        view.center = [
            63.5 + 20.0 * (t * std::f64::consts::TAU).sin(),
            63.5 + 10.0 * t,
        ];
        view.zoom = 2.0 + t;
        let mut rec = Recorder::new(&engine);
        encode_to_texture(&mut rec, &resident, &settings, &view, &target, size)
            .expect("record frame");
        rec.submit().expect("submit frame");
        if frame == 0 {
            after_first = engine.stats();
        }
    }
    engine.wait_idle().expect("idle");
    let end = engine.stats();
    let report = LoopReport {
        frames,
        steady: end.since(&after_first),
        first_frame: after_first.since(&start),
        total: end,
    };
    (report, engine, texture, view, settings, stored)
}

#[allow(dead_code)]
fn main() {
    let (report, engine, ..) = run(100, (512, 512));
    let s = engine.summary();
    println!(
        "rendered {} frames on {} ({})",
        report.frames, s.name, s.backend
    );
    println!("first frame: {:?}", report.first_frame);
    println!("frames 2..{}: {:?}", report.frames, report.steady);
}
