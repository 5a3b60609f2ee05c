//! A run's files and what survives between epochs: the per-epoch metrics record (with exact f64 in
//! JSON), the checkpoint file (magic, JSON state, one safetensors payload) and the metrics CSV.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;

use super::adamw::{AdamState, tensor_values};
use super::settings::TrainSettings;
use crate::io::atomic::write_atomic;
use crate::seg::augment::Rng;
use crate::seg::bisenet::BiSeNetV2;
use crate::seg::weights::{
    NamedTensor, NamedTensors, export_tensors, parse_safetensors, safetensors_bytes,
};
use crate::{Error, Result};

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
pub(super) const CKPT_FORMAT: &str = "radpipe-train-checkpoint-1";

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
    fn run_files_sit_beside_the_model() {
        let f = RunFiles::for_output(Path::new("/x/model.safetensors")).expect("files");
        assert_eq!(f.checkpoint, Path::new("/x/model.ckpt"));
        assert_eq!(f.metrics, Path::new("/x/model.metrics.csv"));
        assert_eq!(f.best, Path::new("/x/model.best.safetensors"));
        assert!(RunFiles::for_output(Path::new("/x/model.bpk")).is_err());
    }
}
