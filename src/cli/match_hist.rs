//! `radpipe match`: histogram matching of an image to a reference image on the GPU.

use std::path::PathBuf;

use radpipe::ops::histmatch::MatchParams;
use radpipe::workflow::equalize::match_file;
use radpipe::{Engine, Error};

/// Arguments of `radpipe match`.
#[derive(clap::Args, Debug)]
pub struct MatchArgs {
    /// Input: DICOM, PNG, TIFF or JPEG (8- or 16-bit greyscale).
    input: PathBuf,
    /// The image whose histogram the output should follow (same sample format as the input).
    #[arg(long)]
    reference: PathBuf,
    /// Output: .png, .tif, .dcm or .raw (by extension).
    #[arg(short, long)]
    output: PathBuf,
    /// Histogram bins, a power of two (default: one per value: 256 for 8-bit, 65536 for 16-bit).
    #[arg(long)]
    bins: Option<u32>,
    /// Significant bits of 16-bit samples, e.g. 12 for 12-bit data (4096 bins).
    #[arg(long)]
    bits: Option<u32>,
    /// Frame of a multi-frame input (0-based; the reference's first frame is used).
    #[arg(long, default_value_t = 0)]
    frame: u32,
}

/// Matches one file.
pub fn run(args: &MatchArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .input(&args.input, "input")
        .input(&args.reference, "--reference")
        .output(&args.output, "-o")
        .check()?;
    let engine = Engine::new()?;
    let params = MatchParams {
        bits: args.bits,
        bins: args.bins,
    };
    let report = match_file(
        &engine,
        &args.input,
        &args.reference,
        &args.output,
        &params,
        args.frame,
    )?;
    println!(
        "{} -> {} ({}x{} {}, matched to {}, {} bins)",
        args.input.display(),
        args.output.display(),
        report.width,
        report.height,
        report.format,
        args.reference.display(),
        report.bins
    );
    Ok(())
}
