//! Batch soak: pushes N generated 16-bit images (default 10 000) through a three-stage pipeline
//! (resize → window → CLAHE) with `radpipe::batch::run_batch` and prints the process's resident memory
//! and the engine's allocation counters every 1 000 images, so memory growth over a long batch shows.
//!
//! Run: `cargo run --release --example soak -- [N] [SIDE]` (Linux: RSS from /proc/self/status).

use std::path::Path;

use radpipe::batch::{self, PipelineSpec};
use radpipe::image::{HostImage, Pixels};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let side: u32 = args.next().map_or(Ok(128), |a| a.parse())?;
    let input = tempfile::tempdir()?;
    let out = tempfile::tempdir()?;
    // 50 distinct files, reused by name so the folder holds `total` inputs without `total` encodes.
    let n = (side * side) as usize;
    for i in 0..total.min(50) {
        let img = HostImage::new(
            side,
            side,
            Pixels::U16((0..n).map(|p| ((p * 13 + i * 101) % 4096) as u16).collect()),
        )?;
        radpipe::io::raster::write_png(&input.path().join(format!("seed{i:02}.png")), &img)?;
    }
    for i in 50..total {
        std::fs::hard_link(
            input.path().join(format!("seed{:02}.png", i % 50)),
            input.path().join(format!("img{i:06}.png")),
        )?;
    }
    let spec = PipelineSpec::parse(
        "output = \"png\"\n[[stage]]\nop = \"resize\"\nscale = 0.5\n[[stage]]\nop = \"window\"\n\
         bits = 12\n[[stage]]\nop = \"clahe\"\nclip-limit = 2.0\nbits = 12\n",
        Path::new("soak.toml"),
    )?;
    let inputs = batch::collect_inputs(input.path())?;
    let engine = radpipe::Engine::new()?;
    println!(
        "adapter {}, {} images of {side}², pipeline resize → window → clahe",
        engine.summary().name,
        inputs.len()
    );
    println!("images  rss_MiB  buffers_created  pipelines_created  failed  seconds");
    let start = std::time::Instant::now();
    let mut failed = 0;
    for (k, chunk) in inputs.chunks(1000).enumerate() {
        let report = batch::run_batch(&engine, &spec, chunk, out.path(), |_| {})?;
        failed += report.failed.len();
        let totals = engine.stats();
        println!(
            "{:6}  {:7.1}  {:15}  {:17}  {:6}  {:7.1}",
            (k * 1000 + chunk.len()),
            rss_kib() as f64 / 1024.0,
            totals.buffers_created,
            totals.pipelines_created,
            failed,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
