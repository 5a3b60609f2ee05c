//! Turning the unpickled numpy objects into arrays: the `_reconstruct` state, the dtype (kind, size,
//! byte order), the element decoding (f16 included) and Fortran → C order.

use std::path::Path;

use super::unpickler::{Object, Value};
use super::{ArrayData, NdArray};
use crate::{Error, Result};

/// Interprets `value` as a numpy array if it is one (`None` for other values).
pub(super) fn as_array(value: &Value, name: &str, source: &Path) -> Result<Option<NdArray>> {
    let err = |m: String| Error::format(source, format!("tensor '{name}': {m}"));
    // Old paddle (`reduce_varbase`) pickled tensors as (name, ndarray) tuples.
    if let Value::Tuple(t) = value
        && let [Value::Str(_), inner @ Value::Object(_)] = t.as_slice()
    {
        return as_array(inner, name, source);
    }
    let Value::Object(obj) = value else {
        return Ok(None);
    };
    let obj = obj.borrow();
    let is_reconstruct = obj.name == "_reconstruct"
        && (obj.module == "numpy.core.multiarray" || obj.module == "numpy._core.multiarray");
    if !is_reconstruct {
        return Ok(None);
    }
    let Some(Value::Tuple(state)) = &obj.state else {
        return Err(err("numpy array without its state".into()));
    };
    // (version, shape, dtype, is_fortran, data)
    let [_, Value::Tuple(shape), Value::Object(dtype), fortran, data] = state.as_slice() else {
        return Err(err(format!(
            "unexpected numpy array state ({} items)",
            state.len()
        )));
    };
    let shape = shape
        .iter()
        .map(|d| match d {
            Value::Int(n) if *n >= 0 => Ok(*n as usize),
            _ => Err(err("array shape is not a tuple of sizes".into())),
        })
        .collect::<Result<Vec<usize>>>()?;
    let fortran = matches!(fortran, Value::Bool(true) | Value::Int(1));
    let (code, big_endian) = dtype_of(&dtype.borrow()).map_err(err)?;
    let Value::Bytes(raw) = data else {
        return Err(err(format!(
            "dtype {code}: element data is {}, not raw bytes (object arrays are not supported)",
            data.kind()
        )));
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err("array size overflows".into()))?;
    let data = decode(&code, big_endian, raw, count).map_err(err)?;
    let data = if fortran && shape.len() > 1 {
        to_c_order(data, &shape)
    } else {
        data
    };
    Ok(Some(NdArray {
        dtype: code,
        shape,
        data,
    }))
}

fn dtype_of(dtype: &Object) -> std::result::Result<(String, bool), String> {
    if dtype.name != "dtype" {
        return Err(format!(
            "array dtype is {}.{}, not numpy.dtype",
            dtype.module, dtype.name
        ));
    }
    let Value::Tuple(args) = &dtype.args else {
        return Err("numpy.dtype without arguments".into());
    };
    let code = args
        .first()
        .and_then(Value::as_text)
        .ok_or("numpy.dtype without a type code")?;
    let order = match &dtype.state {
        Some(Value::Tuple(s)) => s.get(1).and_then(Value::as_text).unwrap_or_default(),
        _ => String::new(),
    };
    Ok((code, order == ">"))
}

fn decode(
    code: &str,
    big_endian: bool,
    raw: &[u8],
    count: usize,
) -> std::result::Result<ArrayData, String> {
    let size = match code {
        "b1" | "i1" | "u1" => 1,
        "f2" | "i2" | "u2" => 2,
        "f4" | "i4" | "u4" => 4,
        "f8" | "i8" | "u8" => 8,
        other => return Err(format!("numpy dtype '{other}' is not supported")),
    };
    let needed = count
        .checked_mul(size)
        .ok_or_else(|| "array size overflows".to_string())?;
    if raw.len() != needed {
        return Err(format!(
            "dtype {code} with {count} elements needs {needed} bytes, the file has {}",
            raw.len()
        ));
    }
    let word = |c: &[u8]| -> u64 {
        let mut v = 0u64;
        for (i, &b) in c.iter().enumerate() {
            let shift = if big_endian { c.len() - 1 - i } else { i };
            v |= u64::from(b) << (8 * shift);
        }
        v
    };
    let words = raw.chunks_exact(size).map(word);
    Ok(match code {
        "f2" => ArrayData::F32(words.map(|w| f16_to_f32(w as u16)).collect()),
        "f4" => ArrayData::F32(words.map(|w| f32::from_bits(w as u32)).collect()),
        "f8" => ArrayData::F64(words.map(f64::from_bits).collect()),
        "i1" => ArrayData::I64(words.map(|w| i64::from(w as u8 as i8)).collect()),
        "i2" => ArrayData::I64(words.map(|w| i64::from(w as u16 as i16)).collect()),
        "i4" => ArrayData::I64(words.map(|w| i64::from(w as u32 as i32)).collect()),
        "i8" => ArrayData::I64(words.map(|w| w as i64).collect()),
        "u8" => ArrayData::I64(
            words
                .map(|w| i64::try_from(w).map_err(|_| format!("uint64 value {w} above i64::MAX")))
                .collect::<std::result::Result<_, _>>()?,
        ),
        _ => ArrayData::I64(words.map(|w| w as i64).collect()), // b1, u1, u2, u4
    })
}

/// IEEE half → single (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: value = f · 2^-24
            let v = f as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (31, 0) => sign | 0x7f80_0000,
        (31, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// Fortran (column-major) element order → C order.
fn to_c_order(data: ArrayData, shape: &[usize]) -> ArrayData {
    let n: usize = shape.iter().product();
    // Fortran strides: stride[0] = 1, stride[k] = stride[k-1] * shape[k-1].
    let mut f_strides = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        f_strides[k] = f_strides[k - 1] * shape[k - 1];
    }
    let index_of = |c: usize| {
        let mut rem = c;
        let mut f = 0;
        for k in (0..shape.len()).rev() {
            f += (rem % shape[k]) * f_strides[k];
            rem /= shape[k];
        }
        f
    };
    fn permute<T: Copy>(v: &[T], n: usize, index_of: &dyn Fn(usize) -> usize) -> Vec<T> {
        (0..n).map(|c| v[index_of(c)]).collect()
    }
    match data {
        ArrayData::F32(v) => ArrayData::F32(permute(&v, n, &index_of)),
        ArrayData::F64(v) => ArrayData::F64(permute(&v, n, &index_of)),
        ArrayData::I64(v) => ArrayData::I64(permute(&v, n, &index_of)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_convert_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }
}
