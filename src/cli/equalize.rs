//! `radpipe equalize`: global histogram equalization or CLAHE on the GPU.

use std::path::PathBuf;

use clap::ValueEnum;
use radpipe::workflow::equalize::{EqualizeRequest, Method, equalize_file};
use radpipe::{Engine, Error};

/// Arguments of `radpipe equalize`.
#[derive(clap::Args, Debug)]
pub struct EqualizeArgs {
    /// Input: DICOM, PNG, TIFF or JPEG (8- or 16-bit greyscale).
    input: PathBuf,
    /// Output: .png, .tif, .dcm or .raw (by extension).
    #[arg(short, long)]
    output: PathBuf,
    /// global: one histogram (OpenCV equalizeHist); clahe: contrast-limited, per tile (OpenCV CLAHE).
    #[arg(long, value_enum, default_value_t = MethodArg::Global)]
    method: MethodArg,
    /// CLAHE clip limit relative to a flat histogram (default 40, OpenCV's; 0 disables clipping).
    #[arg(long, allow_negative_numbers = true)]
    clip_limit: Option<f64>,
    /// CLAHE tile grid as COLUMNSxROWS (default 8x8).
    #[arg(long, value_parser = parse_tiles)]
    tiles: Option<(u32, u32)>,
    /// Histogram bins, a power of two (default: one per value: 256 for 8-bit, 65536 for 16-bit).
    #[arg(long)]
    bins: Option<u32>,
    /// Significant bits of 16-bit samples, e.g. 12 for 12-bit data (4096 bins, output 0..4095).
    #[arg(long)]
    bits: Option<u32>,
    /// Frame of a multi-frame file (0-based).
    #[arg(long, default_value_t = 0)]
    frame: u32,
}

/// Method names on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MethodArg {
    /// Global equalization.
    Global,
    /// CLAHE.
    Clahe,
}

/// Parses `CxR` (e.g. `8x8`).
fn parse_tiles(text: &str) -> Result<(u32, u32), String> {
    let (c, r) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("'{text}': expected COLUMNSxROWS, e.g. 8x8"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("'{s}' is not a positive whole number"))
    };
    Ok((parse(c)?, parse(r)?))
}

/// Equalizes one file.
pub fn run(args: &EqualizeArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .input(&args.input, "input")
        .output(&args.output, "-o")
        .check()?;
    let method = match args.method {
        MethodArg::Global => Method::Global,
        MethodArg::Clahe => Method::Clahe,
    };
    if method == Method::Global && (args.clip_limit.is_some() || args.tiles.is_some()) {
        return Err(Error::InvalidParams(
            "--clip-limit and --tiles apply to --method clahe only".into(),
        ));
    }
    let defaults = EqualizeRequest::default();
    let request = EqualizeRequest {
        method,
        clip_limit: args.clip_limit.unwrap_or(defaults.clip_limit),
        tiles: args.tiles.unwrap_or(defaults.tiles),
        bins: args.bins,
        bits: args.bits,
        frame: args.frame,
    };
    let engine = Engine::new()?;
    let report = equalize_file(&engine, &args.input, &args.output, &request)?;
    println!(
        "{} -> {} ({}x{} {}, {:?}, {} bins, {}-bit range{})",
        args.input.display(),
        args.output.display(),
        report.width,
        report.height,
        report.format,
        report.method,
        report.bins,
        report.bits,
        if report.inverted {
            ", MONOCHROME1 inverted"
        } else {
            ""
        }
    );
    Ok(())
}
