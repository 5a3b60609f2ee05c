//! `radpipe run PIPELINE.toml IN_DIR -o OUT_DIR`: the batch mode, with a progress bar and a summary
//! of the files that failed and why.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use radpipe::batch::{self, BatchEvent, PipelineSpec};
use radpipe::{Engine, Error};

/// Arguments of `radpipe run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The pipeline file (TOML; format in docs/cli.md).
    pipeline: PathBuf,
    /// Folder of input images (DICOM, PNG, TIFF, JPEG).
    input_dir: PathBuf,
    /// Folder for the outputs (created if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// Write the batch report (counts, failures, engine counters) as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Spread the files over the workers of this queue (`nats://host:port`; docs/cluster.md).
    #[arg(long)]
    queue: Option<String>,
}

/// Runs the batch; exits non-zero when any file failed.
pub fn run(args: &RunArgs) -> Result<(), Error> {
    let spec = PipelineSpec::read(&args.pipeline)?;
    let inputs = batch::collect_inputs(&args.input_dir)?;
    let references: Vec<&std::path::Path> = spec.references();
    radpipe::io::output_plan::OutputPlan::new()
        .input(&args.pipeline, "pipeline file")
        .inputs(&references, "pipeline reference")
        .inputs(&inputs, "input")
        .output_folder(&args.output, "-o")
        .output_opt(args.report.as_deref(), "--report")
        .check()?;
    std::fs::create_dir_all(&args.output).map_err(|e| Error::io(&args.output, e))?;
    if let Some(url) = &args.queue {
        return run_queued(args, url, &spec, &inputs);
    }
    let engine = Engine::new()?;
    let bar = progress_bar(inputs.len());
    let report = batch::run_batch(&engine, &spec, &inputs, &args.output, |event| {
        bar.inc(1);
        if let BatchEvent::Failed { error, .. } = event {
            skipped(&bar, &error.to_string());
        }
    })?;
    bar.finish_and_clear();
    println!(
        "{} written, {} failed, {:.2} s ({} submissions, {} readbacks, {} uploads) -> {}",
        report.processed,
        report.failed.len(),
        report.seconds,
        report.stats.submissions,
        report.stats.readbacks,
        report.stats.uploads,
        args.output.display()
    );
    if let Some(device) = &report.segment_device {
        match &report.segment_preprocess {
            Some(pre) => println!("segment stage: network on {device}, preprocessing {pre}"),
            None => println!("segment stage: network on {device}"),
        }
    }
    finish(args, &report, report.failed.len(), inputs.len())
}

/// `--queue`: the same batch through the workers; the bar counts results (each a job a worker
/// acked).
fn run_queued(
    args: &RunArgs,
    url: &str,
    spec: &PipelineSpec,
    inputs: &[PathBuf],
) -> Result<(), Error> {
    let bar = progress_bar(inputs.len());
    let report = radpipe::serve::cluster::batch::run_queued(
        url,
        &args.pipeline,
        spec,
        inputs,
        &args.output,
        std::time::Duration::from_secs(600),
        |result| {
            bar.inc(1);
            if let Some(error) = &result.error {
                skipped(&bar, error);
            }
        },
    )?;
    bar.finish_and_clear();
    println!(
        "{} written, {} failed, {:.2} s on {} workers ({}) -> {}",
        report.processed,
        report.failed.len(),
        report.seconds,
        report.by_worker.len(),
        report
            .by_worker
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        args.output.display()
    );
    let value = serde_json::json!({
        "processed": report.processed,
        "failed": report.failed,
        "seconds": report.seconds,
        "by_worker": report.by_worker,
        "queue": url,
    });
    finish(args, &value, report.failed.len(), inputs.len())
}

fn progress_bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `radpipe: skipped: <file>: <reason>`, above the bar (or on stderr when it is hidden).
fn skipped(bar: &ProgressBar, error: &str) {
    let line = format!("radpipe: skipped: {error}");
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Writes `--report` (temporary file, rename) and turns failures into the exit status.
fn finish(
    args: &RunArgs,
    report: &impl serde::Serialize,
    failed: usize,
    total: usize,
) -> Result<(), Error> {
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(report)
            .map_err(|e| Error::InvalidParams(format!("cannot serialise report: {e}")))?;
        radpipe::io::atomic::write_atomic(path, |w| {
            std::io::Write::write_all(w, text.as_bytes()).map_err(|e| Error::io(path, e))
        })?;
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Error::BatchFailures { failed, total })
    }
}
