//! `radpipe warp`: affine or perspective warp by a matrix, bilinear, on the GPU. Also the arguments the
//! resampling commands share (border, sampling, frame) and the report they print.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use radpipe::ops::warp::{Border, Sampling};
use radpipe::workflow::warp::{
    GeometricOp, GeometricReport, GeometricRequest, parse_matrix, parse_number, parse_size,
    warp_file,
};
use radpipe::{Engine, Error};

/// Arguments of `radpipe warp`.
#[derive(clap::Args, Debug)]
pub struct WarpArgs {
    /// Input: DICOM, PNG, TIFF or JPEG.
    input: PathBuf,
    /// Output: .png, .tif, .dcm or .raw (by extension).
    #[arg(short, long)]
    output: PathBuf,
    /// m00,m01,m02,m10,m11,m12 (affine) or 9 values row by row (perspective); maps source → destination
    /// pixel coordinates unless --inverse.
    #[arg(long, allow_hyphen_values = true)]
    matrix: String,
    /// Output size WxH; default: the input's.
    #[arg(long)]
    size: Option<String>,
    /// The matrix maps destination → source (OpenCV WARP_INVERSE_MAP).
    #[arg(long)]
    inverse: bool,
    #[command(flatten)]
    border: BorderArgs,
    #[command(flatten)]
    common: CommonArgs,
}

/// Border handling, shared by warp, rotate and crop.
#[derive(clap::Args, Debug)]
pub struct BorderArgs {
    /// Samples outside the image: constant (--border-value), replicate (edge) or reflect (reflect-101).
    #[arg(long, value_enum, default_value_t = BorderArg::Constant)]
    border: BorderArg,
    /// Value of a constant border, in the input's sample units (stored values for DICOM).
    #[arg(long, allow_hyphen_values = true, default_value = "0")]
    border_value: String,
}

/// Border names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BorderArg {
    /// A constant value.
    Constant,
    /// The nearest edge sample.
    Replicate,
    /// Mirror without repeating the edge (OpenCV BORDER_REFLECT_101).
    Reflect,
}

impl BorderArgs {
    /// The border, or an error naming the bad value.
    pub fn border(&self) -> Result<Border, Error> {
        Ok(match self.border {
            BorderArg::Constant => {
                Border::Constant(parse_number(&self.border_value, "--border-value")?)
            }
            BorderArg::Replicate => Border::Replicate,
            BorderArg::Reflect => Border::Reflect101,
        })
    }
}

/// Options every resampling command takes.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Interpolation arithmetic: exact (float coordinates, two lerps, round to nearest) or opencv
    /// (bit-compatible with cv2's fixed-point INTER_LINEAR / INTER_AREA).
    #[arg(long, value_enum, default_value_t = SamplingArg::Exact)]
    sampling: SamplingArg,
    /// Frame of a multi-frame DICOM (0-based).
    #[arg(long, default_value_t = 0)]
    frame: u32,
}

/// Sampling names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SamplingArg {
    /// Float coordinates, two lerps in f32, round to nearest.
    Exact,
    /// OpenCV's fixed-point arithmetic.
    Opencv,
}

impl CommonArgs {
    /// The request for `op`.
    pub fn request(&self, op: GeometricOp) -> GeometricRequest {
        GeometricRequest {
            op,
            sampling: match self.sampling {
                SamplingArg::Exact => Sampling::Exact,
                SamplingArg::Opencv => Sampling::OpenCv,
            },
            frame: self.frame,
        }
    }
}

/// Parses an optional `--size`.
pub fn optional_size(text: Option<&str>) -> Result<Option<(u32, u32)>, Error> {
    text.map(parse_size).transpose()
}

/// Runs a resampling request and prints its report.
pub fn execute(input: &Path, output: &Path, request: &GeometricRequest) -> Result<(), Error> {
    let engine = Engine::new()?;
    let report = warp_file(&engine, input, output, request)?;
    print_report(input, output, &report);
    Ok(())
}

fn print_report(input: &Path, output: &Path, report: &GeometricReport) {
    let spacing = match report.pixel_spacing {
        Some([r, c]) => format!(", pixel spacing {r} x {c} mm"),
        None => String::new(),
    };
    println!(
        "{} -> {} ({}x{} {}{spacing})",
        input.display(),
        output.display(),
        report.width,
        report.height,
        report.format
    );
    for note in &report.notes {
        eprintln!("radpipe: note: {note}");
    }
}

/// Warps one file.
pub fn run(args: &WarpArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .input(&args.input, "input")
        .output(&args.output, "-o")
        .check()?;
    let with_file = |e: Error| e.in_file(&args.input);
    let op = GeometricOp::Warp {
        transform: parse_matrix(&args.matrix).map_err(with_file)?,
        inverse: args.inverse,
        size: optional_size(args.size.as_deref()).map_err(with_file)?,
        border: args.border.border().map_err(with_file)?,
    };
    execute(&args.input, &args.output, &args.common.request(op))
}
