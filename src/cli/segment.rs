//! `radpipe segment`: BiSeNetV2 masks and auto-positioning angles for a list of images.

use std::path::PathBuf;

use clap::ValueEnum;
use radpipe::workflow::segment::{
    DEFAULT_INPUT_SIZE, DeviceChoice, SegmentRequest, input_size, resolve_model, segment_files,
    write_report,
};
use radpipe::{Engine, Error};

/// Arguments of `radpipe segment`.
#[derive(clap::Args, Debug)]
pub struct SegmentArgs {
    /// Inputs: DICOM, PNG or JPEG.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder for `<stem>_mask.png` (0/255, the input's size); must exist.
    #[arg(short, long)]
    output: PathBuf,
    /// Weights: PaddleSeg checkpoint (.pdparams), .safetensors or burn record (.bpk).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Write the JSON report (one object per input) here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where the network runs.
    #[arg(long, value_enum, default_value_t = DeviceArg::Gpu)]
    device: DeviceArg,
    /// Network input size (square; images are resized to it and the mask back to the image size)
    /// [default: the size the model was trained at when its file records it, else 512].
    #[arg(long)]
    size: Option<u32>,
    /// Images per network batch.
    #[arg(long, default_value_t = 4)]
    batch: usize,
}

/// `--device` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeviceArg {
    /// The GPU adapter radpipe picks (the same device as its shaders).
    Gpu,
    /// burn's CPU backend (no adapter needed).
    Cpu,
}

/// Segments the inputs, writes masks and the report, prints one line per input.
pub fn run(args: &SegmentArgs) -> Result<(), Error> {
    let mut plan = radpipe::io::output_plan::OutputPlan::new()
        .inputs(&args.inputs, "input")
        .input_opt(args.model.as_deref(), "--model")
        .existing_folder(&args.output, "-o")
        .output_opt(args.json.as_deref(), "--json");
    // The masks' own names are known only if the folder exists; otherwise they are new files in a new
    // folder and cannot meet an input or --json (which must be in an existing folder).
    if args.output.is_dir() {
        for mask in radpipe::workflow::segment::mask_paths(&args.inputs, &args.output)? {
            plan = plan.output(&mask, "mask");
        }
    }
    plan.check()?;
    let device = match args.device {
        DeviceArg::Gpu => DeviceChoice::Gpu,
        DeviceArg::Cpu => DeviceChoice::Cpu,
    };
    let engine = match device {
        DeviceChoice::Gpu => Some(Engine::new().map_err(|e| match e {
            Error::NoAdapter(m) => Error::NoAdapter(format!("{m}; or run with --device cpu")),
            other => other,
        })?),
        DeviceChoice::Cpu => None,
    };
    let request = SegmentRequest {
        model: args.model.clone(),
        out_dir: args.output.clone(),
        size: match resolve_model(args.model.as_deref()) {
            Ok(model) => input_size(&model, args.size),
            Err(_) => args.size.unwrap_or(DEFAULT_INPUT_SIZE),
        },
        batch: args.batch,
        device,
    };
    let entries = segment_files(engine.as_ref(), &args.inputs, &request)?;
    if let Some(path) = &args.json {
        write_report(path, &entries)?;
    }
    let mut failed = 0;
    for e in &entries {
        match (&e.error, e.angle_deg) {
            (Some(message), _) => {
                failed += 1;
                eprintln!("radpipe: error: {message}");
            }
            (None, _) if e.empty => println!("{}: empty mask (no foreground), no angle", e.file),
            (None, Some(angle)) => println!(
                "{}: {} px, angle {angle:.2}° -> {}",
                e.file,
                e.area_px,
                e.mask.as_deref().unwrap_or("")
            ),
            (None, None) => println!(
                "{}: {} px, no angle (the region has no direction) -> {}",
                e.file,
                e.area_px,
                e.mask.as_deref().unwrap_or("")
            ),
        }
    }
    if failed > 0 {
        return Err(Error::BatchFailures {
            failed,
            total: entries.len(),
        });
    }
    Ok(())
}
