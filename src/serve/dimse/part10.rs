//! What the sending side needs from a DICOM file (PS3.10 §7.1): its SOP class and instance, its
//! transfer syntax, and where its data set starts — the bytes after the file meta group are what a
//! C-STORE sends, in the file's own transfer syntax.
//!
//! The file meta group is read here rather than by dicom-object's `FileMetaTable`, which allocates
//! (and zero-fills) each element's declared length before reading it: a 1 KB file claiming a 4 GB
//! meta element would cost 4 GB. Here every length is checked against the group length and the file
//! first. [`reencode_explicit_le`] is the one place that parses the whole data set (dicom-object),
//! for a natively uncompressed file whose own transfer syntax the peer did not accept.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The file meta group may not be longer than this (it is some 200 bytes in practice).
pub const META_MAX: u32 = 1024 * 1024;

/// A DICOM file's identity and data set position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Media Storage SOP Class UID (0002,0002).
    pub sop_class_uid: String,
    /// Media Storage SOP Instance UID (0002,0003).
    pub sop_instance_uid: String,
    /// Transfer Syntax UID (0002,0010).
    pub transfer_syntax: String,
    /// Byte offset of the data set (after preamble, "DICM" and the file meta group).
    pub data_set_offset: u64,
    /// Bytes of the data set (to the end of the file).
    pub data_set_len: u64,
}

/// Reads a file's meta group. Files without the "DICM" prefix (bare data sets) are refused: they
/// carry no transfer syntax to send them in.
pub fn read_head(path: &Path) -> Result<Head, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let file_len = file
        .metadata()
        .map_err(|e| format!("cannot stat: {e}"))?
        .len();
    let mut prefix = Vec::with_capacity(132);
    file.by_ref()
        .take(132)
        .read_to_end(&mut prefix)
        .map_err(|e| format!("cannot read: {e}"))?;
    let start: u64 = if prefix.get(128..132) == Some(b"DICM") {
        132
    } else if prefix.get(0..4) == Some(b"DICM") {
        4
    } else {
        return Err("not a DICOM file with a file meta group (no \"DICM\" prefix)".into());
    };
    file.seek(SeekFrom::Start(start))
        .map_err(|e| format!("cannot seek: {e}"))?;
    let mut first = [0u8; 12];
    file.read_exact(&mut first)
        .map_err(|_| "file ends inside the file meta group".to_string())?;
    if first[0..8] != [0x02, 0x00, 0x00, 0x00, b'U', b'L', 0x04, 0x00] {
        return Err("file meta group does not begin with (0002,0000) UL group length".into());
    }
    let group_len = u32::from_le_bytes([first[8], first[9], first[10], first[11]]);
    let data_set_offset = start + 12 + u64::from(group_len);
    if group_len > META_MAX || data_set_offset > file_len {
        return Err(format!(
            "file meta group length {group_len} runs past the file ({file_len} bytes)"
        ));
    }
    let mut meta = vec![0u8; group_len as usize];
    file.read_exact(&mut meta)
        .map_err(|e| format!("cannot read the file meta group: {e}"))?;
    let (mut class, mut instance, mut ts) = (None, None, None);
    let mut at = 0usize;
    while at < meta.len() {
        let (element, value, next) =
            element_at(&meta, at).ok_or_else(|| format!("malformed file meta element at +{at}"))?;
        let text = || super::trim_uid(&String::from_utf8_lossy(value)).to_string();
        match element {
            0x0002 => class = Some(text()),
            0x0003 => instance = Some(text()),
            0x0010 => ts = Some(text()),
            _ => {}
        }
        at = next;
    }
    let need = |v: Option<String>, name: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or(format!("file meta group without {name}"))
    };
    Ok(Head {
        sop_class_uid: need(class, "Media Storage SOP Class UID")?,
        sop_instance_uid: need(instance, "Media Storage SOP Instance UID")?,
        transfer_syntax: need(ts, "Transfer Syntax UID")?,
        data_set_offset,
        data_set_len: file_len - data_set_offset,
    })
}

/// One explicit VR little endian element of group 0002 at `at`: element number, value, next offset.
fn element_at(meta: &[u8], at: usize) -> Option<(u16, &[u8], usize)> {
    let h = meta.get(at..at + 8)?;
    let group = u16::from_le_bytes([h[0], h[1]]);
    let element = u16::from_le_bytes([h[2], h[3]]);
    if group != 0x0002 {
        return None;
    }
    let vr = [h[4], h[5]];
    let (len, value_at) = if SHORT_VRS.contains(&vr) {
        (usize::from(u16::from_le_bytes([h[6], h[7]])), at + 8)
    } else {
        let l = meta.get(at + 8..at + 12)?;
        let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]);
        (usize::try_from(len).ok()?, at + 12)
    };
    let end = value_at.checked_add(len)?;
    Some((element, meta.get(value_at..end)?, end))
}

/// VRs with a 2-byte length in explicit VR (PS3.5 §7.1.2); every other code has the 4-byte form.
const SHORT_VRS: [[u8; 2]; 21] = [
    *b"AE", *b"AS", *b"AT", *b"CS", *b"DA", *b"DS", *b"DT", *b"FL", *b"FD", *b"IS", *b"LO", *b"LT",
    *b"PN", *b"SH", *b"SL", *b"SS", *b"ST", *b"TM", *b"UI", *b"UL", *b"US",
];

/// The file's data set re-encoded in Explicit VR Little Endian (dicom-object parses and writes
/// it), for a natively uncompressed file whose own transfer syntax the peer did not accept. A panic
/// inside dicom-rs on a strange file is caught and reported as an error.
pub fn reencode_explicit_le(path: &Path) -> Result<Vec<u8>, String> {
    let run = || -> Result<Vec<u8>, String> {
        let mut obj = dicom_object::open_file(path).map_err(|e| format!("cannot parse: {e}"))?;
        obj.meta_mut().transfer_syntax = super::EXPLICIT_VR_LE.to_string();
        let mut out = Vec::new();
        obj.write_dataset(&mut out)
            .map_err(|e| format!("cannot re-encode in Explicit VR Little Endian: {e}"))?;
        Ok(out)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .unwrap_or_else(|_| Err("dicom-rs panicked re-encoding the file".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_element(element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = vec![0x02, 0x00];
        v.extend_from_slice(&element.to_le_bytes());
        v.extend_from_slice(vr);
        if SHORT_VRS.contains(vr) {
            v.extend_from_slice(&(value.len() as u16).to_le_bytes());
        } else {
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&(value.len() as u32).to_le_bytes());
        }
        v.extend_from_slice(value);
        v
    }

    fn file(preamble: bool, group_len_bias: i64, elements: &[Vec<u8>], data: &[u8]) -> Vec<u8> {
        let body: Vec<u8> = elements.concat();
        let mut f = if preamble { vec![0u8; 128] } else { Vec::new() };
        f.extend_from_slice(b"DICM");
        f.extend_from_slice(&[0x02, 0, 0, 0, b'U', b'L', 4, 0]);
        f.extend_from_slice(&((body.len() as i64 + group_len_bias) as u32).to_le_bytes());
        f.extend_from_slice(&body);
        f.extend_from_slice(data);
        f
    }

    fn standard() -> Vec<Vec<u8>> {
        vec![
            meta_element(0x0001, b"OB", &[0, 1]),
            meta_element(0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0"),
            meta_element(0x0003, b"UI", b"1.2.3\0"),
            meta_element(0x0010, b"UI", b"1.2.840.10008.1.2\0"),
        ]
    }

    #[test]
    fn finds_the_identity_and_the_data_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        for preamble in [true, false] {
            let p = dir.path().join(format!("f{preamble}.dcm"));
            let bytes = file(preamble, 0, &standard(), b"DATASET!");
            std::fs::write(&p, &bytes).expect("write");
            let head = read_head(&p).expect("reads");
            assert_eq!(head.sop_class_uid, "1.2.840.10008.5.1.4.1.1.7");
            assert_eq!(head.sop_instance_uid, "1.2.3");
            assert_eq!(head.transfer_syntax, "1.2.840.10008.1.2");
            assert_eq!(head.data_set_len, 8);
            assert_eq!(&bytes[head.data_set_offset as usize..], b"DATASET!");
        }
    }

    #[test]
    fn refuses_lies_without_allocating_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f.dcm");
        let mut lying = standard();
        lying.push(meta_element(0x0100, b"OB", &[]));
        let n = lying.len() - 1;
        lying[n][8..12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let cases = [
            file(true, 0, &lying, b""),
            file(true, 0x7FFF_0000, &standard(), b""),
            file(true, -3, &standard(), b"xyz"),
            file(true, 0, &standard()[..2], b""),
            b"not dicom at all".to_vec(),
        ];
        for (i, bytes) in cases.iter().enumerate() {
            std::fs::write(&p, bytes).expect("write");
            assert!(read_head(&p).is_err(), "case {i} accepted");
        }
    }
}
