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

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::bisenet::{BiSeNetV2, BiSeNetV2Config};
use super::pickle::{self, ArrayData};
use crate::io::atomic::write_atomic;
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

/// Reads a safetensors file (F32, F16, BF16 or F64 tensors, converted to f32).
pub fn read_safetensors(path: &Path) -> Result<NamedTensors> {
    let bytes = crate::io::gate::read(path, crate::io::gate::InputKind::Model)?;
    parse_safetensors(&bytes, path)
}

/// Parses safetensors bytes; `source` names the file in errors.
pub fn parse_safetensors(bytes: &[u8], source: &Path) -> Result<NamedTensors> {
    let err = |m: String| Error::format(source, format!("safetensors: {m}"));
    if bytes.len() < 8 {
        return Err(err("shorter than its 8-byte header length".into()));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[..8]);
    let header_len = u64::from_le_bytes(len8);
    let rest = (bytes.len() - 8) as u64;
    if header_len > rest {
        return Err(err(format!(
            "header of {header_len} bytes but only {rest} bytes follow"
        )));
    }
    let header_end = 8 + header_len as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..header_end])
            .map_err(|e| err(format!("header is not a JSON object: {e}")))?;
    let data = &bytes[header_end..];
    let mut tensors = BTreeMap::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let terr = |m: String| err(format!("tensor '{name}': {m}"));
        let dtype = info["dtype"].as_str().unwrap_or_default().to_string();
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .ok_or_else(|| terr("no shape".into()))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| terr("shape is not a list of sizes".into()))?;
        let offsets: Vec<usize> = info["data_offsets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_u64())
                    .map(|v| v as usize)
                    .collect()
            })
            .unwrap_or_default();
        let [start, end] = offsets[..] else {
            return Err(terr("data_offsets is not [start, end]".into()));
        };
        if start > end || end > data.len() {
            return Err(terr(format!(
                "data_offsets [{start}, {end}] outside the {} data bytes",
                data.len()
            )));
        }
        let raw = &data[start..end];
        let count = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| terr("shape overflows".into()))?;
        let size = match dtype.as_str() {
            "F32" => 4,
            "F16" | "BF16" => 2,
            "F64" => 8,
            other => {
                return Err(terr(format!(
                    "dtype '{other}' is not a float type (F32, F16, BF16, F64)"
                )));
            }
        };
        if raw.len() != count * size {
            return Err(terr(format!(
                "{count} {dtype} values need {} bytes, the offsets give {}",
                count * size,
                raw.len()
            )));
        }
        let values: Vec<f32> = match dtype.as_str() {
            "F32" => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            "F64" => raw
                .chunks_exact(8)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    f64::from_le_bytes(a) as f32
                })
                .collect(),
            "BF16" => raw
                .chunks_exact(2)
                .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
                .collect(),
            _ => raw
                .chunks_exact(2)
                .map(|c| half_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        };
        tensors.insert(name, NamedTensor { shape, values });
    }
    Ok(NamedTensors {
        source: source.to_path_buf(),
        tensors,
    })
}

fn half_to_f32(h: u16) -> f32 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// Serialises tensors as safetensors bytes (F32, names sorted, header padded to 8 bytes).
pub fn safetensors_bytes(named: &NamedTensors) -> Result<Vec<u8>> {
    safetensors_bytes_with_metadata(named, &BTreeMap::new())
}

/// [`safetensors_bytes`] with extra `__metadata__` entries (strings, as the format requires).
pub fn safetensors_bytes_with_metadata(
    named: &NamedTensors,
    extra: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    let mut metadata = serde_json::Map::new();
    metadata.insert("producer".into(), "radpipe".into());
    metadata.insert("names".into(), "paddleseg".into());
    for (k, v) in extra {
        metadata.insert(k.clone(), v.clone().into());
    }
    header.insert("__metadata__".into(), serde_json::Value::Object(metadata));
    let mut offset = 0usize;
    for (name, t) in &named.tensors {
        let end = offset + t.values.len() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::to_vec(&serde_json::Value::Object(header))
        .map_err(|e| Error::InvalidParams(format!("safetensors header: {e}")))?;
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for t in named.tensors.values() {
        for v in &t.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    Ok(out)
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

fn shape_of(named: &NamedTensors, name: &str) -> Result<Vec<usize>> {
    named
        .tensors
        .get(name)
        .map(|t| t.shape.clone())
        .ok_or_else(|| {
            Error::format(
                &named.source,
                format!("not a BiSeNetV2 checkpoint: tensor '{name}' is missing"),
            )
        })
}

/// The network's widths, read from the shapes of the stem, stage-3 and head tensors.
pub fn infer_config(named: &NamedTensors) -> Result<BiSeNetV2Config> {
    let stem = shape_of(named, "sb.stem.conv._conv.weight")?;
    let stage3 = shape_of(named, "sb.stage3.0.branch_1.3._conv.weight")?;
    let head = shape_of(named, "head.conv_1x1.weight")?;
    let bad = |name: &str, shape: &[usize]| {
        Error::format(
            &named.source,
            format!("tensor '{name}' has shape {shape:?}, not a 4-D convolution weight"),
        )
    };
    if stem.len() != 4 {
        return Err(bad("sb.stem.conv._conv.weight", &stem));
    }
    if stage3.len() != 4 {
        return Err(bad("sb.stage3.0.branch_1.3._conv.weight", &stage3));
    }
    if head.len() != 4 {
        return Err(bad("head.conv_1x1.weight", &head));
    }
    let config = BiSeNetV2Config {
        num_classes: head[0],
        in_channels: stem[1],
        stem_channels: stem[0],
        stage3_channels: stage3[0],
        align_corners: false,
    };
    config.validate().map_err(|e| e.in_file(&named.source))?;
    Ok(config)
}

#[derive(Default)]
struct Paths {
    stack: Vec<String>,
    found: Vec<(String, Vec<usize>)>,
}

impl ModuleVisitor for Paths {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.found.push((
            paddle_name(&self.stack.join(".")),
            param.lazy_shape().to_vec(),
        ));
    }
}

/// Every tensor `model` holds: PaddleSeg name and shape, in module order.
pub fn expected_tensors(model: &BiSeNetV2) -> Vec<(String, Vec<usize>)> {
    let mut v = Paths::default();
    model.visit(&mut v);
    v.found
}

/// Compares a file's tensors with what the network needs; the error names the tensors that are
/// missing, of another shape, or unknown to the network (at most five of each, with counts).
pub fn check_tensors(expected: &[(String, Vec<usize>)], named: &NamedTensors) -> Result<()> {
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for (name, shape) in expected {
        match named.tensors.get(name) {
            None => missing.push(name.clone()),
            Some(t) if &t.shape != shape => mismatched.push(format!(
                "'{name}' has shape {:?}, the network needs {shape:?}",
                t.shape
            )),
            Some(_) => {}
        }
    }
    let known: std::collections::HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let unexpected: Vec<String> = named
        .tensors
        .keys()
        .filter(|k| !known.contains(k.as_str()))
        .cloned()
        .collect();
    let list = |v: &[String], quote: bool| {
        let shown: Vec<String> = v
            .iter()
            .take(5)
            .map(|s| if quote { format!("'{s}'") } else { s.clone() })
            .collect();
        let more = if v.len() > 5 {
            format!(" and {} more", v.len() - 5)
        } else {
            String::new()
        };
        format!("{}{more}", shown.join(", "))
    };
    let mut problems = Vec::new();
    if !mismatched.is_empty() {
        problems.push(format!("shape mismatch: {}", list(&mismatched, false)));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "{} tensor(s) missing: {}",
            missing.len(),
            list(&missing, true)
        ));
    }
    if !unexpected.is_empty() {
        problems.push(format!(
            "{} tensor(s) the network does not have: {}",
            unexpected.len(),
            list(&unexpected, true)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::format(
            &named.source,
            format!("weights do not fit BiSeNetV2: {}", problems.join("; ")),
        ))
    }
}

struct Loader<'a> {
    stack: Vec<String>,
    named: &'a NamedTensors,
    device: Device,
    missing: Vec<String>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.stack.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = paddle_name(&self.stack.join("."));
        match self.named.tensors.get(&name) {
            Some(t) if t.shape.len() == D => {
                let data = TensorData::new(t.values.clone(), t.shape.clone());
                let tensor = Tensor::<D>::from_data(data, &self.device);
                let id = param.id;
                param.transform_for_load(tensor, id)
            }
            _ => {
                self.missing.push(name);
                param
            }
        }
    }
}

/// Loads checked tensors into `model` (built with the matching config) on `device`.
pub fn apply_tensors(model: BiSeNetV2, named: &NamedTensors, device: &Device) -> Result<BiSeNetV2> {
    check_tensors(&expected_tensors(&model), named)?;
    let mut loader = Loader {
        stack: Vec::new(),
        named,
        device: device.clone(),
        missing: Vec::new(),
    };
    let model = model.map(&mut loader);
    match loader.missing.first() {
        None => Ok(model),
        Some(name) => Err(Error::format(
            &named.source,
            format!("tensor '{name}' could not be loaded"),
        )),
    }
}

/// Builds the network a weights file describes and loads it on `device`.
pub fn load_model(path: &Path, device: &Device) -> Result<BiSeNetV2> {
    let named = read_weights(path)?;
    model_from_tensors(&named, device)
}

/// Builds the network `named` describes and loads it on `device`.
pub fn model_from_tensors(named: &NamedTensors, device: &Device) -> Result<BiSeNetV2> {
    let config = infer_config(named)?;
    apply_tensors(config.init(device), named, device)
}

struct Exporter {
    stack: Vec<String>,
    out: BTreeMap<String, NamedTensor>,
    error: Option<String>,
}

impl ModuleVisitor for Exporter {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = paddle_name(&self.stack.join("."));
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        match tensor
            .try_into_data()
            .map_err(|e| format!("{e:?}"))
            .and_then(|d| d.try_into_vec::<f32>().map_err(|e| format!("{e:?}")))
        {
            Ok(values) => {
                self.out.insert(name, NamedTensor { shape, values });
            }
            Err(e) => {
                self.error.get_or_insert(format!("reading '{name}': {e}"));
            }
        }
    }
}

/// The model's tensors by PaddleSeg name (read back from the device).
pub fn export_tensors(model: &BiSeNetV2) -> Result<NamedTensors> {
    let mut e = Exporter {
        stack: Vec::new(),
        out: BTreeMap::new(),
        error: None,
    };
    model.visit(&mut e);
    if let Some(msg) = e.error {
        return Err(Error::Gpu(msg));
    }
    Ok(NamedTensors {
        source: PathBuf::new(),
        tensors: e.out,
    })
}

/// Metadata key under which `radpipe train` records the network input side it trained at.
pub const INPUT_SIZE_KEY: &str = "input_size";

/// The `__metadata__` strings of a safetensors file (empty for other formats or none).
pub fn read_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    if WeightsFormat::of(path)? != WeightsFormat::Safetensors {
        return Ok(BTreeMap::new());
    }
    let mut file = crate::io::gate::open(path, crate::io::gate::InputKind::Model)?;
    let mut len8 = [0u8; 8];
    std::io::Read::read_exact(&mut file, &mut len8).map_err(|e| Error::io(path, e))?;
    let len = u64::from_le_bytes(len8);
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > size.saturating_sub(8) {
        return Err(Error::format(
            path,
            "safetensors: header longer than the file",
        ));
    }
    let mut header = vec![0u8; len as usize];
    std::io::Read::read_exact(&mut file, &mut header).map_err(|e| Error::io(path, e))?;
    let header: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| Error::format(path, format!("safetensors: header is not JSON: {e}")))?;
    Ok(header["__metadata__"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// The input side a model was trained at, when its file records it ([`INPUT_SIZE_KEY`]).
pub fn trained_input_size(path: &Path) -> Option<u32> {
    read_metadata(path).ok()?.get(INPUT_SIZE_KEY)?.parse().ok()
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
