//! `radpipe resize`: resize to a given size, bilinear (OpenCV INTER_LINEAR semantics) or area
//! averaging (shrinking only), on the GPU.

use std::path::PathBuf;

use clap::ValueEnum;
use radpipe::Error;
use radpipe::ops::resize::ResizeMode;
use radpipe::workflow::warp::{GeometricOp, parse_size};

use super::warp::{CommonArgs, execute};

/// Arguments of `radpipe resize`.
#[derive(clap::Args, Debug)]
pub struct ResizeArgs {
    /// Input: DICOM, PNG, TIFF or JPEG.
    input: PathBuf,
    /// Output: .png, .tif, .dcm or .raw (by extension).
    #[arg(short, long)]
    output: PathBuf,
    /// Output size WxH.
    #[arg(long)]
    size: String,
    /// linear: bilinear at half-pixel centres, edges clamped; area: mean over each output pixel's
    /// footprint (output must not be larger than the input).
    #[arg(long, value_enum, default_value_t = ModeArg::Linear)]
    mode: ModeArg,
    #[command(flatten)]
    common: CommonArgs,
}

/// Resize modes on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Bilinear.
    Linear,
    /// Area averaging.
    Area,
}

/// Resizes one file.
pub fn run(args: &ResizeArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .input(&args.input, "input")
        .output(&args.output, "-o")
        .check()?;
    let op = GeometricOp::Resize {
        size: parse_size(&args.size).map_err(|e| e.in_file(&args.input))?,
        mode: match args.mode {
            ModeArg::Linear => ResizeMode::Linear,
            ModeArg::Area => ResizeMode::Area,
        },
    };
    execute(&args.input, &args.output, &args.common.request(op))
}
