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

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};

use super::augment::{AugmentConfig, Rng, augment};
use super::bisenet::{BiSeNetV2, BiSeNetV2Config};
use super::dataset::{PairPaths, Sample, check_sites, load_pair, pair_files};
use super::evaluate::{Degradation, score_samples, summarise};
use super::infer::{Backend, Preprocess, Segmenter, burn_device};
use super::loss::{LossWeights, total_loss};
use super::weights::{
    INPUT_SIZE_KEY, NamedTensor, NamedTensors, export_tensors, infer_config, model_from_tensors,
    paddle_name, parse_safetensors, read_weights, safetensors_bytes,
    save_safetensors_with_metadata,
};
use crate::io::atomic::write_atomic;
use crate::{Engine, Error, Result};

/// A new run's starting weights, checked before any data is loaded: `None` for PaddleSeg's
/// initialisation, else the `init` file's tensors (which must have the settings' classes and widths).
fn init_tensors(settings: &TrainSettings) -> Result<Option<NamedTensors>> {
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

    fn settings_for_new_run(&self) -> TrainSettings {
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
    fn settings_for_resume(&self, saved: &TrainSettings, ckpt: &Path) -> Result<TrainSettings> {
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

/// Exact f64 in checkpoint JSON: serde_json (without its `float_roundtrip` feature, which would rebuild
/// burn and cubecl) may parse a number one ULP off, so a resumed history would not equal the one
/// written. Values are written as their shortest round-trip decimal string and parsed with
/// `str::parse`, which is exact; plain JSON numbers (older checkpoints) are still read.
mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Number(f64),
    }

    fn parse<E: serde::de::Error>(r: Repr) -> Result<f64, E> {
        match r {
            Repr::Text(t) => t.parse().map_err(E::custom),
            Repr::Number(v) => Ok(v),
        }
    }

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        parse(Repr::deserialize(d)?)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => s.serialize_some(&v.to_string()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Option::<Repr>::deserialize(d)?.map(parse).transpose()
        }
    }

    pub mod map {
        use std::collections::BTreeMap;

        use super::*;

        pub fn serialize<S: Serializer>(
            m: &BTreeMap<String, f64>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_map(m.iter().map(|(k, v)| (k, v.to_string())))
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<BTreeMap<String, f64>, D::Error> {
            BTreeMap::<String, Repr>::deserialize(d)?
                .into_iter()
                .map(|(k, r)| parse(r).map(|v| (k, v)))
                .collect()
        }
    }
}

/// One epoch's metrics (a row of the metrics CSV).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    #[serde(with = "exact_f64")]
    pub train_loss: f64,
    /// Learning rate at the epoch's last step.
    #[serde(with = "exact_f64")]
    pub lr: f64,
    /// Optimiser steps in this epoch.
    pub steps: usize,
    /// Seconds spent training (steps only).
    #[serde(with = "exact_f64")]
    pub train_seconds: f64,
    /// Mean validation Dice per held-out site.
    #[serde(with = "exact_f64::map")]
    pub val_site_dice: BTreeMap<String, f64>,
    /// Mean of the per-site means; `None` without validation sites.
    #[serde(with = "exact_f64::option")]
    pub val_mean_dice: Option<f64>,
    /// Mean validation angle error, degrees.
    #[serde(with = "exact_f64::option")]
    pub val_angle_error_deg: Option<f64>,
    /// Seconds for the whole epoch (training, validation, checkpoint).
    #[serde(with = "exact_f64")]
    pub seconds: f64,
}

/// What a checkpoint holds besides tensors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointState {
    /// Format tag.
    pub format: String,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps done.
    pub step: u64,
    /// Generator state after the epoch.
    pub rng: Rng,
    /// Best validation mean Dice so far and its epoch.
    pub best: Option<(f64, usize)>,
    /// The run's settings.
    pub settings: TrainSettings,
    /// Every epoch's metrics.
    pub history: Vec<EpochRecord>,
}

const CKPT_MAGIC: &[u8; 8] = b"RPCKPT01";
const CKPT_FORMAT: &str = "radpipe-train-checkpoint-1";

/// The files of a run whose final weights go to `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFiles {
    /// Latest weights (safetensors), rewritten every epoch.
    pub model: PathBuf,
    /// Checkpoint.
    pub checkpoint: PathBuf,
    /// Metrics CSV.
    pub metrics: PathBuf,
    /// Best-validation weights.
    pub best: PathBuf,
}

impl RunFiles {
    /// Paths beside `output` (`X.safetensors` → `X.ckpt`, `X.metrics.csv`, `X.best.safetensors`).
    pub fn for_output(output: &Path) -> Result<Self> {
        if crate::io::extension(output) != "safetensors" {
            return Err(Error::InvalidParams(format!(
                "{}: the trained model is written as .safetensors (PaddleSeg names, loadable by \
                 radpipe segment --model)",
                output.display()
            )));
        }
        let stem = output
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let dir = output.parent().unwrap_or(Path::new(""));
        Ok(RunFiles {
            model: output.to_path_buf(),
            checkpoint: dir.join(format!("{stem}.ckpt")),
            metrics: dir.join(format!("{stem}.metrics.csv")),
            best: dir.join(format!("{stem}.best.safetensors")),
        })
    }
}

/// AdamW moments by PaddleSeg parameter name (flattened).
#[derive(Debug, Default)]
pub struct AdamState {
    moments: HashMap<String, (Tensor<1>, Tensor<1>)>,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

struct AdamStep<'a> {
    state: &'a mut AdamState,
    grads: &'a mut Gradients,
    path: Vec<String>,
    lr: f64,
    weight_decay: f64,
    /// 1-based step count for the bias correction.
    t: u64,
    updated: usize,
}

impl ModuleMapper for AdamStep<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !param.is_require_grad() {
            return param;
        }
        let name = paddle_name(&self.path.join("."));
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = tensor.grad_remove(self.grads) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let p = tensor.inner();
        let dims = p.dims();
        let numel: usize = dims.iter().product();
        let (m, v) = match self.state.moments.remove(&name) {
            Some((m, v)) => (m.reshape(dims), v.reshape(dims)),
            None => (p.zeros_like(), p.zeros_like()),
        };
        let m = m.mul_scalar(BETA1) + grad.clone().mul_scalar(1.0 - BETA1);
        let v = v.mul_scalar(BETA2) + grad.square().mul_scalar(1.0 - BETA2);
        let t = self.t as i32;
        let m_hat = 1.0 / (1.0 - BETA1.powi(t));
        let v_hat = 1.0 / (1.0 - BETA2.powi(t));
        let update = m.clone().mul_scalar(self.lr * m_hat)
            / v.clone().mul_scalar(v_hat).sqrt().add_scalar(EPS);
        let decayed = if D == 4 && self.weight_decay > 0.0 {
            p.mul_scalar(1.0 - self.lr * self.weight_decay)
        } else {
            p
        };
        let next = Tensor::from_inner(decayed - update).require_grad();
        self.state
            .moments
            .insert(name, (m.reshape([numel]), v.reshape([numel])));
        self.updated += 1;
        Param::from_mapped_value(id, next, mapper)
    }
}

/// One AdamW update's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    /// Learning rate of this step.
    pub lr: f64,
    /// Decoupled weight decay (convolution kernels only).
    pub weight_decay: f64,
    /// 1-based step number (bias correction).
    pub t: u64,
}

/// One optimisation step on a batch: forward (training mode, all five heads), loss, backward, AdamW
/// update. Returns the updated model and the batch's loss; a non-finite loss leaves the model as it
/// was.
pub fn train_step(
    model: BiSeNetV2,
    adam: &mut AdamState,
    input: Tensor<4>,
    target: Tensor<3>,
    weights: LossWeights,
    opt: AdamW,
) -> Result<(BiSeNetV2, f32)> {
    let loss = total_loss(model.forward_train(input), target, weights);
    let value = tensor_values(loss.clone().inner())?
        .first()
        .copied()
        .unwrap_or(f32::NAN);
    let mut grads = loss.backward();
    if !value.is_finite() {
        return Ok((model, value));
    }
    let mut mapper = AdamStep {
        state: adam,
        grads: &mut grads,
        path: Vec::new(),
        lr: opt.lr,
        weight_decay: opt.weight_decay,
        t: opt.t,
        updated: 0,
    };
    let model = model.map(&mut mapper);
    if mapper.updated == 0 {
        return Err(Error::InvalidParams(
            "no parameter received a gradient: the model is not on an autodiff device".into(),
        ));
    }
    Ok((model, value))
}

fn tensor_values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.try_into_data()
        .map_err(|e| Error::Gpu(format!("reading a tensor: {e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::Gpu(format!("tensor is not f32: {e:?}")))
}

/// Writes a checkpoint atomically: magic, JSON state, then one safetensors payload with the weights
/// (`model.<name>`) and AdamW moments (`adam_m.<name>`, `adam_v.<name>`, flattened).
pub fn write_checkpoint(
    path: &Path,
    model: &BiSeNetV2,
    adam: &AdamState,
    state: &CheckpointState,
) -> Result<()> {
    let weights = export_tensors(&model.valid())?;
    let mut tensors = BTreeMap::new();
    for (name, t) in weights.tensors {
        tensors.insert(format!("model.{name}"), t);
    }
    for (name, (m, v)) in &adam.moments {
        let shape = m.dims().to_vec();
        tensors.insert(
            format!("adam_m.{name}"),
            NamedTensor {
                shape: shape.clone(),
                values: tensor_values(m.clone())?,
            },
        );
        tensors.insert(
            format!("adam_v.{name}"),
            NamedTensor {
                shape,
                values: tensor_values(v.clone())?,
            },
        );
    }
    let payload = safetensors_bytes(&NamedTensors {
        source: path.to_path_buf(),
        tensors,
    })?;
    let json = serde_json::to_vec(state)
        .map_err(|e| Error::InvalidParams(format!("checkpoint state: {e}")))?;
    write_atomic(path, |w| {
        w.write_all(CKPT_MAGIC)
            .and_then(|()| w.write_all(&(json.len() as u64).to_le_bytes()))
            .and_then(|()| w.write_all(&json))
            .and_then(|()| w.write_all(&payload))
            .map_err(|e| Error::io(path, e))
    })
}

/// A checkpoint read back: state, model weights and AdamW moments (as named tensors).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Epoch, settings, history.
    pub state: CheckpointState,
    /// Model tensors by PaddleSeg name.
    pub model: NamedTensors,
    /// AdamW first moments by name.
    pub adam_m: BTreeMap<String, NamedTensor>,
    /// AdamW second moments by name.
    pub adam_v: BTreeMap<String, NamedTensor>,
}

/// Reads a checkpoint written by [`write_checkpoint`].
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let bytes = crate::io::gate::read(path, crate::io::gate::InputKind::Model)?;
    if bytes.len() < 16 || &bytes[..8] != CKPT_MAGIC {
        return Err(Error::format(
            path,
            "not a radpipe training checkpoint (written by radpipe train as MODEL.ckpt)",
        ));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[8..16]);
    let json_len = u64::from_le_bytes(len8) as usize;
    let json_end = 16usize
        .checked_add(json_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| Error::format(path, "checkpoint is truncated"))?;
    let state: CheckpointState = serde_json::from_slice(&bytes[16..json_end])
        .map_err(|e| Error::format(path, format!("checkpoint state: {e}")))?;
    if state.format != CKPT_FORMAT {
        return Err(Error::format(
            path,
            format!(
                "checkpoint format '{}', expected '{CKPT_FORMAT}'",
                state.format
            ),
        ));
    }
    let all = parse_safetensors(&bytes[json_end..], path)?;
    let mut model = NamedTensors {
        source: path.to_path_buf(),
        tensors: BTreeMap::new(),
    };
    let (mut adam_m, mut adam_v) = (BTreeMap::new(), BTreeMap::new());
    for (name, t) in all.tensors {
        if let Some(n) = name.strip_prefix("model.") {
            model.tensors.insert(n.to_string(), t);
        } else if let Some(n) = name.strip_prefix("adam_m.") {
            adam_m.insert(n.to_string(), t);
        } else if let Some(n) = name.strip_prefix("adam_v.") {
            adam_v.insert(n.to_string(), t);
        } else {
            return Err(Error::format(
                path,
                format!("unknown checkpoint tensor '{name}'"),
            ));
        }
    }
    Ok(Checkpoint {
        state,
        model,
        adam_m,
        adam_v,
    })
}

/// The metrics CSV of `history` (header + one row per epoch).
pub fn metrics_csv(history: &[EpochRecord], val_sites: &[String]) -> String {
    let mut out = String::from("epoch,train_loss,lr,steps,train_seconds");
    for s in val_sites {
        out.push_str(&format!(",val_dice_{s}"));
    }
    out.push_str(",val_dice_mean,val_angle_error_deg,seconds\n");
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.5}")).unwrap_or_default();
    for r in history {
        out.push_str(&format!(
            "{},{:.5},{:.6e},{},{:.1}",
            r.epoch, r.train_loss, r.lr, r.steps, r.train_seconds
        ));
        for s in val_sites {
            out.push_str(&format!(",{}", opt(r.val_site_dice.get(s).copied())));
        }
        out.push_str(&format!(
            ",{},{},{:.1}\n",
            opt(r.val_mean_dice),
            opt(r.val_angle_error_deg),
            r.seconds
        ));
    }
    out
}

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
            let scores = score_samples(&segmenter, &val_set, Degradation::Clean, n, |k| {
                vb.inc(k as u64)
            })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_records_round_trip_exactly_through_checkpoint_json() {
        let mut r = EpochRecord {
            epoch: 1,
            train_loss: 3.8184361457824707,
            lr: 0.002,
            steps: 2,
            train_seconds: 0.657917069,
            val_site_dice: BTreeMap::from([("C".to_string(), 0.24320473778196552)]),
            val_mean_dice: Some(0.24320473778196552),
            val_angle_error_deg: None,
            seconds: 1.0 / 3.0,
        };
        for k in 0..2000u32 {
            r.train_loss = f64::from(k).sqrt() * std::f64::consts::PI;
            let back: EpochRecord =
                serde_json::from_slice(&serde_json::to_vec(&r).expect("json")).expect("parse");
            assert_eq!(back, r);
        }
        // Checkpoints written before: plain JSON numbers still read.
        let old = r#"{"epoch":1,"train_loss":1.5,"lr":0.002,"steps":2,"train_seconds":0.5,
            "val_site_dice":{"C":0.25},"val_mean_dice":0.25,"val_angle_error_deg":null,"seconds":1.0}"#;
        let rec: EpochRecord = serde_json::from_str(old).expect("old format");
        assert_eq!(rec.val_site_dice["C"], 0.25);
        assert_eq!(rec.val_angle_error_deg, None);
    }

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

    #[test]
    fn run_files_sit_beside_the_model() {
        let f = RunFiles::for_output(Path::new("/x/model.safetensors")).expect("files");
        assert_eq!(f.checkpoint, Path::new("/x/model.ckpt"));
        assert_eq!(f.metrics, Path::new("/x/model.metrics.csv"));
        assert_eq!(f.best, Path::new("/x/model.best.safetensors"));
        assert!(RunFiles::for_output(Path::new("/x/model.bpk")).is_err());
    }
}
