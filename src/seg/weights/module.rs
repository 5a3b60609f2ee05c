//! Tensors and the network: the widths inferred from three shapes, every expected name and shape
//! checked against a file (naming the first offenders), and the data mapped onto or read off a
//! [`BiSeNetV2`].

use super::{NamedTensor, NamedTensors, paddle_name};
use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};

use crate::seg::bisenet::{BiSeNetV2, BiSeNetV2Config};
use crate::{Error, Result};

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
