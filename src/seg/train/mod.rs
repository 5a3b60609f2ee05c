//! Training BiSeNetV2 for the corpus callosum (`radpipe train`).
//!
//! - **Data**: `DIR/image` and `DIR/mask` paired as [`super::dataset`] describes, loaded once into
//!   memory as the 8-bit display images inference would see. Whole sites are held out for validation
//!   (`val_sites`), so the validation Dice says how the model does on scanners it never saw.
//! - **Network**: `BiSeNetV2(num_classes=2, lambd=0.25)`, PaddleSeg's initialisation; the main head
//!   and the four auxiliary heads are trained ([`super::loss`]: cross-entropy + soft Dice, auxiliary
//!   heads weighted 0.4).
//! - **Input**: each image is augmented on the host ([`super::augment`]) straight to the network size
//!   and normalised with the inference normalisation; validation feeds the un-augmented images
//!   through the inference path itself ([`super::evaluate::score_samples`]: resize, network, mask
//!   resized back to the image size), so the validation Dice is what `radpipe segment` delivers.
//! - **Optimiser**: AdamW (β 0.9/0.999, ε 1e-8, decoupled weight decay on convolution kernels only),
//!   learning rate warmed up linearly over the first steps, then cosine-annealed to 1 % at the last
//!   planned epoch. The optimiser is radpipe's own (a few lines over burn tensors): its state is keyed
//!   by PaddleSeg parameter names, so a checkpoint is one safetensors payload that survives reloading
//!   the model.
//! - **Files**, next to the output `MODEL.safetensors`: `MODEL.ckpt` (weights, optimiser moments,
//!   epoch, step, RNG state, settings and the metrics so far; written atomically every epoch),
//!   `MODEL.metrics.csv` (one row per epoch), `MODEL.best.safetensors` (best validation mean Dice), and
//!   `MODEL.safetensors` itself rewritten with the latest weights every epoch (loadable by
//!   `radpipe segment --model`). Both weight files record the training input size in their
//!   safetensors metadata (`input_size`), which `segment` and `evaluate` use when `--size` is not given.
//! - **Fine-tune**: `init` starts a new run (new optimiser state and schedule) from existing weights,
//!   for example the shipped model at another input size or on a site's own data.
//! - **Resume**: `resume` reads a checkpoint and continues with the epoch after the one it saved, with
//!   the checkpoint's settings (only the epoch count may be raised).
//!
//! Runs on burn's Flex CPU backend with autodiff (the default), or on the engine's wgpu device.

mod adamw;
mod checkpoint;
mod settings;

pub use adamw::{AdamState, AdamW, train_step};
pub use checkpoint::{
    Checkpoint, CheckpointState, EpochRecord, RunFiles, metrics_csv, read_checkpoint,
    write_checkpoint,
};
pub use settings::{TrainDevice, TrainRequest, TrainSettings};

use checkpoint::CKPT_FORMAT;
use settings::init_tensors;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};

use crate::io::atomic::write_atomic;
use crate::seg::augment::{Rng, augment};
use crate::seg::bisenet::BiSeNetV2Config;
use crate::seg::dataset::{PairPaths, Sample, check_sites, load_pair, pair_files};
use crate::seg::evaluate::{Degradation, score_samples, summarise};
use crate::seg::infer::{Backend, Preprocess, Segmenter, burn_device};
use crate::seg::weights::{
    INPUT_SIZE_KEY, NamedTensor, model_from_tensors, save_safetensors_with_metadata,
};
use crate::{Error, Result};

/// Outcome of a training run.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The run's files.
    pub files: RunFiles,
    /// Metrics of every epoch (the checkpoint's earlier ones included on resume).
    pub history: Vec<EpochRecord>,
    /// Training images, validation images.
    pub counts: (usize, usize),
}

fn seeded_subset(mut pairs: Vec<PairPaths>, limit: Option<usize>, seed: u64) -> Vec<PairPaths> {
    if let Some(n) = limit
        && n < pairs.len()
    {
        Rng::new(seed).shuffle(&mut pairs);
        pairs.truncate(n);
        pairs.sort_by(|a, b| a.image.cmp(&b.image));
    }
    pairs
}

/// Splits pairs into training and validation sets (by site) with the settings' limits.
pub fn split(pairs: Vec<PairPaths>, s: &TrainSettings) -> (Vec<PairPaths>, Vec<PairPaths>) {
    let (val, train): (Vec<_>, Vec<_>) = pairs
        .into_iter()
        .partition(|p| s.val_sites.contains(&p.site));
    let train = seeded_subset(train, s.limit, s.seed);
    let mut val_by_site: BTreeMap<String, Vec<PairPaths>> = BTreeMap::new();
    for p in val {
        val_by_site.entry(p.site.clone()).or_default().push(p);
    }
    let val = val_by_site
        .into_values()
        .flat_map(|v| seeded_subset(v, s.val_limit, s.seed ^ 0x5EED))
        .collect();
    (train, val)
}

fn load_all(pairs: &[PairPaths], what: &str, progress: bool) -> Result<Vec<Sample>> {
    let bar = bar(progress, pairs.len() as u64, what);
    let mut out = Vec::with_capacity(pairs.len());
    for p in pairs {
        out.push(load_pair(p)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

fn bar(progress: bool, len: u64, msg: &str) -> ProgressBar {
    if !progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}<{eta} {prefix}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg.to_string());
    pb
}

fn steps_per_epoch(train: usize, s: &TrainSettings) -> usize {
    let full = train / s.batch;
    s.steps_per_epoch.map_or(full, |n| n.min(full.max(1)))
}

/// Trains (or resumes) as `request` says; prints one line per epoch (and progress when asked).
pub fn train(request: &TrainRequest) -> Result<TrainOutcome> {
    let files = RunFiles::for_output(&request.output)?;
    let out_dir = files.model.parent().unwrap_or(Path::new(""));
    if !out_dir.as_os_str().is_empty() && !out_dir.is_dir() {
        return Err(Error::io(
            out_dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "output folder does not exist"),
        ));
    }
    let checkpoint = request.resume.as_deref().map(read_checkpoint).transpose()?;
    let settings = match (&checkpoint, &request.resume) {
        (Some(c), Some(path)) => request.settings_for_resume(&c.state.settings, path)?,
        _ => request.settings_for_new_run(),
    };
    settings.validate()?;
    let init = match &checkpoint {
        Some(_) => None,
        None => init_tensors(&settings)?,
    };

    let pairs = pair_files(&request.data)?;
    check_sites(&pairs, &settings.val_sites)?;
    let (train_pairs, val_pairs) = split(pairs, &settings);
    if train_pairs.len() < settings.batch {
        return Err(Error::InvalidParams(format!(
            "{} training image(s) for batch {}: hold out fewer sites, or lower --batch",
            train_pairs.len(),
            settings.batch
        )));
    }
    let train_set = load_all(&train_pairs, "loading", request.progress)?;
    let val_set = load_all(&val_pairs, "loading val", request.progress)?;
    say(
        request.progress,
        &format!(
            "radpipe train: {} training images, {} validation images ({}), {}², batch {}, {} \
             steps/epoch, epochs {}",
            train_set.len(),
            val_set.len(),
            if settings.val_sites.is_empty() {
                "no sites held out".to_string()
            } else {
                settings.val_sites.join(",")
            },
            settings.size,
            settings.batch,
            steps_per_epoch(train_set.len(), &settings),
            settings.epochs
        ),
    );

    let (device, backend) = match &request.device {
        TrainDevice::Cpu => (Device::flex(), Backend::Cpu),
        TrainDevice::Gpu(engine) => (burn_device(engine)?, Backend::Gpu(engine.clone())),
    };
    let train_device = device.clone().autodiff();

    let (mut model, mut adam, mut rng, mut step, start_epoch, mut best, mut history) =
        match checkpoint {
            Some(c) => {
                let model = model_from_tensors(&c.model, &train_device)?;
                let mut adam = AdamState::default();
                for (name, m) in &c.adam_m {
                    let v = c.adam_v.get(name).ok_or_else(|| {
                        Error::format(&c.model.source, format!("adam_v.{name} missing"))
                    })?;
                    let to = |t: &NamedTensor| {
                        Tensor::<1>::from_data(
                            TensorData::new(t.values.clone(), [t.values.len()]),
                            &device,
                        )
                    };
                    adam.moments.insert(name.clone(), (to(m), to(v)));
                }
                let s = c.state;
                (model, adam, s.rng, s.step, s.epoch, s.best, s.history)
            }
            None => (
                match &init {
                    Some(named) => model_from_tensors(named, &train_device)?,
                    None => BiSeNetV2Config::paddleseg(settings.num_classes, settings.lambd)
                        .init(&train_device),
                },
                AdamState::default(),
                Rng::new(settings.seed),
                0,
                0,
                None,
                Vec::new(),
            ),
        };
    history.truncate(start_epoch);
    if start_epoch >= settings.epochs {
        say(
            request.progress,
            &format!(
                "radpipe train: the checkpoint has {start_epoch} epochs already (of {}); nothing \
                 to do (raise --epochs to continue)",
                settings.epochs
            ),
        );
    }

    let pre = Preprocess::square(settings.size);
    let (n, size) = (settings.batch, settings.size as usize);
    let channels = BiSeNetV2Config::paddleseg(settings.num_classes, settings.lambd).in_channels;
    let per_epoch = steps_per_epoch(train_set.len(), &settings);
    let total_steps = (per_epoch * settings.epochs) as u64;
    let tty = std::io::stderr().is_terminal();

    for epoch in start_epoch + 1..=settings.epochs {
        let epoch_start = Instant::now();
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        rng.shuffle(&mut order);
        let pb = bar(
            request.progress,
            per_epoch as u64,
            &format!("epoch {epoch}"),
        );
        let (mut loss_sum, mut loss_count, mut lr) = (0.0f64, 0usize, 0.0);
        let mut skipped = 0usize;
        for (i, chunk) in order.chunks_exact(n).take(per_epoch).enumerate() {
            let step_start = Instant::now();
            let mut inputs = Vec::with_capacity(n * channels * size * size);
            let mut targets = Vec::with_capacity(n * size * size);
            for &k in chunk {
                let view = augment(&train_set[k], &pre, channels, &settings.augment, &mut rng);
                inputs.extend(view.input);
                targets.extend(view.target);
            }
            let input = Tensor::<4>::from_data(
                TensorData::new(inputs, [n, channels, size, size]),
                &train_device,
            );
            let target =
                Tensor::<3>::from_data(TensorData::new(targets, [n, size, size]), &train_device);
            lr = settings.lr_at(step, total_steps);
            let opt = AdamW {
                lr,
                weight_decay: settings.weight_decay,
                t: step + 1,
            };
            let value;
            (model, value) = train_step(model, &mut adam, input, target, settings.loss, opt)?;
            if value.is_finite() {
                loss_sum += f64::from(value);
                loss_count += 1;
            } else {
                skipped += 1;
                if skipped > 10 {
                    return Err(Error::InvalidParams(format!(
                        "training diverged: {skipped} non-finite losses in epoch {epoch}; lower --lr"
                    )));
                }
            }
            step += 1;
            let mean = loss_sum / loss_count.max(1) as f64;
            pb.set_prefix(format!("loss {mean:.4}"));
            pb.inc(1);
            if request.progress && !tty && ((i + 1) % 10 == 0 || i + 1 == per_epoch) {
                println!(
                    "epoch {epoch} step {}/{per_epoch}: loss {mean:.4}, lr {lr:.2e}, {:.2} s/step",
                    i + 1,
                    step_start.elapsed().as_secs_f64()
                );
                let _ = std::io::stdout().flush();
            }
        }
        pb.finish_and_clear();
        let train_seconds = epoch_start.elapsed().as_secs_f64();

        // Validation through the inference path, on the un-augmented held-out images.
        let (val_site_dice, val_mean_dice, val_angle) = if val_set.is_empty() {
            (BTreeMap::new(), None, None)
        } else {
            let segmenter = Segmenter::new(model.valid(), backend.clone(), pre)?;
            let vb = bar(request.progress, val_set.len() as u64, "validating");
            let scores = score_samples(
                &segmenter,
                &val_set,
                Degradation::Clean,
                n,
                crate::seg::postprocess::PostProcess::default(),
                |k| vb.inc(k as u64),
            )?;
            vb.finish_and_clear();
            let s = summarise(Degradation::Clean, &scores);
            (s.site_dice, Some(s.mean_dice), s.mean_angle_error_deg)
        };

        let improved = match (val_mean_dice, best) {
            (Some(d), Some((b, _))) => d > b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut meta = BTreeMap::new();
        meta.insert(INPUT_SIZE_KEY.to_string(), settings.size.to_string());
        meta.insert("trained_by".into(), "radpipe train".into());
        // Training feeds the network radpipe's own resize and normalisation (augment.rs).
        meta.insert(
            crate::seg::infer::PREPROCESS_KEY.into(),
            crate::seg::infer::PreprocessKind::Radpipe.name().into(),
        );
        meta.insert("epoch".into(), epoch.to_string());
        if let Some(d) = val_mean_dice {
            meta.insert("val_mean_dice".into(), format!("{d:.4}"));
            meta.insert("val_sites".into(), settings.val_sites.join(","));
        }
        if improved && let Some(d) = val_mean_dice {
            best = Some((d, epoch));
            save_safetensors_with_metadata(&model.valid(), &files.best, &meta)?;
        }
        save_safetensors_with_metadata(&model.valid(), &files.model, &meta)?;
        history.push(EpochRecord {
            epoch,
            train_loss: loss_sum / loss_count.max(1) as f64,
            lr,
            steps: loss_count,
            train_seconds,
            val_site_dice,
            val_mean_dice,
            val_angle_error_deg: val_angle,
            seconds: epoch_start.elapsed().as_secs_f64(),
        });
        let state = CheckpointState {
            format: CKPT_FORMAT.into(),
            epoch,
            step,
            rng: rng.clone(),
            best,
            settings: settings.clone(),
            history: history.clone(),
        };
        write_checkpoint(&files.checkpoint, &model, &adam, &state)?;
        let csv = metrics_csv(&history, &settings.val_sites);
        write_atomic(&files.metrics, |w| {
            w.write_all(csv.as_bytes())
                .map_err(|e| Error::io(&files.metrics, e))
        })?;
        if let Some(r) = history.last() {
            let sites: Vec<String> = r
                .val_site_dice
                .iter()
                .map(|(k, v)| format!("{k} {v:.4}"))
                .collect();
            say(
                request.progress,
                &format!(
                    "epoch {epoch}/{}: loss {:.4}, val Dice {} [{}], angle error {}, {:.0} s \
                     ({:.2} s/step){}",
                    settings.epochs,
                    r.train_loss,
                    r.val_mean_dice
                        .map_or("-".to_string(), |d| format!("{d:.4}")),
                    sites.join(", "),
                    r.val_angle_error_deg
                        .map_or("-".to_string(), |a| format!("{a:.2}°")),
                    r.seconds,
                    r.train_seconds / r.steps.max(1) as f64,
                    if improved { " (best)" } else { "" }
                ),
            );
        }
    }
    Ok(TrainOutcome {
        files,
        history,
        counts: (train_set.len(), val_set.len()),
    })
}

fn say(progress: bool, line: &str) {
    if progress {
        println!("{line}");
        let _ = std::io::stdout().flush();
    }
}
