//! The safetensors container: parsing (f32, f16, bf16 and the like, checked against the bytes), writing
//! with an optional string metadata map, and reading that metadata back (the training input size).

use super::{NamedTensor, NamedTensors, WeightsFormat};
use std::collections::BTreeMap;
use std::path::Path;

use crate::{Error, Result};

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
