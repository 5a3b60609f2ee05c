//! Histogram throughput on u16 images resident on the GPU: the histogram alone (65536 bins, global
//! atomics), global equalization (histogram → LUT scan → apply) and CLAHE (8×8 tiles, clip 2: tile
//! histograms → clip/redistribute/scan → bilinear blend), at 2048² and 4096². One submission per
//! iteration and a wait for it, no readback; pixels/s. The device is created once; pipelines and
//! buffers are warm before timing starts.
//!
//! Run: `cargo bench --bench histogram` (set WGPU_ADAPTER_NAME to pick an adapter).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use radpipe::Engine;
use radpipe::image::{HostImage, Pixels};
use radpipe::ops::clahe::{self, ClaheParams};
use radpipe::ops::equalize::{self, EqualizeParams};
use radpipe::ops::histogram::{Binning, Region, encode_histogram};
use radpipe::pipeline::Recorder;

/// A smooth 12-bit-ish gradient with texture, like a radiograph's spread of values.
fn test_image(side: u32) -> HostImage {
    let n = (side * side) as usize;
    let pixels = (0..n)
        .map(|i| {
            let (x, y) = ((i as u32 % side) as u64, (i as u32 / side) as u64);
            ((x * 3 + y * 5 + (x * y) % 97 * 13) % 4096 + 8000) as u16
        })
        .collect();
    HostImage::new(side, side, Pixels::U16(pixels)).expect("image")
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new().unwrap_or_else(|e| panic!("histogram bench needs an adapter: {e}"));
    let s = engine.summary();
    eprintln!("adapter: {} ({}, {})", s.name, s.backend, s.device_type);
    engine.shaders().warm_up().expect("warm up");
    let binning = Binning::new(radpipe::PixelFormat::U16, None, None).expect("binning");
    let clahe_params = ClaheParams {
        clip_limit: 2.0,
        ..ClaheParams::default()
    };
    let mut group = c.benchmark_group(format!("histogram u16 [{}]", s.name));
    group.sample_size(10);
    for side in [2048u32, 4096] {
        let input = engine.upload(&test_image(side)).expect("upload");
        group.throughput(Throughput::Elements(u64::from(side) * u64::from(side)));
        let size = format!("{side}x{side}");
        group.bench_with_input(BenchmarkId::new("histogram", &size), &input, |b, input| {
            b.iter(|| {
                let mut rec = Recorder::new(&engine);
                let h = encode_histogram(&mut rec, input, &binning, &Region::ALL).expect("encode");
                rec.submit().expect("submit");
                engine.wait_idle().expect("wait");
                h
            })
        });
        group.bench_with_input(BenchmarkId::new("equalize", &size), &input, |b, input| {
            b.iter(|| {
                let mut rec = Recorder::new(&engine);
                let out =
                    equalize::encode(&mut rec, input, &EqualizeParams::default()).expect("encode");
                rec.submit().expect("submit");
                engine.wait_idle().expect("wait");
                out
            })
        });
        group.bench_with_input(BenchmarkId::new("clahe", &size), &input, |b, input| {
            b.iter(|| {
                let mut rec = Recorder::new(&engine);
                let out = clahe::encode(&mut rec, input, &clahe_params).expect("encode");
                rec.submit().expect("submit");
                engine.wait_idle().expect("wait");
                out
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
