//! `radpipe segment`: BiSeNetV2 masks and auto-positioning angles for a list of images.

use std::path::PathBuf;

use clap::ValueEnum;
use radpipe::workflow::segment::{
    DEFAULT_INPUT_SIZE, DeviceChoice, PreprocessKind, SegmentRequest, input_size, mask_paths,
    overlay_paths, resolve_model, segment_files, write_report,
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
    /// Also write `<stem>_overlay.png` here (created if missing): the image with the mask's
    /// contour, the oriented box, the fitted line, the centre and the angle drawn on it.
    #[arg(long, value_name = "DIR")]
    overlay: Option<PathBuf>,
    /// Where the network runs: auto = the GPU when the adapter is a real one, else burn's CPU
    /// backend (on a CPU adapter such as lavapipe it is ~70× faster).
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// Network input size (square; images are resized to it and the mask back to the image size)
    /// [default: the size the model was trained at when its file records it, else 512].
    #[arg(long)]
    size: Option<u32>,
    /// Images per network batch.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// How images become the network input [default: the one the model records; PaddleSeg's for
    /// a .pdparams checkpoint; else radpipe].
    #[arg(long, value_enum)]
    preprocess: Option<PreprocessArg>,
}

/// `--preprocess` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PreprocessArg {
    /// radpipe's own float bilinear resize and normalisation (what `radpipe train` trains with).
    #[value(alias = "float")]
    Radpipe,
    /// PaddleSeg 2.8 exactly, as it reads image files: OpenCV's float32 INTER_LINEAR resize, then
    /// Normalize (/255, -mean, /std).
    Paddleseg,
    /// PaddleSeg's transforms on a uint8 array: OpenCV's 8-bit fixed-point INTER_LINEAR resize
    /// (rounded to whole grey levels), then Normalize.
    PaddlesegU8,
}

impl PreprocessArg {
    /// The library's kind.
    pub fn kind(self) -> PreprocessKind {
        match self {
            PreprocessArg::Radpipe => PreprocessKind::Radpipe,
            PreprocessArg::Paddleseg => PreprocessKind::Paddleseg,
            PreprocessArg::PaddlesegU8 => PreprocessKind::PaddlesegU8,
        }
    }
}

/// `--device` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeviceArg {
    /// The GPU when the adapter radpipe picks is a real GPU, burn's CPU backend when it is a CPU
    /// adapter (lavapipe) or there is none.
    Auto,
    /// The GPU adapter radpipe picks (the same device as its shaders), even a CPU adapter.
    Gpu,
    /// burn's CPU backend (no adapter needed).
    Cpu,
}

impl DeviceArg {
    /// The library's choice.
    pub fn choice(self) -> DeviceChoice {
        match self {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Gpu => DeviceChoice::Gpu,
            DeviceArg::Cpu => DeviceChoice::Cpu,
        }
    }
}

/// The engine `choice` needs: none for `cpu`; for `gpu` the picked adapter (an error without one);
/// for `auto` the picked adapter when there is one (the choice is made from its type).
pub fn engine_for(choice: DeviceChoice) -> Result<Option<Engine>, Error> {
    match choice {
        DeviceChoice::Cpu => Ok(None),
        DeviceChoice::Auto => Ok(Engine::new().ok()),
        DeviceChoice::Gpu => Engine::new().map(Some).map_err(|e| match e {
            Error::NoAdapter(m) => Error::NoAdapter(format!("{m}; or run with --device cpu")),
            other => other,
        }),
    }
}

/// Segments the inputs, writes masks and the report, prints one line per input.
pub fn run(args: &SegmentArgs) -> Result<(), Error> {
    let mut plan = radpipe::io::output_plan::OutputPlan::new()
        .inputs(&args.inputs, "input")
        .input_opt(args.model.as_deref(), "--model")
        .existing_folder(&args.output, "-o")
        .output_opt(args.json.as_deref(), "--json");
    // The masks' own names are known only if the folder exists; otherwise they are new files in a new
    // folder and cannot meet an input or --json (which must be in an existing folder). Likewise the
    // overlays, whose folder is created when missing.
    if args.output.is_dir() {
        for mask in mask_paths(&args.inputs, &args.output)? {
            plan = plan.output(&mask, "mask");
        }
    }
    if let Some(dir) = &args.overlay {
        plan = plan.output_folder(dir, "--overlay");
        if dir.is_dir() {
            for picture in overlay_paths(&args.inputs, dir)? {
                plan = plan.output(&picture, "--overlay");
            }
        }
    }
    plan.check()?;
    if let Some(dir) = &args.overlay {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let device = args.device.choice();
    let engine = engine_for(device)?;
    let request = SegmentRequest {
        model: args.model.clone(),
        out_dir: args.output.clone(),
        size: match resolve_model(args.model.as_deref()) {
            Ok(model) => input_size(&model, args.size),
            Err(_) => args.size.unwrap_or(DEFAULT_INPUT_SIZE),
        },
        batch: args.batch,
        device,
        overlay_dir: args.overlay.clone(),
        preprocess: args.preprocess.map(PreprocessArg::kind),
    };
    let entries = segment_files(engine.as_ref(), &args.inputs, &request)?;
    if let Some(path) = &args.json {
        write_report(path, &entries)?;
    }
    if let Some(first) = entries.first() {
        println!(
            "network on {}, preprocessing {}",
            first.device, first.preprocess
        );
    }
    let mut failed = 0;
    for e in &entries {
        match (&e.error, e.angle_deg) {
            (Some(message), _) => {
                failed += 1;
                eprintln!("radpipe: error: {message}");
            }
            (None, _) if e.empty => println!(
                "{}: empty mask (no foreground), no angle{}",
                e.file,
                picture(e.overlay.as_deref())
            ),
            (None, Some(angle)) => println!(
                "{}: {} px, angle {angle:.2}° -> {}{}",
                e.file,
                e.area_px,
                e.mask.as_deref().unwrap_or(""),
                picture(e.overlay.as_deref())
            ),
            (None, None) => println!(
                "{}: {} px, no angle (the region has no direction) -> {}{}",
                e.file,
                e.area_px,
                e.mask.as_deref().unwrap_or(""),
                picture(e.overlay.as_deref())
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

/// ", overlay PATH" when an overlay was written.
fn picture(overlay: Option<&str>) -> String {
    overlay.map_or(String::new(), |p| format!(", overlay {p}"))
}
