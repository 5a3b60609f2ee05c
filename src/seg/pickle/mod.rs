//! A small reader for the Python pickles that hold PaddlePaddle checkpoints (`.pdparams`): a dict from
//! parameter name to numpy array. `paddle.save(model.state_dict(), path)` writes protocol 4 with numpy's
//! `_reconstruct` reduction; older Python-2-era checkpoints use protocol 2, where numpy stores the raw
//! bytes as a latin-1 string passed through `_codecs.encode`. Both are read here without Python.
//!
//! This is not a general unpickler and it runs no code: `GLOBAL` names are kept as plain strings, and
//! only three callables are given meaning — `numpy…_reconstruct` + `BUILD` (an array),
//! `numpy.dtype` + `BUILD` (its byte order) and `_codecs.encode(str, "latin1")` (bytes). Anything
//! else becomes an inert object the caller can skip or reject. Lengths are checked against the bytes
//! left before anything is allocated, so a truncated or hostile file fails with an error, not a panic
//! or a huge allocation.

mod arrays;
mod unpickler;

use std::path::Path;

use arrays::as_array;
use unpickler::{Unpickler, Value};

use crate::{Error, Result};

/// Element data of an array read from a pickle, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    /// `float16` and `float32` arrays.
    F32(Vec<f32>),
    /// `float64` arrays.
    F64(Vec<f64>),
    /// Signed and unsigned integer and bool arrays (unsigned 64-bit values above `i64::MAX` are refused).
    I64(Vec<i64>),
}

impl ArrayData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ArrayData::F32(v) => v.len(),
            ArrayData::F64(v) => v.len(),
            ArrayData::I64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as f64 (exact for every float32 and float64 value).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            ArrayData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            ArrayData::F64(v) => v.clone(),
            ArrayData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
}

/// A numpy array read from a pickle.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// numpy's dtype code as written (`f4`, `f8`, `i8`, …).
    pub dtype: String,
    /// Dimensions (empty for a 0-d array).
    pub shape: Vec<usize>,
    /// Elements in C order (Fortran-ordered arrays are transposed on reading).
    pub data: ArrayData,
}

/// What a `.pdparams` pickle holds: the arrays by name, and the names of entries that are not arrays
/// (paddle's `StructuredToParameterName@@` map, optimizer scalars…), which the importer ignores.
#[derive(Debug, Clone, Default)]
pub struct PickledArrays {
    /// Arrays by name, in file order.
    pub arrays: Vec<(String, NdArray)>,
    /// Keys whose values are not arrays.
    pub other_keys: Vec<String>,
}

/// Reads a pickle file of `{name: ndarray}`.
pub fn read_pickled_arrays(path: &Path) -> Result<PickledArrays> {
    let bytes = crate::io::gate::read(path, crate::io::gate::InputKind::Model)?;
    parse_pickled_arrays(&bytes, path)
}

/// Parses pickle bytes of `{name: ndarray}`; `source` names the file in errors.
pub fn parse_pickled_arrays(bytes: &[u8], source: &Path) -> Result<PickledArrays> {
    let value = Unpickler::new(bytes, source).run()?;
    let err = |m: String| Error::format(source, m);
    let Value::Dict(dict) = value else {
        return Err(err(format!(
            "not a PaddlePaddle checkpoint: the pickle holds {}, not a dict of arrays",
            value.kind()
        )));
    };
    let mut out = PickledArrays::default();
    for (key, value) in dict.borrow().iter() {
        let name = key
            .as_text()
            .ok_or_else(|| err(format!("a dict key is {}, not a string", key.kind())))?;
        match as_array(value, &name, source)? {
            Some(array) => out.arrays.push((name, array)),
            None => out.other_keys.push(name),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_foreign_pickles_are_errors() {
        let p = Path::new("x.pdparams");
        assert!(parse_pickled_arrays(b"\x80\x04}", p).is_err());
        assert!(parse_pickled_arrays(b"", p).is_err());
        // A pickle of the int 5 is not a dict.
        let e = parse_pickled_arrays(b"\x80\x04K\x05.", p)
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("not a dict"), "{e}");
        // Opcodes paddle never writes are refused by name.
        let e = parse_pickled_arrays(b"\x80\x04I1\n.", p)
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("opcode 0x49"), "{e}");
    }
}
