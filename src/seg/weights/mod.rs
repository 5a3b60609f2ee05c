//! BiSeNetV2 weights in three containers, all keyed by PaddleSeg's parameter names so a team's
//! existing model runs unchanged: a PaddleSeg training checkpoint (`.pdparams`, read with
//! [`super::pickle`]), safetensors (read and written here: an 8-byte header length, a JSON header,
//! little-endian data) and burn's own record format (`.bpk`, burnpack, through burn's record API).
//!
//! Every load goes the same way: read the file into [`NamedTensors`], infer the network's widths from
//! three tensors' shapes ([`infer_config`]), compare every expected name and shape with the file
//! ([`check_tensors`], which names the first offending tensors), then map the data onto the module.
//! A file that is missing a tensor, has one of another shape, or has one the network does not know is
//! refused with the tensor's name — never half-loaded.
//!
//! - `safetensors`: the safetensors container, read and written, with its string metadata.
//! - `module`: shapes → config, the name-and-shape check, and tensors onto and off the module.
//! - here: the shared types, PaddleSeg's names, `.pdparams` and burnpack reading, and the
//!   format-dispatching entry points.

mod module;
mod safetensors;

pub use module::{
    apply_tensors, check_tensors, expected_tensors, export_tensors, infer_config,
    model_from_tensors,
};
pub use safetensors::{
    INPUT_SIZE_KEY, parse_safetensors, read_metadata, read_safetensors, safetensors_bytes,
    safetensors_bytes_with_metadata, trained_input_size,
};

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;

use crate::io::atomic::write_atomic;
use crate::seg::bisenet::BiSeNetV2;
use crate::seg::pickle::{self, ArrayData};
use crate::{Error, Result};

/// One tensor's shape and f32 values (C order).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub values: Vec<f32>,
}

/// Tensors by PaddleSeg parameter name, with the file they came from.
#[derive(Debug, Clone, Default)]
pub struct NamedTensors {
    /// Where they were read from (for error messages).
    pub source: PathBuf,
    /// The tensors, sorted by name.
    pub tensors: BTreeMap<String, NamedTensor>,
}

/// The weight file formats radpipe reads, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsFormat {
    /// `.pdparams`: a PaddlePaddle state-dict pickle (read only).
    PdParams,
    /// `.safetensors` with PaddleSeg names.
    Safetensors,
    /// `.bpk`: a burn record (burnpack) of this module.
    Burnpack,
}

impl WeightsFormat {
    /// The format a path's extension names.
    pub fn of(path: &Path) -> Result<Self> {
        match crate::io::extension(path).as_str() {
            "pdparams" => Ok(WeightsFormat::PdParams),
            "safetensors" => Ok(WeightsFormat::Safetensors),
            "bpk" => Ok(WeightsFormat::Burnpack),
            other => Err(Error::unsupported(
                path,
                format!(
                    "model weights with extension '{other}': use .pdparams (PaddleSeg checkpoint), \
                     .safetensors or .bpk (burn record)"
                ),
            )),
        }
    }
}

/// Burn's batch-norm field names → PaddleSeg's (the only place the two naming schemes differ).
const BN_NAMES: [(&str, &str); 4] = [
    ("gamma", "weight"),
    ("beta", "bias"),
    ("running_mean", "_mean"),
    ("running_var", "_variance"),
];

/// The PaddleSeg name of a parameter at burn module path `path`.
pub fn paddle_name(path: &str) -> String {
    match path.rsplit_once('.') {
        Some((parent, leaf)) => match BN_NAMES.iter().find(|(b, _)| *b == leaf) {
            Some((_, p)) => format!("{parent}.{p}"),
            None => path.to_string(),
        },
        None => path.to_string(),
    }
}

/// Reads weights in any supported format (by extension) into PaddleSeg-named tensors.
pub fn read_weights(path: &Path) -> Result<NamedTensors> {
    if !path.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "model weights file not found"),
        ));
    }
    match WeightsFormat::of(path)? {
        WeightsFormat::PdParams => read_pdparams(path),
        WeightsFormat::Safetensors => read_safetensors(path),
        WeightsFormat::Burnpack => read_burnpack(path),
    }
}

/// Reads a PaddleSeg checkpoint (`paddle.save(model.state_dict(), …)`); entries that are not arrays
/// (paddle's `StructuredToParameterName@@`) are left out.
pub fn read_pdparams(path: &Path) -> Result<NamedTensors> {
    let pickled = pickle::read_pickled_arrays(path)?;
    let mut tensors = BTreeMap::new();
    for (name, array) in pickled.arrays {
        let values: Vec<f32> = match array.data {
            ArrayData::F32(v) => v,
            ArrayData::F64(v) => v.into_iter().map(|x| x as f32).collect(),
            ArrayData::I64(_) => {
                return Err(Error::format(
                    path,
                    format!(
                        "tensor '{name}' is an integer array ({}); BiSeNetV2 weights are floats",
                        array.dtype
                    ),
                ));
            }
        };
        tensors.insert(
            name,
            NamedTensor {
                shape: array.shape,
                values,
            },
        );
    }
    Ok(NamedTensors {
        source: path.to_path_buf(),
        tensors,
    })
}

/// Reads a burn record (burnpack) of a BiSeNetV2 into PaddleSeg-named tensors.
pub fn read_burnpack(path: &Path) -> Result<NamedTensors> {
    use burn::store::{BurnpackStore, ModuleStore};
    let bytes = crate::io::gate::read(path, crate::io::gate::InputKind::Model)?;
    let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)));
    let err = |m: String| Error::format(path, format!("burn record: {m}"));
    let all = store.get_all_tensors().map_err(|e| err(e.to_string()))?;
    let mut tensors = BTreeMap::new();
    for (burn_path, t) in all {
        let name = paddle_name(burn_path);
        if t.dtype != burn::tensor::DType::F32 {
            return Err(err(format!(
                "tensor '{name}' is {:?}, radpipe reads f32 records",
                t.dtype
            )));
        }
        let raw = t
            .to_bytes()
            .map_err(|e| err(format!("tensor '{name}': {e}")))?;
        let values: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let shape = t.shape.to_vec();
        if values.len() != shape.iter().product::<usize>() {
            return Err(err(format!(
                "tensor '{name}': {} values for shape {shape:?}",
                values.len()
            )));
        }
        tensors.insert(name, NamedTensor { shape, values });
    }
    Ok(NamedTensors {
        source: path.to_path_buf(),
        tensors,
    })
}

/// Builds the network a weights file describes and loads it on `device`.
pub fn load_model(path: &Path, device: &Device) -> Result<BiSeNetV2> {
    let named = read_weights(path)?;
    model_from_tensors(&named, device)
}

/// Saves the weights as `.safetensors` with extra metadata strings.
pub fn save_safetensors_with_metadata(
    model: &BiSeNetV2,
    path: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    if WeightsFormat::of(path)? != WeightsFormat::Safetensors {
        return Err(Error::unsupported(
            path,
            "metadata is written to .safetensors only",
        ));
    }
    let bytes = safetensors_bytes_with_metadata(&export_tensors(model)?, metadata)?;
    write_atomic(path, |w| {
        w.write_all(&bytes).map_err(|e| Error::io(path, e))
    })
}

/// Saves the weights by extension: `.safetensors` (PaddleSeg names) or `.bpk` (burn record).
/// `.pdparams` is read-only: radpipe does not write Python pickles.
pub fn save_weights(model: &BiSeNetV2, path: &Path) -> Result<()> {
    let bytes = match WeightsFormat::of(path)? {
        WeightsFormat::Safetensors => safetensors_bytes(&export_tensors(model)?)?,
        WeightsFormat::Burnpack => model
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| Error::format(path, format!("burn record: {e}")))?
            .to_vec(),
        WeightsFormat::PdParams => {
            return Err(Error::unsupported(
                path,
                "radpipe reads .pdparams checkpoints but writes only .safetensors or .bpk",
            ));
        }
    };
    write_atomic(path, |w| {
        w.write_all(&bytes).map_err(|e| Error::io(path, e))
    })
}
