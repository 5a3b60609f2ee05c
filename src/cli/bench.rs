//! `radpipe bench`: GPU throughput per op and size against the device's own copy bandwidth.

use std::path::PathBuf;

use radpipe::bench::{self, BenchOptions};
use radpipe::io::atomic::write_atomic;
use radpipe::{Engine, Error};

/// Arguments of `radpipe bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Write the report as JSON here (schema in docs/performance.md).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Square image sides, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "512,2048,4096")]
    sizes: Vec<u32>,
    /// Ops to run, comma-separated (default: all; `radpipe bench --list` names them).
    #[arg(long, value_delimiter = ',')]
    ops: Vec<String>,
    /// Timed iterations per op and size.
    #[arg(long, default_value_t = 20)]
    iters: u32,
    /// List the ops and exit.
    #[arg(long)]
    list: bool,
}

/// Runs the benchmark and prints a table.
pub fn run(args: &BenchArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .output_opt(args.json.as_deref(), "--json")
        .check()?;
    if args.list {
        let ops = bench::all_ops();
        let width = ops.iter().map(|op| op.name.len()).max().unwrap_or(0);
        for op in ops {
            println!("{:<width$}  {}", op.name, op.description);
        }
        return Ok(());
    }
    if args.iters == 0 {
        return Err(Error::InvalidParams("--iters must be at least 1".into()));
    }
    let engine = Engine::new()?;
    let s = engine.summary();
    println!(
        "adapter: {} ({}, {}, {})",
        s.name, s.backend, s.device_type, s.driver
    );
    let opts = BenchOptions {
        sizes: args.sizes.clone(),
        ops: args.ops.clone(),
        iters: args.iters,
        ..BenchOptions::default()
    };
    println!(
        "{:<10} {:>6} {:>11} {:>11} {:>9} {:>9}",
        "op", "size", "median ms", "Mpix/s", "GB/s", "of copy"
    );
    let report = bench::run(&engine, &opts, |r| {
        println!(
            "{:<10} {:>6} {:>11.3} {:>11.1} {:>9.2} {:>8.0}%",
            r.op,
            r.size,
            r.median_s * 1e3,
            r.pixels_per_s / 1e6,
            r.gb_per_s,
            r.fraction_of_copy * 100.0
        );
    })?;
    println!(
        "copy bandwidth {:.2} GB/s ({} MB per copy), timing: {:?}, {} iterations, medians",
        report.copy_gb_per_s,
        report.copy_bytes / 1_000_000,
        report.timing,
        report.iters
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::InvalidParams(format!("cannot serialise report: {e}")))?;
        write_atomic(path, |w| {
            std::io::Write::write_all(w, text.as_bytes()).map_err(|e| Error::io(path, e))
        })?;
        println!("report written to {}", path.display());
    }
    Ok(())
}
