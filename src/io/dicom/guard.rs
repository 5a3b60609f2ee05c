//! A pre-scan of the element headers, so that a lying length cannot make dicom-rs allocate gigabytes.
//!
//! dicom-rs 0.10 allocates and zero-fills a value's full declared length before reading it: a 10 KB
//! file whose Pixel Data header claims 4 GiB costs 4 GiB of memory and seconds of memset before the
//! read fails. This walk reads only headers, seeking over values, and refuses any element, item or
//! fragment whose defined length runs past the end of the file, and sequences nested absurdly deep
//! (dicom-rs builds nested items recursively). It follows defined- and undefined-length sequences and
//! items and encapsulated pixel data fragments, interpreting headers exactly as dicom-rs's decoders do
//! (an unknown VR code is `UN` with a 4-byte length; any undefined-length element other than Pixel Data
//! is a sequence in the same syntax), and the file meta group exactly as dicom-rs's `FileMetaTable` does
//! (its group length decides where the data set starts), so that the two walks agree. Deflated data
//! sets are inflated in a streaming pass (refused beyond 4 GiB) and walked the same way.

use std::io::{Read, Seek, SeekFrom};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// Containers (sequences and items) nested deeper than this are refused.
const MAX_DEPTH: usize = 128;
const UNDEFINED: u32 = 0xFFFF_FFFF;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    ImplicitLe,
    ExplicitLe,
    ExplicitBe,
}

impl Syntax {
    /// The data set encoding of a transfer syntax; `None` for deflated ones (see [`scan_deflated`]).
    pub(super) fn of(ts_uid: &str) -> Option<Syntax> {
        match ts_uid.trim_end_matches(['\0', ' ']) {
            "1.2.840.10008.1.2" => Some(Syntax::ImplicitLe),
            "1.2.840.10008.1.2.2" => Some(Syntax::ExplicitBe),
            "1.2.840.10008.1.2.1.99" | "1.2.840.10008.1.2.4.95" => None,
            _ => Some(Syntax::ExplicitLe),
        }
    }
}

/// A container the walk is inside.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// An undefined-length sequence (or `UN`) holding items of data sets encoded in `Syntax`.
    Items(Syntax),
    /// Undefined-length encapsulated pixel data: items are opaque fragments.
    Fragments,
    /// A defined-length sequence or item, ending at `end`, its content encoded in `syntax`.
    Bounded { end: u64, syntax: Syntax },
}

struct Walker<'r, R> {
    r: &'r mut R,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Walker<'_, R> {
    /// Reads `N` bytes; `None` at the end of the data.
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).ok()?;
        self.pos += N as u64;
        Some(b)
    }

    fn u16(&mut self, s: Syntax) -> Option<u16> {
        let b = self.bytes::<2>()?;
        Some(match s {
            Syntax::ExplicitBe => u16::from_be_bytes(b),
            _ => u16::from_le_bytes(b),
        })
    }

    fn u32(&mut self, s: Syntax) -> Option<u32> {
        let b = self.bytes::<4>()?;
        Some(match s {
            Syntax::ExplicitBe => u32::from_be_bytes(b),
            _ => u32::from_le_bytes(b),
        })
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        self.r
            .seek(SeekFrom::Current(n as i64))
            .map_err(|e| format!("cannot seek: {e}"))?;
        self.pos += n;
        Ok(())
    }

    fn check(&self, tag: Tag, len: u32) -> Result<(), String> {
        let left = self.len.saturating_sub(self.pos);
        if u64::from(len) > left {
            return Err(format!(
                "element ({:04X},{:04X}) declares {len} bytes but only {left} remain; the file is truncated or corrupt",
                tag.0, tag.1
            ));
        }
        Ok(())
    }
}

/// Scans the data set that starts at the reader's current position (`pos`), in `syntax`, up to `len`.
pub(super) fn scan<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    len: u64,
    syntax: Syntax,
) -> Result<(), String> {
    let mut w = Walker { r, pos, len };
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        while let Some(Frame::Bounded { end, .. }) = stack.last() {
            if w.pos < *end {
                break;
            }
            stack.pop();
        }
        if stack.len() > MAX_DEPTH {
            return Err(format!(
                "sequences and items nested more than {MAX_DEPTH} levels deep"
            ));
        }
        let syntax = match stack.last() {
            Some(Frame::Items(s) | Frame::Bounded { syntax: s, .. }) => *s,
            Some(Frame::Fragments) | None => syntax,
        };
        // Item and delimiter tags have no VR in any syntax; only their byte order varies.
        let item_syntax = if syntax == Syntax::ExplicitBe {
            Syntax::ExplicitBe
        } else {
            Syntax::ExplicitLe
        };
        let Some(group) = w.u16(item_syntax) else {
            return Ok(());
        };
        let Some(element) = w.u16(item_syntax) else {
            return Ok(());
        };
        let tag = Tag(group, element);
        if group == 0xFFFE {
            let Some(len) = w.u32(item_syntax) else {
                return Ok(());
            };
            match element {
                0xE000 if len != UNDEFINED => {
                    w.check(tag, len)?;
                    if matches!(stack.last(), Some(Frame::Fragments)) {
                        w.skip(u64::from(len))?;
                    } else {
                        stack.push(Frame::Bounded {
                            end: w.pos + u64::from(len),
                            syntax,
                        });
                    }
                }
                0xE0DD => {
                    if matches!(stack.last(), Some(Frame::Items(_) | Frame::Fragments)) {
                        stack.pop();
                    }
                }
                _ => {}
            }
            continue;
        }
        let (vr, len) = match syntax {
            Syntax::ImplicitLe => {
                let Some(len) = w.u32(syntax) else {
                    return Ok(());
                };
                (dictionary_vr(tag), len)
            }
            Syntax::ExplicitLe | Syntax::ExplicitBe => {
                let Some((vr, len, _)) = vr_and_length(&mut w, syntax) else {
                    return Ok(());
                };
                (Some(vr), len)
            }
        };
        if len == UNDEFINED {
            // dicom-rs reads any other undefined-length element as a sequence, in the same syntax.
            stack.push(if tag == Tag(0x7FE0, 0x0010) {
                Frame::Fragments
            } else {
                Frame::Items(syntax)
            });
            continue;
        }
        w.check(tag, len)?;
        if vr == Some(VR::SQ) {
            stack.push(Frame::Bounded {
                end: w.pos + u64::from(len),
                syntax,
            });
        } else {
            w.skip(u64::from(len))?;
        }
    }
}

fn dictionary_vr(tag: Tag) -> Option<VR> {
    StandardDataDictionary.by_tag(tag).map(|e| match e.vr() {
        VirtualVr::Exact(vr) => vr,
        other => other.relaxed(),
    })
}

/// Reads the file meta group at the reader's position exactly as dicom-rs 0.10's `FileMetaTable` does,
/// so that both agree on where the data set starts: the first element must be (0002,0000) with a
/// 4-byte value (the group length); elements are then read — whatever their group — until the bytes read
/// reach that length, with dicom-rs's explicit VR header rules (an unknown VR code is `UN` with the long
/// length form; item tags carry no VR). Returns the Transfer Syntax UID and the position where the data
/// set starts; `None` when dicom-rs itself will refuse the group (it then reports why). Every element's
/// length is checked against what is left of the file.
pub(super) fn meta_transfer_syntax<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    len: u64,
) -> Result<Option<(String, u64)>, String> {
    let mut w = Walker { r, pos, len };
    let Some((tag, vr_len, _)) = explicit_header(&mut w) else {
        return Ok(None);
    };
    if tag != Tag(0x0002, 0x0000) || vr_len != 4 {
        return Ok(None);
    }
    let Some(group_length) = w.u32(Syntax::ExplicitLe) else {
        return Ok(None);
    };
    let mut ts = None;
    let mut read: u32 = 0;
    while read < group_length {
        let Some((tag, value_len, header)) = explicit_header(&mut w) else {
            return Ok(None);
        };
        if value_len == UNDEFINED {
            return Ok(None);
        }
        w.check(tag, value_len)?;
        if tag == Tag(0x0002, 0x0010) {
            let mut value = vec![0u8; value_len as usize];
            if w.r.read_exact(&mut value).is_err() {
                return Ok(None);
            }
            w.pos += u64::from(value_len);
            ts = Some(String::from_utf8_lossy(&value).into_owned());
        } else {
            w.skip(u64::from(value_len))?;
        }
        read = read.saturating_add(header).saturating_add(value_len);
    }
    Ok(ts.map(|t| (t, w.pos)))
}

/// One explicit-VR little-endian element header as dicom-rs's decoder reads it: tag, value length and
/// header size. `None` at the end of the data.
fn explicit_header<R: Read + Seek>(w: &mut Walker<'_, R>) -> Option<(Tag, u32, u32)> {
    let s = Syntax::ExplicitLe;
    let tag = Tag(w.u16(s)?, w.u16(s)?);
    if tag.0 == 0xFFFE {
        return w.u32(s).map(|len| (tag, len, 8));
    }
    vr_and_length(w, s).map(|(_, len, header)| (tag, len, header))
}

/// The VR and value length after an explicit-VR tag, as dicom-rs reads them: an unknown VR code is `UN`
/// with the long form (2 reserved bytes, 4-byte length). Also returns the whole header's size (8 or 12).
/// `None` at the end of the data.
fn vr_and_length<R: Read + Seek>(w: &mut Walker<'_, R>, s: Syntax) -> Option<(VR, u32, u32)> {
    let code = w.bytes::<2>()?;
    let vr = VR::from_binary(code).unwrap_or(VR::UN);
    if short_length(vr) {
        return w.u16(s).map(|len| (vr, u32::from(len), 8));
    }
    w.bytes::<2>()?;
    w.u32(s).map(|len| (vr, len, 12))
}

/// VRs whose explicit-VR value length is 16 bits (PS3.5 7.1.2).
fn short_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::AT
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::FL
            | VR::FD
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::SL
            | VR::SS
            | VR::ST
            | VR::TM
            | VR::UI
            | VR::UL
            | VR::US
    )
}

/// Deflated data sets inflate to at most this much — the input gate's cap for an image file, since
/// dicom-rs then holds the inflated data set in memory; beyond it the file is refused (a deflate
/// bomb). A fixed 4 GiB cap used to let a bomb inflate for 84 s before failing.
pub(super) fn max_inflated() -> u64 {
    crate::io::gate::InputKind::Image.max_bytes()
}

/// A forward-only stream seen as `Seek`: seeking forward reads and discards, which lets the walk run
/// over an inflating decoder.
struct ForwardOnly<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for ForwardOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> Seek for ForwardOnly<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Current(n) if n >= 0 => self.pos + n as u64,
            SeekFrom::Start(n) if n >= self.pos => n,
            _ => {
                return Err(std::io::Error::other(
                    "cannot seek backwards in a deflated stream",
                ));
            }
        };
        let want = target - self.pos;
        let got = std::io::copy(&mut (&mut *self).take(want), &mut std::io::sink())?;
        if got < want {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(self.pos)
    }
}

/// A raw-deflate decoder over the data from `pos` on.
fn inflate<R: Read + Seek>(
    r: &mut R,
    pos: u64,
) -> Result<flate2::read::DeflateDecoder<&mut R>, String> {
    r.seek(SeekFrom::Start(pos))
        .map_err(|e| format!("cannot seek: {e}"))?;
    Ok(flate2::read::DeflateDecoder::new(r))
}

/// Scans a Deflated Explicit VR Little Endian data set (raw deflate from `pos` to the end): one
/// streaming pass measures the inflated size (refusing more than [`max_inflated`]), a second walks its
/// element headers with the same checks as [`scan`]. Memory stays at the decoder's window.
pub(super) fn scan_deflated<R: Read + Seek>(r: &mut R, pos: u64) -> Result<(), String> {
    let max = max_inflated();
    let size = std::io::copy(&mut inflate(r, pos)?.take(max + 1), &mut std::io::sink())
        .map_err(|e| format!("the deflated data set does not inflate: {e}"))?;
    if size > max {
        return Err(format!(
            "the deflated data set inflates to more than {} MiB (RADPIPE_MAX_INPUT_MB sets it)",
            max >> 20
        ));
    }
    let mut stream = ForwardOnly {
        inner: inflate(r, pos)?,
        pos: 0,
    };
    scan(&mut stream, 0, size, Syntax::ExplicitLe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn explicit(tag: (u16, u16), vr: &[u8; 2], len: u32, long: bool) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(tag.0.to_le_bytes());
        v.extend(tag.1.to_le_bytes());
        v.extend(vr);
        if long {
            v.extend([0, 0]);
            v.extend(len.to_le_bytes());
        } else {
            v.extend((len as u16).to_le_bytes());
        }
        v
    }

    #[test]
    fn lying_lengths_are_caught_and_honest_ones_pass() {
        let mut ok = explicit((0x0028, 0x0010), b"US", 2, false);
        ok.extend([4, 0]);
        ok.extend(explicit((0x7FE0, 0x0010), b"OW", 4, true));
        ok.extend([1, 2, 3, 4]);
        let n = ok.len() as u64;
        assert!(scan(&mut Cursor::new(ok.clone()), 0, n, Syntax::ExplicitLe).is_ok());

        let mut bad = explicit((0x0028, 0x0010), b"US", 2, false);
        bad.extend([4, 0]);
        bad.extend(explicit((0x7FE0, 0x0010), b"OW", 0xFFFF_FFF0, true));
        bad.extend([1, 2, 3, 4]);
        let n = bad.len() as u64;
        let err = scan(&mut Cursor::new(bad), 0, n, Syntax::ExplicitLe).expect_err("lie");
        assert!(
            err.contains("(7FE0,0010) declares 4294967280 bytes"),
            "{err}"
        );
    }

    #[test]
    fn nested_sequences_and_fragments_are_followed() {
        // SQ undefined length > item undefined > element with a lying length.
        let mut v = explicit((0x0008, 0x1140), b"SQ", UNDEFINED, true);
        v.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        v.extend(explicit((0x0008, 0x1150), b"UI", 0x7FFF, false));
        let n = v.len() as u64;
        assert!(scan(&mut Cursor::new(v), 0, n, Syntax::ExplicitLe).is_err());

        // Encapsulated pixel data: empty offset table, one 4-byte fragment, delimiter.
        let mut v = explicit((0x7FE0, 0x0010), b"OB", UNDEFINED, true);
        v.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        v.extend([0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 0xFE, 0xFF, 0x00, 0xE0]);
        v.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let n = v.len() as u64;
        assert!(scan(&mut Cursor::new(v.clone()), 0, n, Syntax::ExplicitLe).is_ok());
        let at = v.len() - 16;
        v[at] = 0xFF; // fragment length 255 > what is left
        assert!(scan(&mut Cursor::new(v), 0, n, Syntax::ExplicitLe).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut v = Vec::new();
        for _ in 0..200 {
            v.extend(explicit((0x0008, 0x1140), b"SQ", UNDEFINED, true));
            v.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let n = v.len() as u64;
        let err = scan(&mut Cursor::new(v), 0, n, Syntax::ExplicitLe).expect_err("deep");
        assert!(err.contains("nested"), "{err}");
    }

    /// A file meta group as bytes: (0002,0000) with `length` followed by `body`.
    fn meta(length: u32, body: &[u8]) -> Vec<u8> {
        let mut v = explicit((0x0002, 0x0000), b"UL", 4, false);
        v.extend(length.to_le_bytes());
        v.extend(body);
        v
    }

    #[test]
    fn meta_group_is_read_by_its_group_length_like_dicom_rs() {
        let ts = b"1.2.840.10008.1.2.1\0";
        let mut body = explicit((0x0002, 0x0010), b"UI", ts.len() as u32, false);
        body.extend(ts);
        // An unknown VR code: dicom-rs reads 2 reserved bytes and a 4-byte length.
        body.extend(explicit((0x0002, 0x9999), b"NB", 2, true));
        body.extend([7, 7]);
        // An off-group element still inside the group length is part of the meta group for dicom-rs.
        body.extend(explicit((0x0009, 0x0010), b"LO", 2, false));
        body.extend(*b"AB");
        let meta_len = body.len() as u32;
        let mut v = meta(meta_len, &body);
        let data_start = v.len() as u64;
        v.extend(explicit((0x0008, 0x0060), b"CS", 2, false));
        v.extend(*b"MR");
        let n = v.len() as u64;
        let (found, start) = meta_transfer_syntax(&mut Cursor::new(v), 0, n)
            .expect("scan")
            .expect("meta");
        assert_eq!(found, "1.2.840.10008.1.2.1\0");
        assert_eq!(start, data_start);
    }

    #[test]
    fn meta_group_without_group_length_or_with_lying_lengths() {
        // No (0002,0000) first: dicom-rs refuses the file itself, nothing to scan.
        let v = explicit((0x0002, 0x0010), b"UI", 2, false);
        let n = v.len() as u64;
        assert_eq!(meta_transfer_syntax(&mut Cursor::new(v), 0, n), Ok(None));
        // A meta element claiming more than the file holds.
        let body = explicit((0x0002, 0x0002), b"UN", 0x7FFF_0000, true);
        let v = meta(body.len() as u32, &body);
        let n = v.len() as u64;
        let err = meta_transfer_syntax(&mut Cursor::new(v), 0, n).expect_err("lie");
        assert!(
            err.contains("(0002,0002) declares 2147418112 bytes"),
            "{err}"
        );
    }

    #[test]
    fn deflated_data_sets_are_inflated_and_walked() {
        use std::io::Write;
        let deflate = |raw: &[u8]| {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(raw).expect("deflate");
            e.finish().expect("deflate")
        };
        let mut honest = explicit((0x0028, 0x0010), b"US", 2, false);
        honest.extend([4, 0]);
        honest.extend(explicit((0x7FE0, 0x0010), b"OW", 8, true));
        honest.extend([0; 8]);
        let mut file = vec![0xAA; 10];
        file.extend(deflate(&honest));
        assert_eq!(scan_deflated(&mut Cursor::new(file), 10), Ok(()));

        let mut lie = explicit((0x7FE0, 0x0010), b"OW", 0xC000_0000, true);
        lie.extend([0; 8]);
        let err = scan_deflated(&mut Cursor::new(deflate(&lie)), 0).expect_err("lie");
        assert!(
            err.contains("declares 3221225472 bytes but only 8 remain"),
            "{err}"
        );

        let err = scan_deflated(&mut Cursor::new(vec![0xFF; 64]), 0).expect_err("not deflate");
        assert!(err.contains("does not inflate"), "{err}");
    }
}
