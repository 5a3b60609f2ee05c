//! BiSeNetV2 segmentation throughput in images/s on the engine's device, at 256², 384² and 512²
//! network sizes, batch 1 and 8:
//! - `network`: the forward pass alone on an input tensor already on the device, plus the foreground
//!   margin, waited for with `Device::sync`;
//! - `pipeline`: the whole path per batch — upload of 8-bit 512×512 images, resize + normalise
//!   (`seg_preprocess.wgsl`), copy into burn, forward, copy out, mask back at 512×512
//!   (`seg_mask.wgsl`) and one readback per image.
//!
//! Weights are the PaddleSeg fixture (values do not matter for speed). The device is created once and
//! every case runs once before timing. On lavapipe (CPU Vulkan) a 512² batch of 8 takes many seconds:
//! limit the cases with `RADPIPE_SEG_BENCH_SIZES=256,384` and `RADPIPE_SEG_BENCH_BATCHES=1`, and
//! choose backends with `RADPIPE_SEG_BENCH_BACKENDS=gpu,cpu` (default `gpu`; `cpu` is burn's Flex).
//!
//! Run: `cargo bench --bench segment`.

use std::time::Duration;

use burn::tensor::{Device, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use radpipe::Engine;
use radpipe::image::{HostImage, Pixels};
use radpipe::seg::infer::{
    Backend, Preprocess, SegInput, Segmenter, burn_device, foreground_margin,
};
use radpipe::seg::weights::{model_from_tensors, read_pdparams};

fn list(var: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(var)
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new().unwrap_or_else(|e| panic!("segment bench needs an adapter: {e}"));
    let s = engine.summary();
    eprintln!("adapter: {} ({}, {})", s.name, s.backend, s.device_type);
    let named = read_pdparams(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bisenet/weights.pdparams"),
    )
    .expect("fixture weights");
    let sizes = list("RADPIPE_SEG_BENCH_SIZES", &[256, 384, 512]);
    let batches = list("RADPIPE_SEG_BENCH_BATCHES", &[1, 8]);
    let wanted = std::env::var("RADPIPE_SEG_BENCH_BACKENDS").unwrap_or_else(|_| "gpu".into());
    let mut backends = Vec::new();
    for name in wanted.split(',').map(str::trim) {
        match name {
            "gpu" => backends.push((format!("gpu [{}]", s.name), Backend::Gpu(engine.clone()))),
            "cpu" => backends.push(("cpu [burn Flex]".to_string(), Backend::Cpu)),
            other => panic!("RADPIPE_SEG_BENCH_BACKENDS: unknown backend '{other}' (gpu, cpu)"),
        }
    }
    let images: Vec<HostImage> = (0..8)
        .map(|k| {
            let n = 512 * 512;
            HostImage::new(
                512,
                512,
                Pixels::U8((0..n).map(|i| ((i * 31 + k * 97) % 251) as u8).collect()),
            )
            .expect("image")
        })
        .collect();
    for (label, backend) in backends {
        let device = match &backend {
            Backend::Gpu(e) => burn_device(e).expect("burn device"),
            Backend::Cpu => Device::flex(),
        };
        let model = model_from_tensors(&named, &device).expect("model");
        let mut group = c.benchmark_group(format!("segment {label}"));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(1));
        group.measurement_time(Duration::from_secs(1));
        for &size in &sizes {
            let seg = Segmenter::new(
                model.clone(),
                backend.clone(),
                Preprocess::square(size as u32),
            )
            .expect("segmenter");
            for &batch in &batches {
                group.throughput(Throughput::Elements(batch as u64));
                let input = Tensor::<4>::zeros([batch, 3, size, size], &device);
                let id = format!("network {size}x{size} batch {batch}");
                group.bench_function(BenchmarkId::from_parameter(id), |b| {
                    b.iter(|| {
                        let m = foreground_margin(seg.model().forward(input.clone()));
                        device.sync().expect("sync");
                        m
                    })
                });
                let inputs: Vec<SegInput<'_>> = images[..batch]
                    .iter()
                    .map(|image| SegInput {
                        image,
                        window: None,
                    })
                    .collect();
                let id = format!("pipeline 512x512 u8 -> {size}x{size} batch {batch}");
                group.bench_function(BenchmarkId::from_parameter(id), |b| {
                    b.iter(|| seg.segment(&inputs).expect("segment"))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
