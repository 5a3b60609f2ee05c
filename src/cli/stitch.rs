//! `radpipe stitch`: full-spine / long-leg stitching of overlapping stations on the GPU.

use std::path::PathBuf;

use radpipe::stitch::StitchParams;
use radpipe::stitch::layout::parse_offsets;
use radpipe::workflow::stitch::{StitchRequest, stitch_files};
use radpipe::{Engine, Error};

/// Arguments of `radpipe stitch`.
#[derive(clap::Args, Debug)]
pub struct StitchArgs {
    /// Stations in order (DICOM, PNG, TIFF); the first is the reference.
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    /// Output: .dcm (derived DICOM with the canvas geometry), .png/.tif (16-bit), .raw.
    #[arg(short, long)]
    output: PathBuf,
    /// Top-left of each station on the canvas in output pixels, "X1,Y1;X2,Y2;..." (default: from the
    /// DICOM geometry).
    #[arg(long, allow_hyphen_values = true)]
    offsets: Option<String>,
    /// Refine each station's offset by normalised cross-correlation with its neighbour.
    #[arg(long)]
    refine: bool,
    /// Search range of --refine in pixels.
    #[arg(long, default_value_t = 20.0)]
    max_shift: f64,
    /// Lowest NCC accepted by --refine (below it the nominal offset is kept, with a warning).
    #[arg(long, default_value_t = 0.5)]
    min_ncc: f64,
    /// Exposure compensation: none, gain, blocks, histogram.
    #[arg(long, default_value = "gain")]
    compensate: String,
    /// Blending: linear, feather, multiband.
    #[arg(long, default_value = "linear")]
    blend: String,
    /// Pyramid levels of multiband blending.
    #[arg(long, default_value_t = 5)]
    bands: u32,
    /// Feather sharpness (1/ramp length in pixels).
    #[arg(long, default_value_t = 0.02)]
    sharpness: f64,
    /// Write {"canvas":[w,h],"stations":[{"file","offset","gain","ncc"}...]} here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also write a windowed 8-bit PNG view here.
    #[arg(long)]
    display: Option<PathBuf>,
}

/// Runs `radpipe stitch`.
pub fn run(args: &StitchArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .inputs(&args.inputs, "station")
        .output(&args.output, "-o")
        .output_opt(args.report.as_deref(), "--report")
        .output_opt(args.display.as_deref(), "--display")
        .check()?;
    let offsets = args.offsets.as_deref().map(parse_offsets).transpose()?;
    let params = StitchParams {
        offsets,
        refine: args.refine,
        max_shift: args.max_shift,
        min_ncc: args.min_ncc,
        compensate: args.compensate.parse()?,
        blend: args.blend.parse()?,
        bands: args.bands,
        sharpness: args.sharpness,
        ..StitchParams::default()
    };
    params.check()?;
    let engine = Engine::new()?;
    let request = StitchRequest {
        inputs: args.inputs.clone(),
        output: args.output.clone(),
        params,
        report: args.report.clone(),
        display: args.display.clone(),
    };
    let (result, _) = stitch_files(&engine, &request)?;
    println!(
        "{} stations -> {} ({}x{} {})",
        args.inputs.len(),
        args.output.display(),
        result.image.width,
        result.image.height,
        result.image.format()
    );
    for s in &result.stations {
        let ncc = s.ncc.map(|v| format!(", ncc {v:.4}")).unwrap_or_default();
        println!(
            "  {}  offset {:.2},{:.2}  gain {:.4}{ncc}",
            s.file, s.offset[0], s.offset[1], s.gain
        );
    }
    for w in &result.warnings {
        eprintln!("radpipe: warning: {w}");
    }
    Ok(())
}
