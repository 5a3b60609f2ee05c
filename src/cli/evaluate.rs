//! `radpipe evaluate`: Dice per site and angle error of a model on labelled images.

use std::path::PathBuf;

use radpipe::seg::dataset::{check_sites, load_pair, pair_files, parse_sites};
use radpipe::seg::evaluate::{Degradation, Summary, score_samples, summarise};
use radpipe::seg::infer::{Backend, Preprocess, Segmenter};
use radpipe::workflow::segment::{input_size, resolve_model};
use radpipe::{Engine, Error};

use super::segment::DeviceArg;

/// Arguments of `radpipe evaluate`.
#[derive(clap::Args, Debug)]
pub struct EvaluateArgs {
    /// Data folder with image/ and mask/ (as for radpipe train).
    #[arg(long)]
    data: PathBuf,
    /// Weights (.safetensors, .pdparams, .bpk); default: the shipped model.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Only these sites, comma-separated.
    #[arg(long)]
    sites: Option<String>,
    /// Network input side [default: the size the model was trained at when its file records it,
    /// else 512].
    #[arg(long)]
    size: Option<u32>,
    /// Also score noisy (σ 10/255), blurred (σ 1.5 px) and 2×-downsampled copies.
    #[arg(long)]
    degraded: bool,
    /// Where the network runs.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Images per network batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Write every image's scores and the summaries as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn print_summary(s: &Summary) {
    let worst = s
        .worst_site
        .as_ref()
        .map_or("-".to_string(), |(k, v)| format!("{k} {v:.4}"));
    let angle = |v: Option<f64>| v.map_or("-".to_string(), |a| format!("{a:.2}°"));
    println!(
        "{:>6}: mean Dice {:.4} (site-wise; worst {worst}; over images {:.4}), angle error mean \
         {} median {}{}",
        s.degradation.name(),
        s.mean_dice,
        s.image_mean_dice,
        angle(s.mean_angle_error_deg),
        angle(s.median_angle_error_deg),
        if s.missing_angles > 0 {
            format!(" ({} image(s) without an angle)", s.missing_angles)
        } else {
            String::new()
        }
    );
    for (site, d) in &s.site_dice {
        println!(
            "        {site:<10} {d:.4}  ({} images)",
            s.site_count.get(site).copied().unwrap_or(0)
        );
    }
}

/// Scores the model and prints the summaries.
pub fn run(args: &EvaluateArgs) -> Result<(), Error> {
    radpipe::io::output_plan::OutputPlan::new()
        .input_opt(args.model.as_deref(), "--model")
        .output_opt(args.json.as_deref(), "--json")
        .check()?;
    let mut pairs = pair_files(&args.data)?;
    if let Some(list) = &args.sites {
        let sites = parse_sites(list);
        check_sites(&pairs, &sites)?;
        pairs.retain(|p| sites.contains(&p.site));
    }
    let model = resolve_model(args.model.as_deref())?;
    let backend = match args.device {
        DeviceArg::Cpu => Backend::Cpu,
        DeviceArg::Gpu => Backend::Gpu(Engine::new().map_err(|e| match e {
            Error::NoAdapter(m) => Error::NoAdapter(format!("{m}; or run with --device cpu")),
            other => other,
        })?),
    };
    let device_name = match &backend {
        Backend::Cpu => "burn CPU backend".to_string(),
        Backend::Gpu(e) => e.summary().name,
    };
    let size = input_size(&model, args.size);
    let segmenter = Segmenter::load(&model, backend, Preprocess::square(size))?;
    let samples = pairs.iter().map(load_pair).collect::<Result<Vec<_>, _>>()?;
    println!(
        "radpipe evaluate: {} images, model {}, {}²",
        samples.len(),
        model.display(),
        size
    );
    let kinds: &[Degradation] = if args.degraded {
        &Degradation::ALL
    } else {
        &[Degradation::Clean]
    };
    let mut all_scores = Vec::new();
    let mut summaries = Vec::new();
    for &kind in kinds {
        let started = std::time::Instant::now();
        let scores = score_samples(&segmenter, &samples, kind, args.batch, |_| {})?;
        let seconds = started.elapsed().as_secs_f64();
        let summary = summarise(kind, &scores);
        print_summary(&summary);
        // End to end per image: preprocessing, the network, the mask and its geometry (not the
        // file reading, done before), at --batch images per forward pass.
        println!(
            "  {} images in {seconds:.2} s: {:.1} img/s (batch {}, {})",
            scores.len(),
            scores.len() as f64 / seconds.max(1e-9),
            args.batch,
            device_name
        );
        summaries.push(summary);
        all_scores.extend(scores);
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&serde_json::json!({
            "model": model.display().to_string(),
            "size": size,
            "summaries": summaries,
            "images": all_scores,
        }))
        .map_err(|e| Error::InvalidParams(format!("report: {e}")))?;
        radpipe::io::atomic::write_atomic(path, |w| {
            use std::io::Write;
            w.write_all(&json).map_err(|e| Error::io(path, e))
        })?;
    }
    Ok(())
}
