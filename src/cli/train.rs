//! `radpipe train`: train BiSeNetV2 on an image/mask folder (see `radpipe::seg::train`).

use std::path::PathBuf;

use radpipe::seg::dataset::parse_sites;
use radpipe::seg::train::{TrainDevice, TrainRequest, train};
use radpipe::{Engine, Error};

use super::segment::DeviceArg;

/// Arguments of `radpipe train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Data folder with image/ and mask/ (pairs: equal stems, or equal but for the role word after
    /// the last _, e.g. X_abide_msp.nii-slice000.jpg ↔ X_abide_cc.nii-slice000.jpg).
    #[arg(long)]
    data: PathBuf,
    /// Output weights (.safetensors); MODEL.ckpt, MODEL.metrics.csv and MODEL.best.safetensors
    /// are written beside it every epoch.
    #[arg(short, long)]
    output: PathBuf,
    /// Network input side [default: 256].
    #[arg(long)]
    size: Option<u32>,
    /// Planned epochs (the learning-rate schedule spans them) [default: 60].
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step [default: 8].
    #[arg(long)]
    batch: Option<usize>,
    /// Where the network trains: burn's CPU backend (default) or the GPU adapter.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Continue from a checkpoint (MODEL.ckpt) with its settings; only --epochs may change.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Start a new run from these weights (.safetensors/.pdparams/.bpk) instead of PaddleSeg's
    /// initialisation: fine-tuning, e.g. the shipped model at another --size or on your own data.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Sites held out for validation, comma-separated (site = file-name prefix before the first _).
    #[arg(long)]
    val_sites: Option<String>,
    /// At most N validation images per site (a fixed seeded subset, checked every epoch).
    #[arg(long)]
    val_limit: Option<usize>,
    /// Peak learning rate (AdamW; warm-up then cosine) [default: 0.002].
    #[arg(long)]
    lr: Option<f64>,
    /// Use at most N training images (a fixed seeded subset).
    #[arg(long)]
    limit: Option<usize>,
    /// Stop each epoch after N steps (quick runs and timing).
    #[arg(long)]
    steps_per_epoch: Option<usize>,
    /// Linear warm-up steps [default: 200].
    #[arg(long)]
    warmup: Option<usize>,
    /// Seed of shuffles and augmentation [default: 42].
    #[arg(long)]
    seed: Option<u64>,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

/// Trains and reports where the files went.
pub fn run(args: &TrainArgs) -> Result<(), Error> {
    let files = radpipe::seg::train::RunFiles::for_output(&args.output)?;
    radpipe::io::output_plan::OutputPlan::new()
        .input_opt(args.resume.as_deref(), "--resume")
        .input_opt(args.init.as_deref(), "--init")
        .output(&files.model, "-o")
        .output(&files.best, "-o (best model)")
        .output(&files.metrics, "-o (metrics)")
        .check()?;
    let device = match args.device {
        DeviceArg::Cpu => TrainDevice::Cpu,
        DeviceArg::Gpu => TrainDevice::Gpu(Engine::new().map_err(|e| match e {
            Error::NoAdapter(m) => Error::NoAdapter(format!("{m}; or train with --device cpu")),
            other => other,
        })?),
        // The same rule as segmentation: the engine's device only when it is a real GPU.
        DeviceArg::Auto => match super::segment::engine_for(DeviceArg::Auto.choice())? {
            Some(e) if !radpipe::seg::infer::is_cpu_adapter(e.adapter_info()) => {
                TrainDevice::Gpu(e)
            }
            _ => TrainDevice::Cpu,
        },
    };
    let request = TrainRequest {
        resume: args.resume.clone(),
        init: args.init.clone(),
        device,
        size: args.size,
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        val_sites: args.val_sites.as_deref().map(parse_sites),
        val_limit: args.val_limit,
        limit: args.limit,
        steps_per_epoch: args.steps_per_epoch,
        seed: args.seed,
        warmup_steps: args.warmup,
        progress: !args.quiet,
        ..TrainRequest::new(&args.data, &args.output)
    };
    let outcome = train(&request)?;
    if !args.quiet {
        let f = &outcome.files;
        println!(
            "radpipe train: weights {}, checkpoint {}, metrics {}, best {}",
            f.model.display(),
            f.checkpoint.display(),
            f.metrics.display(),
            f.best.display()
        );
    }
    Ok(())
}
