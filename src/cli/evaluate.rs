//! `radpipe evaluate`: Dice per site and angle error of a model on labelled images.

use std::path::PathBuf;

use radpipe::Error;
use radpipe::image::{HostImage, Pixels};
use radpipe::seg::dataset::Sample;
use radpipe::seg::dataset::{check_sites, load_pair, pair_files, parse_sites};
use radpipe::seg::evaluate::{
    Degradation, ImageScore, Summary, score_samples, summarise, worst_per_site,
};
use radpipe::seg::infer::{SegInput, Segmenter};
use radpipe::seg::overlay::sheet::{SheetTile, contact_sheet};
use radpipe::seg::postprocess::PostProcess;
use radpipe::workflow::segment::load_segmenter_with;

use super::segment::{DeviceArg, PreprocessArg, engine_for};

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
    /// Where the network runs (auto: the GPU when the adapter is a real one, else burn's CPU
    /// backend).
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// Images per network batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Write every image's scores and the summaries as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a contact sheet (PNG) of each site's worst clean slices here, the truth and the
    /// prediction outlined, site and Dice written on each tile.
    #[arg(long, value_name = "FILE.png")]
    sheet: Option<PathBuf>,
    /// Slices per site on the contact sheet.
    #[arg(long, default_value_t = 3, value_name = "N")]
    sheet_per_site: usize,
    /// How images become the network input, as for `radpipe segment` [default: the model's].
    #[arg(long, value_enum)]
    preprocess: Option<PreprocessArg>,
    /// Test-time augmentation: also run each image mirrored left-right and average (twice the
    /// network cost).
    #[arg(long)]
    flip_tta: bool,
    /// Mask post-processing: none, largest (keep the largest component), fill (fill holes), or
    /// largest,fill.
    #[arg(long, default_value = "none", value_parser = parse_post)]
    post: PostProcess,
}

fn parse_post(text: &str) -> Result<PostProcess, String> {
    PostProcess::parse(text)
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
        .output_opt(args.sheet.as_deref(), "--sheet")
        .check()?;
    if args.sheet.is_some() && args.sheet_per_site == 0 {
        return Err(Error::InvalidParams(
            "--sheet-per-site must be at least 1".into(),
        ));
    }
    let mut pairs = pair_files(&args.data)?;
    if let Some(list) = &args.sites {
        let sites = parse_sites(list);
        check_sites(&pairs, &sites)?;
        pairs.retain(|p| sites.contains(&p.site));
    }
    let engine = engine_for(args.device.choice())?;
    let loaded = load_segmenter_with(
        engine.as_ref(),
        args.model.as_deref(),
        args.size,
        args.device.choice(),
        args.preprocess.map(PreprocessArg::kind),
    )?;
    let segmenter = &loaded.segmenter.clone().with_flip_tta(args.flip_tta);
    let (model, size) = (&loaded.model, loaded.size);
    let samples = pairs.iter().map(load_pair).collect::<Result<Vec<_>, _>>()?;
    println!(
        "radpipe evaluate: {} images, model {}, {}², network on {}, preprocessing {}, flip TTA {}, \
         post-processing {}",
        samples.len(),
        model.display(),
        size,
        loaded.device,
        loaded.preprocess,
        if args.flip_tta { "on" } else { "off" },
        args.post
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
        let scores = score_samples(segmenter, &samples, kind, args.batch, args.post, |_| {})?;
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
            loaded.device.name
        );
        summaries.push(summary);
        all_scores.extend(scores);
    }
    if let Some(path) = &args.sheet {
        let picked = worst_per_site(&all_scores, Degradation::Clean, args.sheet_per_site);
        write_sheet(path, segmenter, args.post, &samples, &all_scores, &picked)?;
        let slices: usize = picked.iter().map(|(_, v)| v.len()).sum();
        println!(
            "  contact sheet: {slices} slice(s) of {} site(s), worst first -> {}",
            picked.len(),
            path.display()
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&serde_json::json!({
            "model": model.display().to_string(),
            "size": size,
            "device": loaded.device,
            "preprocess": loaded.preprocess,
            "flip_tta": args.flip_tta,
            "post": args.post.to_string(),
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

/// Side of a contact-sheet tile.
const SHEET_TILE: u32 = 256;

/// Segments the `picked` clean slices again (their masks were not kept while scoring) and writes
/// the contact sheet: one row per site, worst site first.
fn write_sheet(
    path: &std::path::Path,
    segmenter: &Segmenter,
    post: PostProcess,
    samples: &[Sample],
    scores: &[ImageScore],
    picked: &[(String, Vec<usize>)],
) -> Result<(), Error> {
    // Clean scores come first, one per sample in order (score_samples keeps the order).
    let images = picked
        .iter()
        .flat_map(|(_, idx)| idx.iter().map(|&i| &samples[i]))
        .map(|s| HostImage::new(s.width, s.height, Pixels::U8(s.image.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut masks = Vec::with_capacity(images.len());
    for chunk in images.chunks(8) {
        let inputs: Vec<SegInput<'_>> = chunk
            .iter()
            .map(|image| SegInput {
                image,
                window: None,
            })
            .collect();
        for mut m in segmenter.segment(&inputs)? {
            let (w, h) = (m.width, m.height);
            if let Pixels::U8(v) = &mut m.pixels {
                post.apply(v, w, h);
            }
            masks.push(m);
        }
    }
    let mut next = masks.iter();
    let mut rows = Vec::with_capacity(picked.len());
    for (site, idx) in picked {
        let mut row = Vec::with_capacity(idx.len());
        for &i in idx {
            let (s, score) = (&samples[i], &scores[i]);
            if s.name != score.name {
                return Err(Error::InvalidParams(format!(
                    "contact sheet: score {i} is {}, sample {i} is {}",
                    score.name, s.name
                )));
            }
            let Some(Pixels::U8(predicted)) = next.next().map(|m| &m.pixels) else {
                return Err(Error::InvalidImage(
                    "the segmenter returned no 8-bit mask".into(),
                ));
            };
            row.push(SheetTile {
                width: s.width,
                height: s.height,
                image: &s.image,
                truth: &s.mask,
                predicted,
                caption: format!("{site} {:.3}", score.dice),
                detail: s.name.clone(),
            });
        }
        rows.push(row);
    }
    contact_sheet(&rows, SHEET_TILE)?.write_png(path)
}
