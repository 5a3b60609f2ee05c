//! `radpipe rotate`: rotation about a centre with scale (OpenCV getRotationMatrix2D: positive angles
//! turn the image counter-clockwise), bilinear, on the GPU.

use std::path::PathBuf;

use radpipe::Error;
use radpipe::workflow::warp::{GeometricOp, parse_number, parse_point};

use super::warp::{BorderArgs, CommonArgs, execute, optional_size};

/// Arguments of `radpipe rotate`.
#[derive(clap::Args, Debug)]
pub struct RotateArgs {
    /// Input: DICOM, PNG, TIFF or JPEG.
    input: PathBuf,
    /// Output: .png, .tif, .dcm or .raw (by extension).
    #[arg(short, long)]
    output: PathBuf,
    /// Degrees, counter-clockwise as displayed.
    #[arg(long, allow_hyphen_values = true)]
    angle: String,
    /// Centre X,Y in pixels; default: the image centre ((w-1)/2, (h-1)/2).
    #[arg(long, allow_hyphen_values = true)]
    center: Option<String>,
    /// Uniform scale.
    #[arg(long, allow_hyphen_values = true, default_value = "1")]
    scale: String,
    /// Output size WxH; default: the input's.
    #[arg(long)]
    size: Option<String>,
    #[command(flatten)]
    border: BorderArgs,
    #[command(flatten)]
    common: CommonArgs,
}

/// Rotates one file.
pub fn run(args: &RotateArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .input(&args.input, "input")
        .output(&args.output, "-o")
        .check()?;
    let with_file = |e: Error| e.in_file(&args.input);
    let op = GeometricOp::Rotate {
        angle: parse_number(&args.angle, "--angle").map_err(with_file)?,
        center: args
            .center
            .as_deref()
            .map(|c| parse_point(c, "--center"))
            .transpose()
            .map_err(with_file)?,
        scale: parse_number(&args.scale, "--scale").map_err(with_file)?,
        size: optional_size(args.size.as_deref()).map_err(with_file)?,
        border: args.border.border().map_err(with_file)?,
    };
    execute(&args.input, &args.output, &args.common.request(op))
}
