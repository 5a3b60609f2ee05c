//! `radpipe window`: Modality LUT + VOI window for display.

use std::path::PathBuf;

use clap::ValueEnum;
use radpipe::ops::window::WindowRequest;
use radpipe::transforms::VoiFunction;
use radpipe::workflow::window::window_file;
use radpipe::{Engine, Error};

/// Arguments of `radpipe window`.
#[derive(clap::Args, Debug)]
pub struct WindowArgs {
    /// Input: DICOM, PNG, TIFF or JPEG.
    input: PathBuf,
    /// Output: .png, .tif, .dcm or .raw (by extension).
    #[arg(short, long)]
    output: PathBuf,
    /// Window centre (with --width); default: the file's window, else its VOI LUT, else min–max.
    #[arg(long, allow_negative_numbers = true)]
    center: Option<f64>,
    /// Window width (with --center).
    #[arg(long, allow_negative_numbers = true)]
    width: Option<f64>,
    /// VOI LUT function; default: the file's, else linear.
    #[arg(long, value_enum)]
    function: Option<FunctionArg>,
    /// Output bits: 8, 12 (0..4095) or 16.
    #[arg(long, default_value_t = 8)]
    bits: u32,
    /// Frame of a multi-frame file (0-based).
    #[arg(long, default_value_t = 0)]
    frame: u32,
    /// Window from histogram percentiles LOW,HIGH (percent, e.g. 1,99) instead of --center/--width.
    #[arg(long, value_parser = radpipe::ops::histogram::parse_percentiles)]
    auto: Option<(f64, f64)>,
}

/// VOI LUT function names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FunctionArg {
    /// LINEAR.
    Linear,
    /// LINEAR_EXACT.
    LinearExact,
    /// SIGMOID.
    Sigmoid,
}

impl From<FunctionArg> for VoiFunction {
    fn from(f: FunctionArg) -> Self {
        match f {
            FunctionArg::Linear => VoiFunction::Linear,
            FunctionArg::LinearExact => VoiFunction::LinearExact,
            FunctionArg::Sigmoid => VoiFunction::Sigmoid,
        }
    }
}

/// Windows one file.
pub fn run(args: &WindowArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .input(&args.input, "input")
        .output(&args.output, "-o")
        .check()?;
    let engine = Engine::new()?;
    let request = WindowRequest {
        center: args.center,
        width: args.width,
        function: args.function.map(Into::into),
        bits: args.bits,
    };
    let request = match args.auto {
        Some(p) => {
            let (request, auto) = radpipe::workflow::auto_window::auto_request(
                &engine,
                &args.input,
                &request,
                args.frame,
                p,
            )?;
            println!(
                "auto window: {}%..{}% of the histogram",
                auto.low, auto.high
            );
            request
        }
        None => request,
    };
    let report = window_file(&engine, &args.input, &args.output, &request, args.frame)?;
    println!(
        "{} -> {} ({}x{}, {} bits, {} window {} from {:?}{})",
        args.input.display(),
        args.output.display(),
        report.width,
        report.height,
        report.bits,
        report.function,
        match (report.center, report.width_window) {
            (Some(c), Some(w)) => format!("C={c} W={w}"),
            _ => "table".to_string(),
        },
        report.source,
        if report.inverted {
            ", MONOCHROME1 inverted"
        } else {
            ""
        }
    );
    Ok(())
}
