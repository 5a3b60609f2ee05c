//! `radpipe crop`: cut a (possibly rotated) rectangle out of an image as an upright image — the
//! rotatable ROI of a viewer — with one bilinear warp on the GPU.

use std::path::PathBuf;

use radpipe::Error;
use radpipe::workflow::warp::{GeometricOp, parse_number, parse_point, parse_size};

use super::warp::{BorderArgs, CommonArgs, execute};

/// Arguments of `radpipe crop`.
#[derive(clap::Args, Debug)]
pub struct CropArgs {
    /// Input: DICOM, PNG, TIFF or JPEG.
    input: PathBuf,
    /// Output: .png, .tif, .dcm or .raw (by extension).
    #[arg(short, long)]
    output: PathBuf,
    /// Centre X,Y of the rectangle in pixels.
    #[arg(long, allow_hyphen_values = true)]
    center: String,
    /// Rectangle (and output) size WxH.
    #[arg(long)]
    size: String,
    /// Rotation of the rectangle in degrees, clockwise as displayed (OpenCV RotatedRect).
    #[arg(long, allow_hyphen_values = true, default_value = "0")]
    angle: String,
    #[command(flatten)]
    border: BorderArgs,
    #[command(flatten)]
    common: CommonArgs,
}

/// Crops one file.
pub fn run(args: &CropArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .input(&args.input, "input")
        .output(&args.output, "-o")
        .check()?;
    let with_file = |e: Error| e.in_file(&args.input);
    let op = GeometricOp::Crop {
        center: parse_point(&args.center, "--center").map_err(with_file)?,
        size: parse_size(&args.size).map_err(with_file)?,
        angle: parse_number(&args.angle, "--angle").map_err(with_file)?,
        border: args.border.border().map_err(with_file)?,
    };
    execute(&args.input, &args.output, &args.common.request(op))
}
