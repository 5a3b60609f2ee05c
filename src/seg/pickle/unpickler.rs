//! The pickle machine itself: the values a checkpoint pickle can build (with `GLOBAL`s kept as inert
//! names) and the opcode interpreter that builds them, checking every length against the bytes left.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::{Error, Result};

#[derive(Debug, Clone)]
pub(super) enum Value {
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
pub(super) struct Object {
    pub(super) module: String,
    pub(super) name: String,
    pub(super) args: Value,
    pub(super) state: Option<Value>,
}

impl Value {
    pub(super) fn kind(&self) -> &'static str {
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
    pub(super) fn as_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.to_string()),
            Value::Bytes(b) => Some(b.iter().map(|&c| char::from(c)).collect()),
            _ => None,
        }
    }
}

pub(super) struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    source: PathBuf,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl<'a> Unpickler<'a> {
    pub(super) fn new(data: &'a [u8], source: &Path) -> Self {
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

    pub(super) fn run(mut self) -> Result<Value> {
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
