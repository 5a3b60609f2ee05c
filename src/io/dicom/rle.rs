//! RLE Lossless (PS3.5 Annex G) decoding for greyscale images.
//!
//! radpipe decodes RLE itself instead of through dicom-rs 0.10: that adapter indexes past the end of
//! its buffer (a panic) when a segment decodes to fewer bytes than Rows × Columns, which any truncated
//! file triggers. RLE is simple enough to do here with every length checked.

/// Decodes one RLE frame (one fragment) of `pixels` samples of `bytes_per_sample` bytes into
/// little-endian samples appended to `out`. Errors describe what is wrong with the fragment.
pub(super) fn decode_frame(
    fragment: &[u8],
    pixels: usize,
    bytes_per_sample: usize,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let word = |i: usize| -> Option<usize> {
        let b = fragment.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let segments = word(0).ok_or("RLE fragment shorter than its 64-byte header")?;
    if segments != bytes_per_sample {
        return Err(format!(
            "RLE fragment has {segments} segments, a greyscale {}-bit image needs {bytes_per_sample}",
            bytes_per_sample * 8
        ));
    }
    let start = out.len();
    out.resize(start + pixels * bytes_per_sample, 0);
    for s in 0..segments {
        let begin = word(1 + s).ok_or("RLE header truncated")?;
        let end = if s + 1 < segments {
            word(2 + s).ok_or("RLE header truncated")?
        } else {
            fragment.len()
        };
        let segment = fragment
            .get(begin..end)
            .ok_or_else(|| format!("RLE segment {s} lies outside its fragment ({begin}..{end})"))?;
        // Segment 0 holds the most significant bytes; write them to the high byte of each LE sample.
        let byte = bytes_per_sample - 1 - s;
        let dst = out.get_mut(start..).ok_or("RLE output buffer")?;
        let written = unpack_bits(segment, pixels, |i, v| {
            if let Some(slot) = dst.get_mut(i * bytes_per_sample + byte) {
                *slot = v;
            }
        });
        if written < pixels {
            return Err(format!(
                "RLE segment {s} decodes to {written} bytes, the frame needs {pixels}"
            ));
        }
    }
    Ok(())
}

/// PackBits: decodes up to `limit` bytes of `src`, calling `put(index, value)`; returns the count.
fn unpack_bits(src: &[u8], limit: usize, mut put: impl FnMut(usize, u8)) -> usize {
    let mut n = 0;
    let mut i = 0;
    while n < limit {
        let Some(&header) = src.get(i) else { break };
        i += 1;
        let h = header as i8;
        if h >= 0 {
            let count = h as usize + 1;
            let Some(run) = src.get(i..i + count) else {
                for &v in src.get(i..).unwrap_or_default() {
                    if n < limit {
                        put(n, v);
                        n += 1;
                    }
                }
                break;
            };
            for &v in run {
                if n < limit {
                    put(n, v);
                    n += 1;
                }
            }
            i += count;
        } else if h != -128 {
            let Some(&v) = src.get(i) else { break };
            i += 1;
            for _ in 0..(1 - h as isize) {
                if n < limit {
                    put(n, v);
                    n += 1;
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(segments: &[&[u8]]) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[0..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut offset = 64u32;
        let mut body = Vec::new();
        for (k, s) in segments.iter().enumerate() {
            header[4 + k * 4..8 + k * 4].copy_from_slice(&offset.to_le_bytes());
            offset += s.len() as u32;
            body.extend_from_slice(s);
        }
        header.extend(body);
        header
    }

    #[test]
    fn sixteen_bit_segments_interleave_msb_lsb() {
        // MSB: literal [0x01, 0x02, 0x03]; LSB: run of 3 x 0xFF.
        let f = fragment(&[&[2, 1, 2, 3], &[0xFE, 0xFF]]);
        let mut out = Vec::new();
        decode_frame(&f, 3, 2, &mut out).expect("decode");
        assert_eq!(out, vec![0xFF, 1, 0xFF, 2, 0xFF, 3]);
    }

    #[test]
    fn truncated_segments_are_errors_not_panics() {
        let f = fragment(&[&[2, 1, 2, 3]]);
        let mut out = Vec::new();
        assert!(decode_frame(&f, 5, 1, &mut out).is_err());
        assert!(decode_frame(&f[..40], 3, 1, &mut out).is_err());
        assert!(decode_frame(&f, 3, 2, &mut out).is_err());
        let mut out = Vec::new();
        decode_frame(&f, 3, 1, &mut out).expect("exact");
        assert_eq!(out, vec![1, 2, 3]);
    }
}
