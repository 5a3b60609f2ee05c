//! What defines a training run: the settings saved in its checkpoint (with the learning-rate
//! schedule), the request a caller builds, how the two combine for a new or resumed run, and the
//! check of a fine-tuning run's starting weights.

use std::path::{Path, PathBuf};

use crate::seg::augment::AugmentConfig;
use crate::seg::bisenet::BiSeNetV2Config;
use crate::seg::infer::Preprocess;
use crate::seg::loss::LossWeights;
use crate::seg::weights::{NamedTensors, infer_config, read_weights};
use crate::{Engine, Error, Result};

/// A new run's starting weights, checked before any data is loaded: `None` for PaddleSeg's
/// initialisation, else the `init` file's tensors (which must have the settings' classes and widths).
pub(super) fn init_tensors(settings: &TrainSettings) -> Result<Option<NamedTensors>> {
    let Some(path) = &settings.init else {
        return Ok(None);
    };
    let named = read_weights(path)?;
    let found = infer_config(&named)?;
    let wanted = BiSeNetV2Config::paddleseg(settings.num_classes, settings.lambd);
    if found != wanted {
        return Err(Error::format(
            path,
            format!(
                "these weights have {} classes and widths {}/{}, but this run trains {} classes \
                 and widths {}/{} (stem/stage 3); fine-tune from weights of the same shape",
                found.num_classes,
                found.stem_channels,
                found.stage3_channels,
                wanted.num_classes,
                wanted.stem_channels,
                wanted.stage3_channels
            ),
        ));
    }
    Ok(Some(named))
}

/// Everything that defines a training run (saved in its checkpoint).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSettings {
    /// Network input side (square).
    pub size: u32,
    /// Planned epochs (the learning-rate schedule spans them).
    pub epochs: usize,
    /// Images per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Decoupled weight decay (convolution kernels only).
    pub weight_decay: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Sites held out for validation.
    pub val_sites: Vec<String>,
    /// At most this many validation images per site (a fixed, seeded subset), `None` = all.
    pub val_limit: Option<usize>,
    /// At most this many training images (a fixed, seeded subset), `None` = all.
    pub limit: Option<usize>,
    /// At most this many steps per epoch, `None` = a full pass over the training images.
    pub steps_per_epoch: Option<usize>,
    /// Seed of the shuffles and augmentations.
    pub seed: u64,
    /// Output classes.
    pub num_classes: usize,
    /// BiSeNetV2 width factor.
    pub lambd: f64,
    /// Loss weights.
    pub loss: LossWeights,
    /// Augmentation.
    pub augment: AugmentConfig,
    /// Weights the network started from (fine-tuning), `None` = PaddleSeg's initialisation.
    #[serde(default)]
    pub init: Option<PathBuf>,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            size: 256,
            epochs: 60,
            batch: 8,
            lr: 2e-3,
            weight_decay: 1e-4,
            warmup_steps: 200,
            val_sites: Vec::new(),
            val_limit: None,
            limit: None,
            steps_per_epoch: None,
            seed: 42,
            num_classes: 2,
            lambd: 0.25,
            loss: LossWeights::default(),
            augment: AugmentConfig::default(),
            init: None,
        }
    }
}

impl TrainSettings {
    /// Checks the values.
    pub fn validate(&self) -> Result<()> {
        Preprocess::square(self.size).validate()?;
        let bad = |m: String| Err(Error::InvalidParams(m));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch < 2 {
            return bad(format!(
                "batch {} is too small: batch norm needs at least 2 images per step",
                self.batch
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("learning rate {} must be > 0", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(format!("weight decay {} must be ≥ 0", self.weight_decay));
        }
        if self.steps_per_epoch == Some(0) || self.limit == Some(0) || self.val_limit == Some(0) {
            return bad("limits must be at least 1".into());
        }
        BiSeNetV2Config::paddleseg(self.num_classes, self.lambd).validate()
    }

    /// Learning rate at optimiser step `step` (0-based) of a run of `total` steps.
    pub fn lr_at(&self, step: u64, total: u64) -> f64 {
        let warm = self.warmup_steps as u64;
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        let span = total.saturating_sub(warm).max(1) as f64;
        let t = ((step - warm) as f64 / span).min(1.0);
        let floor = 0.01 * self.lr;
        floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// Where training runs.
#[derive(Debug, Clone)]
pub enum TrainDevice {
    /// burn's Flex CPU backend (the default; ~6× faster than lavapipe on a CPU-only machine).
    Cpu,
    /// The engine's wgpu device.
    Gpu(Engine),
}

/// A training request (settings that are `None` come from the checkpoint on resume, else defaults).
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// Data folder with `image/` and `mask/`.
    pub data: PathBuf,
    /// Output weights (`.safetensors`); checkpoint, metrics and best weights go beside it.
    pub output: PathBuf,
    /// Checkpoint to resume from.
    pub resume: Option<PathBuf>,
    /// Weights a new run starts from (fine-tuning: a new optimiser and schedule; not with `resume`).
    pub init: Option<PathBuf>,
    /// Device.
    pub device: TrainDevice,
    /// Settings for a new run (`None` fields: defaults, or the checkpoint's on resume).
    pub size: Option<u32>,
    /// See [`TrainSettings::epochs`].
    pub epochs: Option<usize>,
    /// See [`TrainSettings::batch`].
    pub batch: Option<usize>,
    /// See [`TrainSettings::lr`].
    pub lr: Option<f64>,
    /// See [`TrainSettings::val_sites`].
    pub val_sites: Option<Vec<String>>,
    /// See [`TrainSettings::val_limit`].
    pub val_limit: Option<usize>,
    /// See [`TrainSettings::limit`].
    pub limit: Option<usize>,
    /// See [`TrainSettings::steps_per_epoch`].
    pub steps_per_epoch: Option<usize>,
    /// See [`TrainSettings::seed`].
    pub seed: Option<u64>,
    /// See [`TrainSettings::warmup_steps`].
    pub warmup_steps: Option<usize>,
    /// Draw progress bars (on a terminal) and print progress lines (otherwise).
    pub progress: bool,
}

impl TrainRequest {
    /// A request with every setting left to its default.
    pub fn new(data: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        TrainRequest {
            data: data.into(),
            output: output.into(),
            resume: None,
            init: None,
            device: TrainDevice::Cpu,
            size: None,
            epochs: None,
            batch: None,
            lr: None,
            val_sites: None,
            val_limit: None,
            limit: None,
            steps_per_epoch: None,
            seed: None,
            warmup_steps: None,
            progress: false,
        }
    }

    pub(super) fn settings_for_new_run(&self) -> TrainSettings {
        let d = TrainSettings::default();
        TrainSettings {
            size: self.size.unwrap_or(d.size),
            epochs: self.epochs.unwrap_or(d.epochs),
            batch: self.batch.unwrap_or(d.batch),
            lr: self.lr.unwrap_or(d.lr),
            warmup_steps: self.warmup_steps.unwrap_or(d.warmup_steps),
            val_sites: self.val_sites.clone().unwrap_or_default(),
            val_limit: self.val_limit,
            limit: self.limit,
            steps_per_epoch: self.steps_per_epoch,
            seed: self.seed.unwrap_or(d.seed),
            init: self.init.clone(),
            ..d
        }
    }

    /// The checkpoint's settings with this request's epoch count; any other setting given that
    /// differs from the checkpoint's is refused.
    pub(super) fn settings_for_resume(
        &self,
        saved: &TrainSettings,
        ckpt: &Path,
    ) -> Result<TrainSettings> {
        if let Some(init) = &self.init {
            return Err(Error::InvalidParams(format!(
                "--init {} starts a new run from weights and --resume {} continues a checkpoint; \
                 give one of them",
                init.display(),
                ckpt.display()
            )));
        }
        let mut differs = Vec::new();
        let mut check = |name: &str, given: Option<String>, saved: String| {
            if let Some(g) = given
                && g != saved
            {
                differs.push(format!("--{name} {g} (checkpoint: {saved})"));
            }
        };
        check(
            "size",
            self.size.map(|v| v.to_string()),
            saved.size.to_string(),
        );
        check(
            "batch",
            self.batch.map(|v| v.to_string()),
            saved.batch.to_string(),
        );
        check("lr", self.lr.map(|v| v.to_string()), saved.lr.to_string());
        check(
            "val-sites",
            self.val_sites.as_ref().map(|v| v.join(",")),
            saved.val_sites.join(","),
        );
        check(
            "val-limit",
            self.val_limit.map(|v| v.to_string()),
            format!("{:?}", saved.val_limit)
                .replace("Some(", "")
                .replace(')', ""),
        );
        check(
            "limit",
            self.limit.map(|v| v.to_string()),
            format!("{:?}", saved.limit)
                .replace("Some(", "")
                .replace(')', ""),
        );
        check(
            "seed",
            self.seed.map(|v| v.to_string()),
            saved.seed.to_string(),
        );
        if !differs.is_empty() {
            return Err(Error::InvalidParams(format!(
                "{}: resuming keeps the checkpoint's settings, but {} differ; omit them (only \
                 --epochs may change) or start a new run",
                ckpt.display(),
                differs.join(", ")
            )));
        }
        let mut s = saved.clone();
        if let Some(e) = self.epochs {
            s.epochs = e;
        }
        if let Some(spe) = self.steps_per_epoch {
            s.steps_per_epoch = Some(spe);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_anneals() {
        let s = TrainSettings {
            lr: 1e-3,
            warmup_steps: 10,
            ..TrainSettings::default()
        };
        assert!((s.lr_at(0, 100) - 1e-4).abs() < 1e-12);
        assert!((s.lr_at(9, 100) - 1e-3).abs() < 1e-12);
        assert!((s.lr_at(10, 100) - 1e-3).abs() < 1e-12);
        assert!((s.lr_at(100, 100) - 1e-5).abs() < 1e-12);
        assert!(s.lr_at(50, 100) < s.lr_at(20, 100));
    }
}
