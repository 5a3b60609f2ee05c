//! P-DATA-TF PDUs (PS3.8 §9.3.5) and their presentation data values (PDVs, PS3.8 Annex E).
//!
//! Each PDV is an item length, a presentation context ID, a message control header byte (bit 0:
//! command rather than data set; bit 1: last fragment of that command or data set) and the fragment.
//! Incoming PDUs are read by [`values`] as slices into the PDU body, so a fragment goes on to its
//! destination without a copy. Outgoing messages are cut by [`send_fragments`] into one PDV per PDU,
//! each PDU no longer than the peer's maximum length (which counts the PDV headers but not the
//! 6-byte PDU header), and each written with a single `write_all` so that Nagle's algorithm never
//! holds a header back from its payload.

use std::io::Write;

/// The P-DATA-TF PDU type.
pub const PDATA_TF: u8 = 0x04;
/// Bytes of a PDV's header inside the PDU: item length (4), context ID (1), control header (1).
pub const PDV_HEADER: usize = 6;
/// Bytes of a PDU header: type, reserved, 4-byte length.
pub const PDU_HEADER: usize = 6;
/// The smallest maximum length we send to: anything shorter could not carry a useful fragment, so
/// a peer announcing less is sent fragments of this size (dcmtk's own minimum is 4096).
pub const MIN_SEND_PDU: u32 = 1018;
/// The largest PDU we build when the peer allows more (or announces 0, "unlimited"): it bounds our
/// buffer and gains nothing beyond.
pub const MAX_SEND_PDU: u32 = 256 * 1024;

/// The largest maximum PDU length we announce for receiving, whatever a configuration asks (one
/// PDU is buffered whole).
pub const MAX_RECEIVE_PDU: u32 = 64 * 1024 * 1024;

/// One presentation data value of an incoming PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pdv<'a> {
    /// Presentation context ID.
    pub context_id: u8,
    /// Command (bit 0 set) rather than data set.
    pub is_command: bool,
    /// Last fragment of its command or data set (bit 1).
    pub is_last: bool,
    /// The fragment.
    pub data: &'a [u8],
}

/// Reads the PDVs of a P-DATA-TF PDU's body (the bytes after its 6-byte header). A PDU must hold at
/// least one PDV, and every PDV must fit inside it.
pub fn values(body: &[u8]) -> Result<Vec<Pdv<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (len_bytes, after) = rest
            .split_first_chunk::<4>()
            .ok_or("P-DATA-TF ends inside a PDV item length")?;
        let item_len = u32::from_be_bytes(*len_bytes);
        let item_len = usize::try_from(item_len).map_err(|_| "PDV item length overflows")?;
        if item_len < 2 {
            return Err(format!("PDV item length {item_len} is below 2"));
        }
        let item = after.get(..item_len).ok_or_else(|| {
            format!(
                "PDV item length {item_len} runs past the PDU ({} bytes left)",
                after.len()
            )
        })?;
        let Some((&[context_id, control], data)) = item.split_first_chunk::<2>() else {
            return Err("short PDV".into());
        };
        out.push(Pdv {
            context_id,
            is_command: control & 0x01 != 0,
            is_last: control & 0x02 != 0,
            data,
        });
        rest = after.get(item_len..).unwrap_or_default();
    }
    if out.is_empty() {
        return Err("P-DATA-TF without any presentation data value".into());
    }
    Ok(out)
}

/// The fragment size we use towards a peer that announced `peer_max` (0 = unlimited).
pub fn send_limit(peer_max: u32) -> u32 {
    if peer_max == 0 {
        MAX_SEND_PDU
    } else {
        peer_max.clamp(MIN_SEND_PDU, MAX_SEND_PDU)
    }
}

/// The most fragment bytes one PDU carries towards a peer whose (already [`send_limit`]ed) maximum
/// PDU length is `limit`.
pub fn fragment_capacity(limit: u32) -> usize {
    (limit as usize).saturating_sub(PDV_HEADER).max(1)
}

/// Sends `data` on presentation context `context_id` as command or data-set fragments, one PDV per
/// PDU, none longer than `limit` (see [`send_limit`]). The last fragment carries the "last" bit when
/// `ends_message`; an empty `data` with `ends_message` sends one empty last fragment. `scratch` is
/// reused between calls.
pub fn send_fragments<W: Write>(
    w: &mut W,
    scratch: &mut Vec<u8>,
    context_id: u8,
    is_command: bool,
    data: &[u8],
    ends_message: bool,
    limit: u32,
) -> std::io::Result<()> {
    let capacity = fragment_capacity(limit);
    let mut chunks = data.chunks(capacity).peekable();
    if chunks.peek().is_none() {
        if ends_message {
            write_pdv(w, scratch, context_id, is_command, true, &[])?;
        }
        return Ok(());
    }
    while let Some(chunk) = chunks.next() {
        let last = ends_message && chunks.peek().is_none();
        write_pdv(w, scratch, context_id, is_command, last, chunk)?;
    }
    Ok(())
}

fn write_pdv<W: Write>(
    w: &mut W,
    scratch: &mut Vec<u8>,
    context_id: u8,
    is_command: bool,
    is_last: bool,
    chunk: &[u8],
) -> std::io::Result<()> {
    let item_len = u32::try_from(chunk.len() + 2).map_err(std::io::Error::other)?;
    let pdu_len = item_len + 4;
    scratch.clear();
    scratch.reserve(PDU_HEADER + PDV_HEADER + chunk.len());
    scratch.extend_from_slice(&[PDATA_TF, 0]);
    scratch.extend_from_slice(&pdu_len.to_be_bytes());
    scratch.extend_from_slice(&item_len.to_be_bytes());
    scratch.push(context_id);
    scratch.push(u8::from(is_command) | (u8::from(is_last) << 1));
    scratch.extend_from_slice(chunk);
    w.write_all(scratch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a byte stream of PDUs into their bodies, checking each header.
    fn bodies(mut wire: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !wire.is_empty() {
            assert_eq!(wire[0], PDATA_TF);
            let len = u32::from_be_bytes([wire[2], wire[3], wire[4], wire[5]]) as usize;
            out.push(wire[6..6 + len].to_vec());
            wire = &wire[6 + len..];
        }
        out
    }

    #[test]
    fn fragments_fit_the_limit_and_reassemble() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = Vec::new();
        let mut scratch = Vec::new();
        send_fragments(&mut wire, &mut scratch, 3, false, &data, true, 1018).expect("writes");
        let bodies = bodies(&wire);
        assert_eq!(bodies.len(), 5000usize.div_ceil(1012));
        let mut back = Vec::new();
        for (i, b) in bodies.iter().enumerate() {
            assert!(b.len() <= 1018);
            let pdvs = values(b).expect("parses");
            assert_eq!(pdvs.len(), 1);
            let p = pdvs[0];
            assert_eq!((p.context_id, p.is_command), (3, false));
            assert_eq!(p.is_last, i + 1 == bodies.len());
            back.extend_from_slice(p.data);
        }
        assert_eq!(back, data);
    }

    #[test]
    fn an_empty_last_fragment_and_a_command_flag() {
        let mut wire = Vec::new();
        let mut scratch = Vec::new();
        send_fragments(&mut wire, &mut scratch, 1, true, &[], true, 0).expect("writes");
        assert_eq!(wire, [4, 0, 0, 0, 0, 6, 0, 0, 0, 2, 1, 3]);
        wire.clear();
        send_fragments(&mut wire, &mut scratch, 1, true, &[], false, 0).expect("writes");
        assert!(wire.is_empty());
    }

    #[test]
    fn reads_several_values_and_refuses_lies() {
        let body = [0, 0, 0, 3, 1, 0x03, 0xAA, 0, 0, 0, 2, 3, 0x00];
        let pdvs = values(&body).expect("parses");
        assert_eq!(pdvs.len(), 2);
        assert_eq!(pdvs[0].data, &[0xAA]);
        assert!(pdvs[0].is_command && pdvs[0].is_last);
        assert!(!pdvs[1].is_command && !pdvs[1].is_last && pdvs[1].data.is_empty());
        assert!(values(&[]).is_err());
        assert!(values(&[0, 0, 0, 1, 1]).is_err());
        assert!(values(&[0x7F, 0xFF, 0xFF, 0xFF, 1, 0]).is_err());
        assert!(values(&[0, 0, 0, 2, 1]).is_err());
        assert!(values(&[0, 0, 0]).is_err());
    }

    #[test]
    fn the_limit_follows_the_peer_within_bounds() {
        assert_eq!(send_limit(0), MAX_SEND_PDU);
        assert_eq!(send_limit(100), MIN_SEND_PDU);
        assert_eq!(send_limit(16384), 16384);
        assert_eq!(send_limit(u32::MAX), MAX_SEND_PDU);
    }
}
