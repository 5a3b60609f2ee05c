//! Window/level throughput: u16 stored values in, u8 display values out, image resident on the GPU,
//! one submission per iteration and a wait for it (no readback). Reports pixels/s. The device is created
//! once; pipelines and buffers are warm before timing starts.
//!
//! Run: `cargo bench --bench window_level` (set WGPU_ADAPTER_NAME to pick an adapter).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use radpipe::Engine;
use radpipe::image::{HostImage, Pixels};
use radpipe::ops::window::{self, WindowSettings, WindowSource};
use radpipe::pipeline::Recorder;
use radpipe::transforms::{ModalityLut, Voi, VoiFunction, Window};

fn bench(c: &mut Criterion) {
    let engine =
        Engine::new().unwrap_or_else(|e| panic!("window_level bench needs an adapter: {e}"));
    let s = engine.summary();
    eprintln!("adapter: {} ({}, {})", s.name, s.backend, s.device_type);
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
    let mut group = c.benchmark_group(format!("window_level u16->u8 [{}]", s.name));
    group.sample_size(10);
    for side in [2048u32, 4096] {
        let n = (side * side) as usize;
        let img = HostImage::new(
            side,
            side,
            Pixels::U16((0..n).map(|i| (i * 7 % 4096) as u16).collect()),
        )
        .expect("image");
        let input = engine.upload(&img).expect("upload");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{side}x{side}")),
            &input,
            |b, input| {
                b.iter(|| {
                    let mut rec = Recorder::new(&engine);
                    let out = window::encode(&mut rec, input, &settings).expect("encode");
                    rec.submit().expect("submit");
                    engine.wait_idle().expect("wait");
                    out
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
