//! Warp and resize throughput on u16 images resident on the GPU: one submission per iteration and a
//! wait for it (no readback), reported as output pixels/s. The device is created once; pipelines and
//! buffers are warm before timing starts (criterion's warm-up).
//!
//! - warp: a 10° rotation with scale 1.05 about the centre, same-size output, reflect-101 border, in
//!   both samplings (exact f32 coordinates; OpenCV's 1/32-px fixed point).
//! - resize: bilinear to 0.9× per side (exact), and area averaging to 1/3 per side (exact weights).
//!
//! Run: `cargo bench --bench warp` (set WGPU_ADAPTER_NAME to pick an adapter).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use radpipe::Engine;
use radpipe::GpuImage;
use radpipe::image::{HostImage, Pixels};
use radpipe::ops::resize::{self, ResizeMode, ResizeParams};
use radpipe::ops::warp::{self, Border, Sampling, Transform, WarpParams};
use radpipe::pipeline::Recorder;

fn time_one(engine: &Engine, record: impl Fn(&mut Recorder<'_>) -> GpuImage) -> GpuImage {
    let mut rec = Recorder::new(engine);
    let out = record(&mut rec);
    rec.submit().expect("submit");
    engine.wait_idle().expect("wait");
    out
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new().unwrap_or_else(|e| panic!("warp bench needs an adapter: {e}"));
    let s = engine.summary();
    eprintln!("adapter: {} ({}, {})", s.name, s.backend, s.device_type);
    let mut group = c.benchmark_group(format!("warp/resize u16 [{}]", s.name));
    group.sample_size(10);
    for side in [2048u32, 4096] {
        let n = (side * side) as usize;
        let img = HostImage::new(
            side,
            side,
            Pixels::U16((0..n).map(|i| ((i * 7 + i / 3) % 4096) as u16).collect()),
        )
        .expect("image");
        let input = engine.upload(&img).expect("upload");
        let c = (f64::from(side) - 1.0) / 2.0;
        for (name, sampling) in [("exact", Sampling::Exact), ("opencv", Sampling::OpenCv)] {
            let mut p = WarpParams::new(
                Transform::Affine(warp::rotation_matrix([c, c], 10.0, 1.05)),
                side,
                side,
            );
            p.border = Border::Reflect101;
            p.sampling = sampling;
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("warp rotate {name}"), format!("{side}x{side}")),
                &input,
                |b, input| {
                    b.iter(|| time_one(&engine, |rec| warp::encode(rec, input, &p).expect("warp")))
                },
            );
        }
        let linear = ResizeParams::new(side * 9 / 10, side * 9 / 10);
        let mut area = ResizeParams::new(side / 3, side / 3);
        area.mode = ResizeMode::Area;
        for (name, p) in [("resize linear 0.9x", linear), ("resize area 1/3", area)] {
            group.throughput(Throughput::Elements(
                u64::from(p.width) * u64::from(p.height),
            ));
            group.bench_with_input(
                BenchmarkId::new(name, format!("{side}x{side}")),
                &input,
                |b, input| {
                    b.iter(|| {
                        time_one(&engine, |rec| {
                            resize::encode(rec, input, &p).expect("resize")
                        })
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
