//! Stitching end to end: three 3000×3000 u16 stations (cut from the bundled real CR, upscaled, with
//! 600-px overlaps, small rotations, gains and noise; placed from their DICOM-style geometry) →
//! one 16-bit canvas, including the upload of the stations and the download of the canvas. The
//! device is created once; pipelines and pooled buffers are warm after criterion's warm-up.
//! Throughput is canvas pixels/s.
//!
//! Cases: gain + linear (the original tool's pipeline), NCC refinement (±20 px) + gain + linear,
//! NCC refinement + histogram matching or block gains + linear, and gain + multi-band (5 bands).
//!
//! Run: `cargo bench --bench stitch` (RADPIPE_STITCH_BENCH_SIDE=1000 for a quick run on a CPU adapter).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use radpipe::Engine;
use radpipe::image::Pixels;
use radpipe::io::dicom::read_dicom;
use radpipe::stitch::simulate::{SimStation, cut_stations, upscale};
use radpipe::stitch::{BlendMode, Compensation, Station, StitchParams, stitch};

fn stations(side: u32) -> Vec<Station> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo/cr_chest.dcm");
    let src = read_dicom(&path)
        .expect("cr_chest")
        .frame(0)
        .expect("frame");
    assert!(matches!(src.pixels, Pixels::U16(_)));
    let overlap = side / 5;
    let truth_h = 3 * side - 2 * overlap + 40;
    let truth = upscale(&src, side + 40, truth_h).expect("upscale");
    let step = f64::from(side - overlap);
    let specs: Vec<SimStation> = [(0.0, 1.0), (0.2, 1.1), (-0.15, 0.92)]
        .iter()
        .enumerate()
        .map(|(i, &(angle_deg, gain))| SimStation {
            origin: [10.0 + i as f64 * 3.3, 10.0 + i as f64 * step + 0.4],
            angle_deg,
            gain,
            width: side,
            height: side,
        })
        .collect();
    cut_stations(&truth, &specs, 8.0, 0.15, 1)
        .expect("cut")
        .into_iter()
        .enumerate()
        .map(|(i, img)| Station::new(format!("station{i}"), img))
        .collect()
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new().unwrap_or_else(|e| panic!("stitch bench needs an adapter: {e}"));
    let s = engine.summary();
    eprintln!("adapter: {} ({}, {})", s.name, s.backend, s.device_type);
    let side: u32 = std::env::var("RADPIPE_STITCH_BENCH_SIDE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let st = stations(side);
    let mut group = c.benchmark_group(format!("stitch 3 x {side}² u16 [{}]", s.name));
    group.sample_size(10);
    let cases = [
        ("gain+linear", false, Compensation::Gain, BlendMode::Linear),
        (
            "refine+gain+linear",
            true,
            Compensation::Gain,
            BlendMode::Linear,
        ),
        (
            "refine+histogram+linear",
            true,
            Compensation::Histogram,
            BlendMode::Linear,
        ),
        (
            "refine+blocks+linear",
            true,
            Compensation::Blocks,
            BlendMode::Linear,
        ),
        (
            "gain+multiband",
            false,
            Compensation::Gain,
            BlendMode::Multiband,
        ),
    ];
    for (name, refine, compensate, blend) in cases {
        let params = StitchParams {
            refine,
            blend,
            compensate,
            ..StitchParams::default()
        };
        let probe = stitch(&engine, &st, &params).expect("stitch");
        let canvas = u64::from(probe.image.width) * u64::from(probe.image.height);
        let stages: Vec<String> = probe
            .timings
            .iter()
            .map(|(n, t)| format!("{n} {t:.2}s"))
            .collect();
        eprintln!(
            "{name}: canvas {}x{}; first run by stage: {}",
            probe.image.width,
            probe.image.height,
            stages.join(", ")
        );
        group.throughput(Throughput::Elements(canvas));
        group.bench_with_input(BenchmarkId::new(name, side), &params, |b, p| {
            b.iter(|| stitch(&engine, &st, p).expect("stitch"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
