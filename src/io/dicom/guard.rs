//! A pre-scan of the element headers, so that a lying length cannot make dicom-rs allocate gigabytes.
//!
//! dicom-rs 0.10 allocates and zero-fills a value's full declared length before reading it: a 10 KB
//! file whose Pixel Data header claims 4 GiB costs 4 GiB of memory and seconds of memset before the
//! read fails. This walk reads only headers, seeking over values, and refuses any element, item or
//! fragment whose defined length runs past the end of the file, and sequences nested absurdly deep
//! (dicom-rs builds nested items recursively). It follows defined- and undefined-length sequences and
//! items and encapsulated pixel data fragments, interpreting headers exactly as dicom-rs's decoders do
//! (an unknown VR code is `UN` with a 4-byte length; any undefined-length element other than Pixel Data
//! is a sequence in the same syntax), so that the two walks agree. Deflated data sets are not scanned
//! (their lengths refer to inflated data).

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
    /// The data set encoding of a transfer syntax; `None` for deflated ones (not scanned).
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
                let Some(code) = w.bytes::<2>() else {
                    return Ok(());
                };
                // As dicom-rs does: an unknown VR code is read as UN, with the long length form.
                let vr = VR::from_binary(code).unwrap_or(VR::UN);
                let long = !matches!(
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
                );
                let len = if long {
                    if w.bytes::<2>().is_none() {
                        return Ok(());
                    }
                    w.u32(syntax)
                } else {
                    w.u16(syntax).map(u32::from)
                };
                let Some(len) = len else {
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

/// Reads the file meta group (Explicit VR Little Endian, group 0002) at the reader's position and
/// returns its Transfer Syntax UID and the position where the data set starts. `None` when the group
/// cannot be read (dicom-rs will report why).
pub(super) fn meta_transfer_syntax<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    len: u64,
) -> Result<Option<(String, u64)>, String> {
    let mut w = Walker { r, pos, len };
    let mut ts = None;
    loop {
        let start = w.pos;
        let Some(group) = w.u16(Syntax::ExplicitLe) else {
            return Ok(None);
        };
        if group != 0x0002 {
            w.r.seek(SeekFrom::Start(start))
                .map_err(|e| format!("cannot seek: {e}"))?;
            return Ok(ts.map(|t| (t, start)));
        }
        let Some(element) = w.u16(Syntax::ExplicitLe) else {
            return Ok(None);
        };
        let Some(code) = w.bytes::<2>() else {
            return Ok(None);
        };
        let len = match VR::from_binary(code) {
            Some(VR::OB | VR::UN | VR::OW | VR::SQ | VR::UT | VR::UC | VR::UR) => {
                if w.bytes::<2>().is_none() {
                    return Ok(None);
                }
                w.u32(Syntax::ExplicitLe)
            }
            _ => w.u16(Syntax::ExplicitLe).map(u32::from),
        };
        let Some(len) = len else { return Ok(None) };
        let tag = Tag(group, element);
        w.check(tag, len)?;
        if element == 0x0010 && len <= 256 {
            let mut value = vec![0u8; len as usize];
            if w.r.read_exact(&mut value).is_err() {
                return Ok(None);
            }
            w.pos += u64::from(len);
            ts = Some(String::from_utf8_lossy(&value).into_owned());
        } else {
            w.skip(u64::from(len))?;
        }
    }
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
}
