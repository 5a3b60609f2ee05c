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

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

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

#[derive(Debug, Clone)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float,
    Str(Rc<str>),
    Bytes(Rc<Vec<u8>>),
    Tuple(Rc<Vec<Value>>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(Rc<(String, String)>),
    Object(Rc<RefCell<Object>>),
}

#[derive(Debug)]
struct Object {
    module: String,
    name: String,
    args: Value,
    state: Option<Value>,
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float => "a float",
            Value::Str(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Global(_) => "a class reference",
            Value::Object(_) => "an object",
        }
    }

    /// A dict key or string as text (Python 2 `str` keys arrive as bytes).
    fn as_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.to_string()),
            Value::Bytes(b) => Some(b.iter().map(|&c| char::from(c)).collect()),
            _ => None,
        }
    }
}

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    source: PathBuf,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl<'a> Unpickler<'a> {
    fn new(data: &'a [u8], source: &Path) -> Self {
        Unpickler {
            data,
            pos: 0,
            source: source.to_path_buf(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::format(
            &self.source,
            format!("pickle: {message} (at byte {})", self.pos),
        )
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.data.len() - self.pos {
            return Err(self.err(format!(
                "truncated: {n} bytes needed, {} left",
                self.data.len() - self.pos
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len_u64(&mut self) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| self.err(format!("length {n} too large")))
    }

    fn text(&mut self, n: usize) -> Result<Value> {
        let raw = self.take(n)?;
        let s = std::str::from_utf8(raw).map_err(|_| self.err("string is not UTF-8"))?;
        Ok(Value::Str(Rc::from(s)))
    }

    fn bytes(&mut self, n: usize) -> Result<Value> {
        Ok(Value::Bytes(Rc::new(self.take(n)?.to_vec())))
    }

    fn line(&mut self) -> Result<String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or_else(|| self.err("unterminated line in GLOBAL"))?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }

    fn pop(&mut self) -> Result<Value> {
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top(&mut self) -> Result<&mut Value> {
        let pos = self.pos;
        let source = self.source.clone();
        self.stack.last_mut().ok_or_else(|| {
            Error::format(source, format!("pickle: stack underflow (at byte {pos})"))
        })
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>> {
        let mark = self
            .marks
            .pop()
            .ok_or_else(|| self.err("MARK expected on the stack"))?;
        if mark > self.stack.len() {
            return Err(self.err("MARK above the stack top"));
        }
        Ok(self.stack.split_off(mark))
    }

    fn memo_get(&self, index: u32) -> Result<Value> {
        self.memo
            .get(&index)
            .cloned()
            .ok_or_else(|| self.err(format!("memo entry {index} used before it was stored")))
    }

    fn memo_put(&mut self, index: u32) -> Result<()> {
        let top = self
            .stack
            .last()
            .cloned()
            .ok_or_else(|| self.err("stack underflow"))?;
        self.memo.insert(index, top);
        Ok(())
    }

    fn push_items_to_dict(&mut self, items: Vec<Value>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("SETITEMS with an odd number of items"));
        }
        let Value::Dict(dict) = self.top()?.clone() else {
            return Err(self.err("SETITEM(S) on something that is not a dict"));
        };
        let mut d = dict.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }

    fn reduce(&mut self, callable: Value, args: Value) -> Result<Value> {
        let Value::Global(g) = callable else {
            return Err(self.err(format!(
                "REDUCE of {}, not a class reference",
                callable.kind()
            )));
        };
        let (module, name) = (g.0.as_str(), g.1.as_str());
        let argv: Vec<Value> = match &args {
            Value::Tuple(t) => t.as_ref().clone(),
            _ => return Err(self.err("REDUCE arguments are not a tuple")),
        };
        match (module, name) {
            ("_codecs", "encode") => {
                // numpy under protocol 2: encode(latin-1 text of the raw bytes, "latin1").
                let (Some(Value::Str(text)), Some(enc)) = (argv.first(), argv.get(1)) else {
                    return Err(self.err("_codecs.encode needs (str, encoding)"));
                };
                let enc = enc.as_text().unwrap_or_default().to_ascii_lowercase();
                if enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1" {
                    return Err(self.err(format!("_codecs.encode with encoding '{enc}'")));
                }
                let bytes = text
                    .chars()
                    .map(|c| u8::try_from(u32::from(c)).map_err(|_| ()))
                    .collect::<std::result::Result<Vec<u8>, ()>>()
                    .map_err(|_| self.err("latin-1 text with a character above U+00FF"))?;
                Ok(Value::Bytes(Rc::new(bytes)))
            }
            ("builtins" | "__builtin__", "tuple") => match argv.into_iter().next() {
                Some(Value::Tuple(t)) => Ok(Value::Tuple(t)),
                Some(Value::List(l)) => Ok(Value::Tuple(Rc::new(l.borrow().clone()))),
                None => Ok(Value::Tuple(Rc::new(Vec::new()))),
                Some(other) => Err(self.err(format!("tuple() of {}", other.kind()))),
            },
            _ => Ok(Value::Object(Rc::new(RefCell::new(Object {
                module: module.to_string(),
                name: name.to_string(),
                args,
                state: None,
            })))),
        }
    }

    fn run(mut self) -> Result<Value> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(self.err(format!("pickle protocol {proto} is not supported")));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self
                    .stack
                    .push(Value::Dict(Rc::new(RefCell::new(Vec::new())))),
                b']' => self
                    .stack
                    .push(Value::List(Rc::new(RefCell::new(Vec::new())))),
                b')' => self.stack.push(Value::Tuple(Rc::new(Vec::new()))),
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack
                        .push(Value::Dict(Rc::new(RefCell::new(Vec::new()))));
                    self.push_items_to_dict(items)?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::List(Rc::new(RefCell::new(items))));
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    if self.stack.len() < n {
                        return Err(self.err("stack underflow in TUPLEn"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(Rc::new(items)));
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.push_items_to_dict(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.push_items_to_dict(items)?;
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![self.pop()?]
                    } else {
                        self.pop_mark()?
                    };
                    let Value::List(list) = self.top()?.clone() else {
                        return Err(self.err("APPEND(S) on something that is not a list"));
                    };
                    list.borrow_mut().extend(items);
                }
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(i64::from(v)));
                }
                0x8a => {
                    let n = usize::from(self.u8()?);
                    let raw = self.take(n)?;
                    if n > 8 {
                        return Err(self.err(format!("LONG1 of {n} bytes does not fit 64 bits")));
                    }
                    let mut v: i64 = 0;
                    for (i, &b) in raw.iter().enumerate() {
                        v |= i64::from(b) << (8 * i);
                    }
                    if n > 0 && n < 8 && raw[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v));
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    let _ = f64::from_be_bytes(a);
                    self.stack.push(Value::Float);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.len_u64()?;
                    let v = self.text(n)?;
                    self.stack.push(v);
                }
                b'B' | b'T' => {
                    let n = self.u32()? as usize;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                b'C' | b'U' => {
                    let n = usize::from(self.u8()?);
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                0x8e => {
                    let n = self.len_u64()?;
                    let v = self.bytes(n)?;
                    self.stack.push(v);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Value::Global(Rc::new((module, name))));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(m), Value::Str(n)) = (module, name) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    self.stack
                        .push(Value::Global(Rc::new((m.to_string(), n.to_string()))));
                }
                b'R' | 0x81 => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.stack.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    match self.top()? {
                        Value::Object(o) => o.borrow_mut().state = Some(state),
                        other => {
                            let kind = other.kind();
                            return Err(self.err(format!("BUILD on {kind}")));
                        }
                    }
                }
                0x94 => {
                    let index = self.memo.len() as u32;
                    self.memo_put(index)?;
                }
                b'q' => {
                    let i = u32::from(self.u8()?);
                    self.memo_put(i)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?;
                }
                b'h' => {
                    let i = u32::from(self.u8()?);
                    let v = self.memo_get(i)?;
                    self.stack.push(v);
                }
                b'j' => {
                    let i = self.u32()?;
                    let v = self.memo_get(i)?;
                    self.stack.push(v);
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.stack.push(v);
                }
                other => {
                    self.pos -= 1;
                    return Err(self.err(format!(
                        "opcode 0x{other:02x} ('{}') is not used by PaddlePaddle checkpoints and is not supported",
                        char::from(other).escape_default()
                    )));
                }
            }
        }
    }
}

/// Interprets `value` as a numpy array if it is one (`None` for other values).
fn as_array(value: &Value, name: &str, source: &Path) -> Result<Option<NdArray>> {
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
