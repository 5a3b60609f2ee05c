//! The command set codec (PS3.7 §6.3, §E.1): the elements of group 0000, encoded — whatever transfer
//! syntax the presentation context negotiated — in Implicit VR Little Endian, with Command Group
//! Length (0000,0000) first giving the byte count of the elements after it.
//!
//! A command set is kept as element numbers with their raw, even-length values; the typed getters
//! and setters know the few value representations that commands use (US, UL, UI, AE, LO, AT).
//! Decoding is strict about structure (group 0000 only, every length inside the bytes given) and
//! lenient about content (a Command Group Length that disagrees is ignored, as dcmtk does), so that
//! no input makes it panic or allocate more than the bytes it was handed.

use std::fmt;

/// Element numbers of group 0000 (PS3.7 Annex E, Table E.1-1).
pub mod tag {
    /// Command Group Length (UL).
    pub const GROUP_LENGTH: u16 = 0x0000;
    /// Affected SOP Class UID (UI).
    pub const AFFECTED_SOP_CLASS_UID: u16 = 0x0002;
    /// Command Field (US).
    pub const COMMAND_FIELD: u16 = 0x0100;
    /// Message ID (US).
    pub const MESSAGE_ID: u16 = 0x0110;
    /// Message ID Being Responded To (US).
    pub const MESSAGE_ID_BEING_RESPONDED_TO: u16 = 0x0120;
    /// Priority (US).
    pub const PRIORITY: u16 = 0x0700;
    /// Command Data Set Type (US): 0101H means no data set follows.
    pub const COMMAND_DATA_SET_TYPE: u16 = 0x0800;
    /// Status (US).
    pub const STATUS: u16 = 0x0900;
    /// Offending Element (AT).
    pub const OFFENDING_ELEMENT: u16 = 0x0901;
    /// Error Comment (LO).
    pub const ERROR_COMMENT: u16 = 0x0902;
    /// Affected SOP Instance UID (UI).
    pub const AFFECTED_SOP_INSTANCE_UID: u16 = 0x1000;
    /// Move Originator Application Entity Title (AE).
    pub const MOVE_ORIGINATOR_AE: u16 = 0x1030;
    /// Move Originator Message ID (US).
    pub const MOVE_ORIGINATOR_MESSAGE_ID: u16 = 0x1031;
}

/// Why a byte string is not a command set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Fewer than 8 bytes where an element header should be.
    TruncatedHeader {
        /// Byte offset of the header.
        at: usize,
    },
    /// An element's length runs past the end of the command.
    TruncatedValue {
        /// Byte offset of the element.
        at: usize,
        /// Its element number.
        element: u16,
        /// The length it claims.
        length: u32,
    },
    /// An element outside group 0000.
    WrongGroup {
        /// Byte offset of the element.
        at: usize,
        /// Its group.
        group: u16,
    },
    /// Undefined length (FFFFFFFFH), not allowed in a command set.
    UndefinedLength {
        /// Its element number.
        element: u16,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::TruncatedHeader { at } => {
                write!(f, "command set ends inside an element header at byte {at}")
            }
            CommandError::TruncatedValue {
                at,
                element,
                length,
            } => write!(
                f,
                "command element (0000,{element:04X}) at byte {at} claims {length} bytes past the end"
            ),
            CommandError::WrongGroup { at, group } => write!(
                f,
                "element of group {group:04X} at byte {at} in a command set (only group 0000 is allowed)"
            ),
            CommandError::UndefinedLength { element } => {
                write!(
                    f,
                    "command element (0000,{element:04X}) has undefined length"
                )
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// A decoded command set: element numbers of group 0000 with their raw values, in ascending order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSet {
    elements: Vec<(u16, Vec<u8>)>,
}

impl CommandSet {
    /// An empty command set.
    pub fn new() -> Self {
        CommandSet::default()
    }

    /// The raw value of an element.
    pub fn raw(&self, element: u16) -> Option<&[u8]> {
        self.elements
            .binary_search_by_key(&element, |(e, _)| *e)
            .ok()
            .and_then(|i| self.elements.get(i))
            .map(|(_, v)| v.as_slice())
    }

    /// Sets an element's raw value (padded by the caller to even length; see the typed setters).
    pub fn set_raw(&mut self, element: u16, value: Vec<u8>) {
        match self.elements.binary_search_by_key(&element, |(e, _)| *e) {
            Ok(i) => {
                if let Some(slot) = self.elements.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.elements.insert(i, (element, value)),
        }
    }

    /// Element numbers present, ascending.
    pub fn elements(&self) -> impl Iterator<Item = u16> + '_ {
        self.elements.iter().map(|(e, _)| *e)
    }

    /// A US value (the first two bytes, little endian).
    pub fn u16(&self, element: u16) -> Option<u16> {
        match self.raw(element)? {
            [a, b, ..] => Some(u16::from_le_bytes([*a, *b])),
            _ => None,
        }
    }

    /// A UL value.
    pub fn u32(&self, element: u16) -> Option<u32> {
        match self.raw(element)? {
            [a, b, c, d, ..] => Some(u32::from_le_bytes([*a, *b, *c, *d])),
            _ => None,
        }
    }

    /// A text value (UI, AE, LO) with its padding (NUL, spaces) removed; bytes outside ASCII are
    /// replaced, since commands use the default repertoire.
    pub fn text(&self, element: u16) -> Option<String> {
        let raw = self.raw(element)?;
        let s = String::from_utf8_lossy(raw);
        Some(super::trim_uid(&s).to_string())
    }

    /// Sets a US value.
    pub fn set_u16(&mut self, element: u16, value: u16) {
        self.set_raw(element, value.to_le_bytes().to_vec());
    }

    /// Sets a UI value, padded with NUL to even length.
    pub fn set_uid(&mut self, element: u16, uid: &str) {
        self.set_raw(element, padded(super::trim_uid(uid), 0));
    }

    /// Sets an AE or LO value: ASCII only (others become '?'), at most `max_chars`, space padded.
    pub fn set_text(&mut self, element: u16, text: &str, max_chars: usize) {
        let clean: String = text
            .chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() && c != '\\' {
                    c
                } else {
                    '?'
                }
            })
            .take(max_chars)
            .collect();
        self.set_raw(element, padded(clean.trim_end(), b' '));
    }

    /// The encoded command set: Command Group Length, then every other element in ascending order,
    /// each as tag, 4-byte length and value (Implicit VR Little Endian).
    pub fn encode(&self) -> Vec<u8> {
        let body: usize = self
            .elements
            .iter()
            .filter(|(e, _)| *e != tag::GROUP_LENGTH)
            .map(|(_, v)| 8 + v.len())
            .sum();
        let mut out = Vec::with_capacity(12 + body);
        put_header(&mut out, tag::GROUP_LENGTH, 4);
        out.extend_from_slice(&u32::try_from(body).unwrap_or(u32::MAX).to_le_bytes());
        for (e, v) in self
            .elements
            .iter()
            .filter(|(e, _)| *e != tag::GROUP_LENGTH)
        {
            put_header(&mut out, *e, u32::try_from(v.len()).unwrap_or(u32::MAX));
            out.extend_from_slice(v);
        }
        out
    }

    /// Decodes a whole command set. Elements may come in any order; a repeated element keeps its
    /// last value; the Command Group Length is kept but not trusted.
    pub fn decode(bytes: &[u8]) -> Result<CommandSet, CommandError> {
        let mut set = CommandSet::new();
        let mut at = 0usize;
        while at < bytes.len() {
            let Some(header) = bytes.get(at..at + 8) else {
                return Err(CommandError::TruncatedHeader { at });
            };
            let group = u16::from_le_bytes([header[0], header[1]]);
            let element = u16::from_le_bytes([header[2], header[3]]);
            let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if group != 0 {
                return Err(CommandError::WrongGroup { at, group });
            }
            if length == u32::MAX {
                return Err(CommandError::UndefinedLength { element });
            }
            let start = at + 8;
            let value = usize::try_from(length)
                .ok()
                .and_then(|n| start.checked_add(n))
                .and_then(|end| bytes.get(start..end))
                .ok_or(CommandError::TruncatedValue {
                    at,
                    element,
                    length,
                })?;
            set.set_raw(element, value.to_vec());
            at = start + value.len();
        }
        Ok(set)
    }
}

fn put_header(out: &mut Vec<u8>, element: u16, length: u32) {
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
}

fn padded(text: &str, pad: u8) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(pad);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A C-ECHO-RQ written out by hand from PS3.7 Table 9.3-12 and Annex E: group length, Affected
    /// SOP Class UID "1.2.840.10008.1.1" + NUL, Command Field 0030H, Message ID 7, Command Data Set
    /// Type 0101H.
    fn echo_rq_bytes() -> Vec<u8> {
        let mut b = vec![
            0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 56, 0x00, 0x00,
            0x00, // (0000,0000) UL 56
            0x00, 0x00, 0x02, 0x00, 18, 0x00, 0x00, 0x00, // (0000,0002) UI, 18 bytes
        ];
        b.extend_from_slice(b"1.2.840.10008.1.1\0");
        b.extend_from_slice(&[
            0x00, 0x00, 0x00, 0x01, 2, 0, 0, 0, 0x30, 0x00, // (0000,0100) US 0030H
            0x00, 0x00, 0x10, 0x01, 2, 0, 0, 0, 0x07, 0x00, // (0000,0110) US 7
            0x00, 0x00, 0x00, 0x08, 2, 0, 0, 0, 0x01, 0x01, // (0000,0800) US 0101H
        ]);
        b
    }

    #[test]
    fn decodes_a_hand_written_echo_request() {
        let set = CommandSet::decode(&echo_rq_bytes()).expect("decodes");
        assert_eq!(set.u32(tag::GROUP_LENGTH), Some(56));
        assert_eq!(
            set.text(tag::AFFECTED_SOP_CLASS_UID).as_deref(),
            Some("1.2.840.10008.1.1")
        );
        assert_eq!(set.u16(tag::COMMAND_FIELD), Some(0x0030));
        assert_eq!(set.u16(tag::MESSAGE_ID), Some(7));
        assert_eq!(set.u16(tag::COMMAND_DATA_SET_TYPE), Some(0x0101));
    }

    #[test]
    fn encodes_the_hand_written_bytes_exactly() {
        let mut set = CommandSet::new();
        set.set_u16(tag::COMMAND_DATA_SET_TYPE, 0x0101);
        set.set_u16(tag::MESSAGE_ID, 7);
        set.set_uid(tag::AFFECTED_SOP_CLASS_UID, "1.2.840.10008.1.1");
        set.set_u16(tag::COMMAND_FIELD, 0x0030);
        assert_eq!(set.encode(), echo_rq_bytes());
    }

    #[test]
    fn round_trips_every_value_kind() {
        let mut set = CommandSet::new();
        set.set_uid(tag::AFFECTED_SOP_INSTANCE_UID, "1.2.3.4");
        set.set_text(tag::MOVE_ORIGINATOR_AE, "MOVER", 16);
        set.set_text(tag::ERROR_COMMENT, &"é".repeat(100), 64);
        set.set_u16(tag::STATUS, 0xA700);
        set.set_raw(tag::OFFENDING_ELEMENT, vec![0x08, 0x00, 0x18, 0x00]);
        let back = CommandSet::decode(&set.encode()).expect("decodes");
        assert_eq!(
            back.text(tag::AFFECTED_SOP_INSTANCE_UID).as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(
            back.raw(tag::AFFECTED_SOP_INSTANCE_UID),
            Some(&b"1.2.3.4\0"[..])
        );
        assert_eq!(back.text(tag::MOVE_ORIGINATOR_AE).as_deref(), Some("MOVER"));
        assert_eq!(back.raw(tag::MOVE_ORIGINATOR_AE), Some(&b"MOVER "[..]));
        assert_eq!(back.text(tag::ERROR_COMMENT), Some("?".repeat(64)));
        assert_eq!(back.u16(tag::STATUS), Some(0xA700));
        let mut expected = set.clone();
        expected.set_raw(
            tag::GROUP_LENGTH,
            back.raw(tag::GROUP_LENGTH).unwrap_or_default().to_vec(),
        );
        assert_eq!(back, expected);
        let body = set.encode().len() as u32 - 12;
        assert_eq!(back.u32(tag::GROUP_LENGTH), Some(body));
    }

    #[test]
    fn refuses_broken_bytes_without_panicking() {
        let good = echo_rq_bytes();
        for cut in 0..good.len() {
            let r = CommandSet::decode(&good[..cut]);
            let on_boundary = [0, 12, 38, 48, 58].contains(&cut);
            assert_eq!(r.is_ok(), on_boundary, "cut at {cut}: {r:?}");
        }
        let mut wrong_group = good.clone();
        wrong_group[12] = 0x08;
        assert_eq!(
            CommandSet::decode(&wrong_group),
            Err(CommandError::WrongGroup { at: 12, group: 8 })
        );
        let huge = [0, 0, 0, 1, 0xFE, 0xFF, 0xFF, 0x7F];
        assert!(matches!(
            CommandSet::decode(&huge),
            Err(CommandError::TruncatedValue {
                length: 0x7FFF_FFFE,
                ..
            })
        ));
        let undefined = [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(CommandSet::decode(&undefined).is_err());
    }
}
