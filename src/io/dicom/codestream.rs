//! The size a compressed frame claims, read from its codestream header before any decoder runs.
//!
//! Decoders allocate for the size their codestream declares, not for the DICOM Rows/Columns: one
//! flipped byte in a JPEG 2000 SIZ marker claimed 11 010 560 rows and grew past 6 GB, a JPEG whose SOF
//! claims 65535×65535 passed 3 GB in 3 s. So the first fragment's header is parsed here — JPEG's SOFn
//! (baseline, extended, lossless; PS3.5 A.4.1), JPEG-LS's SOF55 (A.4.3), JPEG 2000's SIZ in a raw
//! codestream or inside a JP2 file's `jp2c` box (A.4.4) — and a frame larger than the data set's
//! Rows × Columns is refused before the decoder can allocate for it. A header that cannot be found is
//! left to the decoder, whose output length is checked afterwards anyway.

/// What a codestream header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Sample precision in bits.
    pub bits: u32,
    /// Components (samples per pixel).
    pub components: u32,
}

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// The header of a JPEG-family (SOI-started) or JPEG 2000 fragment; `None` when none is recognised.
pub fn declared(fragment: &[u8]) -> Option<Declared> {
    if fragment.starts_with(&[0xFF, 0xD8]) {
        jpeg_frame_header(fragment)
    } else if fragment.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        j2k_siz(&fragment[2..])
    } else if fragment.get(4..8) == Some(b"jP  ") {
        jp2_codestream(fragment).and_then(|c| {
            c.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
                .then(|| j2k_siz(&c[2..]))
                .flatten()
        })
    } else {
        None
    }
}

/// Walks JPEG marker segments from SOI to the first frame header (SOF0–SOF15 but DHT, JPG and DAC;
/// SOF55 for JPEG-LS). At most 4096 segments are looked at.
fn jpeg_frame_header(b: &[u8]) -> Option<Declared> {
    let mut at = 2;
    for _ in 0..4096 {
        // Fill bytes (0xFF) may precede a marker.
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if *b.get(at)? != 0xFF {
            return None;
        }
        let marker = *b.get(at + 1)?;
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            at += 2;
            continue;
        }
        let len = be16(b, at + 2)? as usize;
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof || marker == 0xF7 {
            return Some(Declared {
                bits: u32::from(*b.get(at + 4)?),
                height: be16(b, at + 5)?,
                width: be16(b, at + 7)?,
                components: u32::from(*b.get(at + 9)?),
            });
        }
        if marker == 0xDA || len < 2 {
            return None;
        }
        at += 2 + len;
    }
    None
}

/// SIZ (A.5.1 of ITU-T T.800) starting at its marker: image size minus the image offset.
fn j2k_siz(siz: &[u8]) -> Option<Declared> {
    if siz.get(0..2) != Some(&[0xFF, 0x51]) {
        return None;
    }
    let xsiz = be32(siz, 6)?;
    let ysiz = be32(siz, 10)?;
    let xo = be32(siz, 14)?;
    let yo = be32(siz, 18)?;
    let components = be16(siz, 38)?;
    let ssiz = u32::from(*siz.get(40)?);
    Some(Declared {
        width: xsiz.checked_sub(xo)?,
        height: ysiz.checked_sub(yo)?,
        bits: (ssiz & 0x7F) + 1,
        components,
    })
}

/// The contiguous codestream box (`jp2c`) of a JP2 file; at most 64 boxes are looked at.
fn jp2_codestream(b: &[u8]) -> Option<&[u8]> {
    let mut at = 0usize;
    for _ in 0..64 {
        let len = be32(b, at)? as usize;
        let kind = b.get(at + 4..at + 8)?;
        let (header, body_len) = match len {
            0 => (8, b.len().checked_sub(at + 8)?),
            1 => {
                let hi = u64::from(be32(b, at + 8)?);
                let lo = u64::from(be32(b, at + 12)?);
                let total = usize::try_from((hi << 32) | lo).ok()?;
                (16, total.checked_sub(16)?)
            }
            n => (8, n.checked_sub(8)?),
        };
        let body = at + header;
        if kind == b"jp2c" {
            return b.get(body..);
        }
        at = body.checked_add(body_len)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sof(marker: u8, w: u16, h: u16) -> Vec<u8> {
        let mut v = vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, marker, 0x00, 0x0B, 12,
        ];
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&[1, 1, 0x11, 0]);
        v
    }

    #[test]
    fn jpeg_and_jpeg_ls_frame_headers_are_read_past_other_segments() {
        let d = declared(&sof(0xC1, 640, 480)).expect("SOF1");
        assert_eq!((d.width, d.height, d.bits, d.components), (640, 480, 12, 1));
        assert_eq!(
            declared(&sof(0xF7, 7, 9)).map(|d| (d.width, d.height)),
            Some((7, 9))
        );
        // DHT (C4) is not a frame header.
        assert_eq!(declared(&sof(0xC4, 1, 1)), None);
    }

    fn siz(w: u32, h: u32, xo: u32, yo: u32) -> Vec<u8> {
        let mut v = vec![0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0x00, 0x00];
        for x in [w, h, xo, yo, 0, 0, 0, 0] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(&[0x00, 0x01, 0x0F, 1, 1]);
        v
    }

    #[test]
    fn jpeg2000_siz_in_a_codestream_and_in_a_jp2_box() {
        let raw = siz(300, 200, 10, 20);
        let d = declared(&raw).expect("codestream");
        assert_eq!((d.width, d.height, d.bits, d.components), (290, 180, 16, 1));
        let mut jp2 = vec![0, 0, 0, 12];
        jp2.extend_from_slice(b"jP  \r\n\x87\n");
        jp2.extend_from_slice(&[0, 0, 0, 20]);
        jp2.extend_from_slice(b"ftypjp2 \0\0\0\0jp2 ");
        jp2.extend_from_slice(&((raw.len() + 8) as u32).to_be_bytes());
        jp2.extend_from_slice(b"jp2c");
        jp2.extend_from_slice(&raw);
        assert_eq!(declared(&jp2), Some(d));
    }

    #[test]
    fn truncated_and_unknown_streams_declare_nothing() {
        let full = sof(0xC0, 5, 5);
        for n in 0..full.len() - 5 {
            let _ = declared(&full[..n]);
        }
        assert_eq!(declared(&full[..10]), None);
        assert_eq!(declared(b"not a codestream"), None);
        let s = siz(1, 1, 0, 0);
        assert_eq!(declared(&s[..20]), None);
    }
}
