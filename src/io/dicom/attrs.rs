//! Attribute access that survives the explicit-VR `UN` trap.
//!
//! Some explicit-VR files encode standard attributes (Rows, RescaleIntercept, WindowCenter...) with VR
//! `UN`. dicom-rs then keeps the raw value bytes, and its `to_int()`/`to_float64()` read those bytes as
//! if they were numbers themselves (`"-1024"` becomes `[45, 49, 48, 50, 52]`), or fail. Every attribute
//! radpipe uses goes through this layer instead: when an element's VR is `UN`, its bytes are decoded
//! according to the VR the standard dictionary gives the tag (`UN` values are always encoded as in
//! Implicit VR Little Endian, PS3.5 6.2.2): DS/IS as backslash-separated ASCII numbers, US/SS/UL/SL/FL/FD
//! as little-endian binary, text VRs as trimmed text.
//!
//! Accessors return `None` for absent, empty or unparseable values; callers decide what is required.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;

/// The data set type radpipe reads into (standard dictionary).
pub(crate) type Obj = InMemDicomObject;
/// One element of an [`Obj`].
pub(crate) type Elem = InMemElement;

/// The VR the standard dictionary gives `tag`, with context-dependent VRs relaxed (US or SS → US,
/// OB or OW → OW, US or OW → OW).
fn dictionary_vr(tag: Tag) -> Option<VR> {
    StandardDataDictionary.by_tag(tag).map(|e| match e.vr() {
        VirtualVr::Exact(vr) => vr,
        other => other.relaxed(),
    })
}

/// Trims the padding DICOM allows around text values: spaces and NULs (and other whitespace, which
/// some writers use).
fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
}

/// Parses backslash-separated decimal numbers (DS, IS). `None` when the text is empty or any
/// component is not a finite number.
fn parse_numbers(text: &str) -> Option<Vec<f64>> {
    if trim(text).is_empty() {
        return None;
    }
    text.split('\\')
        .map(|part| trim(part).parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect()
}

/// Little-endian fixed-size chunks of `bytes`, each turned into an f64 by `f`. Trailing bytes that do
/// not fill a chunk are ignored.
fn le_chunks<const N: usize>(bytes: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
    bytes
        .chunks_exact(N)
        .filter_map(|c| <[u8; N]>::try_from(c).ok())
        .map(f)
        .collect()
}

/// Numbers from the raw bytes of a `UN` element, decoded by the dictionary VR of `tag`.
fn un_numbers(tag: Tag, bytes: &[u8]) -> Option<Vec<f64>> {
    let values = match dictionary_vr(tag)? {
        VR::DS | VR::IS | VR::CS | VR::LO | VR::SH | VR::UI | VR::ST | VR::LT | VR::UT => {
            return parse_numbers(&String::from_utf8_lossy(bytes));
        }
        VR::US | VR::OW => le_chunks::<2>(bytes, |b| f64::from(u16::from_le_bytes(b))),
        VR::SS => le_chunks::<2>(bytes, |b| f64::from(i16::from_le_bytes(b))),
        VR::UL | VR::OL => le_chunks::<4>(bytes, |b| f64::from(u32::from_le_bytes(b))),
        VR::SL => le_chunks::<4>(bytes, |b| f64::from(i32::from_le_bytes(b))),
        VR::FL | VR::OF => le_chunks::<4>(bytes, |b| f64::from(f32::from_le_bytes(b))),
        VR::FD | VR::OD => le_chunks::<8>(bytes, f64::from_le_bytes),
        VR::OB => bytes.iter().map(|&b| f64::from(b)).collect(),
        _ => return None,
    };
    (!values.is_empty()).then_some(values)
}

/// Numbers of a primitive value decoded by dicom-rs (any VR but `UN`).
fn primitive_numbers(value: &PrimitiveValue) -> Option<Vec<f64>> {
    fn widen<T: Copy>(v: &[T], f: impl Fn(T) -> f64) -> Vec<f64> {
        v.iter().map(|&x| f(x)).collect()
    }
    let values = match value {
        PrimitiveValue::Strs(s) => {
            let mut out = Vec::with_capacity(s.len());
            for part in s.iter() {
                out.extend(parse_numbers(part)?);
            }
            out
        }
        PrimitiveValue::Str(s) => parse_numbers(s)?,
        PrimitiveValue::U8(v) => widen(v, f64::from),
        PrimitiveValue::I16(v) => widen(v, f64::from),
        PrimitiveValue::U16(v) => widen(v, f64::from),
        PrimitiveValue::I32(v) => widen(v, f64::from),
        PrimitiveValue::U32(v) => widen(v, f64::from),
        PrimitiveValue::I64(v) => widen(v, |x| x as f64),
        PrimitiveValue::U64(v) => widen(v, |x| x as f64),
        PrimitiveValue::F32(v) => widen(v, f64::from),
        PrimitiveValue::F64(v) => v.to_vec(),
        PrimitiveValue::Empty
        | PrimitiveValue::Tags(_)
        | PrimitiveValue::Date(_)
        | PrimitiveValue::DateTime(_)
        | PrimitiveValue::Time(_) => return None,
    };
    let finite = values.iter().all(|v| v.is_finite());
    (finite && !values.is_empty()).then_some(values)
}

/// All numeric values of an element (`UN` re-decoded by the dictionary VR).
pub(crate) fn element_numbers(elem: &Elem) -> Option<Vec<f64>> {
    let value = elem.value().primitive()?;
    if elem.vr() == VR::UN {
        un_numbers(elem.tag(), &value.to_bytes())
    } else {
        primitive_numbers(value)
    }
}

/// All numeric values of `tag` in `obj`.
pub(crate) fn numbers(obj: &Obj, tag: Tag) -> Option<Vec<f64>> {
    element_numbers(obj.get(tag)?)
}

/// All numeric values of `tag`, refusing a present value that is not a list of finite numbers (`NaN`,
/// `inf`, text) instead of treating it as absent: a display or rescale attribute that cannot be read
/// must not silently turn into a default. `name` names the attribute in the error; an empty value
/// (Type 2) counts as absent.
pub(crate) fn numbers_checked(obj: &Obj, tag: Tag, name: &str) -> Result<Option<Vec<f64>>, String> {
    let Some(elem) = obj.get(tag) else {
        return Ok(None);
    };
    if let Some(values) = element_numbers(elem) {
        return Ok(Some(values));
    }
    match text(obj, tag) {
        None => Ok(None),
        Some(t) => {
            let shown: String = t.chars().take(40).collect();
            Err(format!(
                "{name} ({:04X},{:04X}) is '{shown}', not a finite number",
                tag.group(),
                tag.element()
            ))
        }
    }
}

/// The first numeric value of `tag`.
pub(crate) fn number(obj: &Obj, tag: Tag) -> Option<f64> {
    numbers(obj, tag)?.first().copied()
}

/// The first value of `tag` as an integer; `None` when absent or not integral.
pub(crate) fn int(obj: &Obj, tag: Tag) -> Option<i64> {
    let v = number(obj, tag)?;
    (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
}

/// The first value of `tag` as a `u16`; `None` when absent, not integral or out of range.
pub(crate) fn uint16(obj: &Obj, tag: Tag) -> Option<u16> {
    int(obj, tag).and_then(|v| u16::try_from(v).ok())
}

/// The value of `tag` as text: multiple values joined with `\`, padding trimmed, `None` when empty.
pub(crate) fn text(obj: &Obj, tag: Tag) -> Option<String> {
    let elem = obj.get(tag)?;
    let value = elem.value().primitive()?;
    let raw = if elem.vr() == VR::UN {
        String::from_utf8_lossy(&value.to_bytes()).into_owned()
    } else {
        match value {
            PrimitiveValue::Strs(_) | PrimitiveValue::Str(_) => value.to_str().into_owned(),
            // Dates and times are only decoded this way by the "interpreted" read strategy, and
            // numbers stored as binary have no useful text form here.
            _ => value.to_str().into_owned(),
        }
    };
    let joined: Vec<&str> = raw.split('\\').map(trim).collect();
    let out = joined.join("\\");
    (!trim(&out).is_empty()).then_some(out)
}

/// The raw 16-bit words of an element, for LUT Descriptor and LUT Data: `US` and `OW` values as they
/// are, `SS` values as their two's-complement bit patterns, `UN`/`OB` bytes paired little-endian.
/// Interpreting a word as signed or unsigned is left to the caller (it depends on context).
pub(crate) fn element_words(elem: &Elem) -> Option<Vec<u16>> {
    let value = elem.value().primitive()?;
    let words: Vec<u16> = match value {
        PrimitiveValue::U16(v) => v.to_vec(),
        PrimitiveValue::I16(v) => v.iter().map(|&x| x as u16).collect(),
        PrimitiveValue::U8(b) => b
            .chunks_exact(2)
            .map(|c| match c {
                [lo, hi] => u16::from_le_bytes([*lo, *hi]),
                _ => 0,
            })
            .collect(),
        PrimitiveValue::Empty => return None,
        other => primitive_numbers(other)?
            .into_iter()
            .map(|v| {
                if v < 0.0 {
                    (v as i64 as i16) as u16
                } else {
                    v as u16
                }
            })
            .collect(),
    };
    (!words.is_empty()).then_some(words)
}

/// The items of the sequence `tag`, or `None` when absent or not a sequence.
pub(crate) fn items(obj: &Obj, tag: Tag) -> Option<&[Obj]> {
    match obj.get(tag)?.value() {
        Value::Sequence(seq) => Some(seq.items()),
        _ => None,
    }
}

/// The first item of the sequence `tag`.
pub(crate) fn first_item(obj: &Obj, tag: Tag) -> Option<&Obj> {
    items(obj, tag)?.first()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::DataElement;
    use dicom_dictionary_std::tags;

    fn un(tag: Tag, bytes: &[u8]) -> Elem {
        DataElement::new(
            tag,
            VR::UN,
            PrimitiveValue::U8(bytes.iter().copied().collect()),
        )
    }

    #[test]
    fn un_text_numbers_are_parsed_as_text() {
        let mut obj = Obj::new_empty();
        obj.put(un(tags::RESCALE_INTERCEPT, b"-1024 "));
        obj.put(un(tags::WINDOW_CENTER, b"40\\400 "));
        assert_eq!(number(&obj, tags::RESCALE_INTERCEPT), Some(-1024.0));
        assert_eq!(numbers(&obj, tags::WINDOW_CENTER), Some(vec![40.0, 400.0]));
    }

    #[test]
    fn un_binary_numbers_are_little_endian() {
        let mut obj = Obj::new_empty();
        obj.put(un(tags::ROWS, &512u16.to_le_bytes()));
        obj.put(un(tags::LUT_DESCRIPTOR, &[0, 0, 0x00, 0x80, 16, 0]));
        assert_eq!(uint16(&obj, tags::ROWS), Some(512));
        let words = obj.get(tags::LUT_DESCRIPTOR).and_then(element_words);
        assert_eq!(words, Some(vec![0, 0x8000, 16]));
    }

    #[test]
    fn typed_values_and_padding() {
        let mut obj = Obj::new_empty();
        obj.put(DataElement::new(
            tags::PIXEL_SPACING,
            VR::DS,
            PrimitiveValue::Strs([" 0.5".to_string(), "0.25\0".to_string()].into()),
        ));
        obj.put(DataElement::new(
            tags::MODALITY,
            VR::CS,
            PrimitiveValue::from("CT "),
        ));
        obj.put(DataElement::new(
            tags::RESCALE_SLOPE,
            VR::DS,
            PrimitiveValue::from("abc"),
        ));
        assert_eq!(numbers(&obj, tags::PIXEL_SPACING), Some(vec![0.5, 0.25]));
        assert_eq!(text(&obj, tags::MODALITY).as_deref(), Some("CT"));
        assert_eq!(number(&obj, tags::RESCALE_SLOPE), None);
        assert_eq!(int(&obj, tags::COLUMNS), None);
    }
}
