//! Deterministic UIDs and Decimal Strings for derived objects.
//!
//! A derived object's UIDs are `2.25.` UUID-form UIDs (PS3.5 B.2) taken from a SHA-256 of what
//! defines it, so the same inputs and derivation give the same UIDs on every run and on every machine
//! that computes the same pixels — a rerun replaces the object in a PACS instead of adding a copy.

use crate::Pixels;

/// A UID `2.25.<decimal of 128 bits>` (PS3.5 B.2) from a SHA-256 of `kind` and `parts` (each
/// length-prefixed so different splits cannot collide): the same inputs always give the same UID.
pub(super) fn derived_uid(kind: &str, parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"radpipe derived UID v1\0");
    hash.update(kind.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

/// The samples as bytes (native order; only hashed, never written).
pub(super) fn pixel_bytes(pixels: &Pixels) -> &[u8] {
    match pixels {
        Pixels::U8(v) => v,
        Pixels::U16(v) => bytemuck::cast_slice(v),
        Pixels::I16(v) => bytemuck::cast_slice(v),
        Pixels::F32(v) => bytemuck::cast_slice(v),
    }
}

/// A Decimal String (at most 16 characters) for `v`: the shortest exact text when it fits, else the
/// closer of the best fixed-point and the best exponent form.
pub(super) fn ds(v: f64) -> String {
    // -0 (a cosine of a turned image) is plain 0 in a DICOM number.
    let v = if v == 0.0 { 0.0 } else { v };
    let exact = format!("{v}");
    if exact.len() <= 16 {
        return exact;
    }
    let fixed = (0..=15usize)
        .rev()
        .map(|p| format!("{v:.p$}"))
        .find(|s| s.len() <= 16)
        .map(|s| {
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s
            }
        });
    let exp = (0..=15usize)
        .rev()
        .map(|p| format!("{v:.p$e}"))
        .find(|s| s.len() <= 16);
    let error = |s: &String| s.parse::<f64>().map_or(f64::INFINITY, |x| (x - v).abs());
    match (fixed, exp) {
        (Some(f), Some(e)) => {
            if error(&f) <= error(&e) {
                f
            } else {
                e
            }
        }
        (Some(f), None) => f,
        (None, Some(e)) => e,
        (None, None) => exact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_16_chars() {
        for v in [
            0.1 + 0.2,
            1e-20,
            -1024.0,
            123456789012345678.0,
            -0.000123456789123,
            2.0 / 3.0,
            -1.0e300,
        ] {
            let s = ds(v);
            assert!(s.len() <= 16, "{v} -> {s}");
            let back: f64 = s.parse().expect("parse");
            assert!((back - v).abs() <= v.abs() * 1e-9, "{v} -> {s}");
        }
        assert_eq!(ds(0.5), "0.5");
        assert_eq!(ds(-1024.0), "-1024");
        assert_eq!(ds(-0.0), "0");
    }

    #[test]
    fn uids_are_2_25_decimal_and_deterministic() {
        let a = derived_uid("instance", &[b"1.2.3", b"window"]);
        let b = derived_uid("instance", &[b"1.2.3", b"windo"]);
        let c = derived_uid("instance", &[b"1.2.3w", b"indow"]);
        assert_eq!(a, derived_uid("instance", &[b"1.2.3", b"window"]));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, derived_uid("series", &[b"1.2.3", b"window"]));
        let digits = a.strip_prefix("2.25.").expect("prefix");
        assert!(digits.chars().all(|c| c.is_ascii_digit()));
        assert!(digits == "0" || !digits.starts_with('0'));
        assert!(a.len() <= 64);
    }
}
