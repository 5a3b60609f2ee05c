//! Every histogram kernel against its CPU reference, on fresh seeded random inputs (seed printed;
//! replay with `RADPIPE_SEED=…`) with poisoned output buffers, so an unwritten entry or pixel fails:
//! counting (256 / 4096 / 65536 bins, shifts, i16, f32 with NaN and ±inf, rectangles, masks), the
//! range pass, the CDF scan, the equalization LUT, LUT apply, CLAHE's three stages, the matching LUT
//! and the end-to-end operations. Sizes are deliberately not multiples of the 256-wide workgroups or of
//! the CLAHE tile grid, and constant images (one non-empty bin) are included.
//!
//! Tolerances: exact for everything except CLAHE's bilinear blend, which is f32 arithmetic that a GPU
//! compiler may contract into fused multiply-adds: ≤ 1 LSB on at most 1 % of pixels (in practice 0).
//!
//! This file holds the shared generators (random and constant images, sizes, binnings, rectangles,
//! masks, count tables) and the GPU histogram round trip; the tests are grouped by stage:
//! [`counting`], [`lut`] (CDF scan, equalization and matching LUTs, LUT apply) and [`ops`] (CLAHE and
//! the end-to-end operations).

mod counting;
mod lut;
mod ops;

use crate::common;

use common::{Rng, assert_close, engine, seed};
use radpipe::image::{HostImage, PixelFormat, Pixels};
use radpipe::ops::clahe::{self, ClaheParams, ClahePlan};
use radpipe::ops::equalize::{self, EqualizeParams};
use radpipe::ops::histmatch::{self, HostMatchReference, MatchParams};
use radpipe::ops::histogram::{
    self, Binning, GpuHistogram, GpuTable, LutOutput, Rect, Region, encode_apply_lut, encode_cdf,
    encode_histogram,
};
use radpipe::pipeline::Recorder;

const SIZES: [(u32, u32); 9] = [
    (1, 1),
    (3, 1),
    (1, 7),
    (5, 3),
    (257, 3),
    (31, 37),
    (300, 211),
    (1023, 17),
    (64, 64),
];

fn random_pixels(rng: &mut Rng, format: PixelFormat, n: usize) -> Pixels {
    // Mostly narrow distributions (realistic, many collisions in few bins), sometimes full range.
    let narrow = rng.unit() < 0.6;
    match format {
        PixelFormat::U8 => {
            let (lo, hi) = if narrow {
                let lo = rng.int(0, 200);
                (lo, lo + rng.int(0, 55))
            } else {
                (0, 255)
            };
            Pixels::U8((0..n).map(|_| rng.int(lo, hi) as u8).collect())
        }
        PixelFormat::U16 => {
            let (lo, hi) = if narrow {
                let lo = rng.int(0, 60000);
                (lo, (lo + rng.int(0, 5000)).min(65535))
            } else {
                (0, 65535)
            };
            Pixels::U16((0..n).map(|_| rng.int(lo, hi) as u16).collect())
        }
        PixelFormat::I16 => Pixels::I16((0..n).map(|_| rng.int(-2048, 3071) as i16).collect()),
        PixelFormat::F32 => Pixels::F32(
            (0..n)
                .map(|_| match rng.int(0, 60) {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => f32::NEG_INFINITY,
                    _ => rng.range(-1500.0, 2500.0) as f32,
                })
                .collect(),
        ),
    }
}

fn random_image(rng: &mut Rng, format: PixelFormat, w: u32, h: u32) -> HostImage {
    HostImage::new(w, h, random_pixels(rng, format, (w * h) as usize)).expect("image")
}

fn constant_image(format: PixelFormat, w: u32, h: u32, value: f64) -> HostImage {
    let n = (w * h) as usize;
    let pixels = match format {
        PixelFormat::U8 => Pixels::U8(vec![value as u8; n]),
        PixelFormat::U16 => Pixels::U16(vec![value as u16; n]),
        PixelFormat::I16 => Pixels::I16(vec![value as i16; n]),
        PixelFormat::F32 => Pixels::F32(vec![value as f32; n]),
    };
    HostImage::new(w, h, pixels).expect("image")
}

fn random_size(rng: &mut Rng) -> (u32, u32) {
    SIZES[rng.int(0, SIZES.len() as i64 - 1) as usize]
}

fn random_binning(rng: &mut Rng, format: PixelFormat) -> Binning {
    let (bits, bins) = match format {
        PixelFormat::U8 => {
            let bins = [256, 256, 64, 16, 2][rng.int(0, 4) as usize];
            (None, Some(bins))
        }
        PixelFormat::U16 => match rng.int(0, 3) {
            0 => (None, None),
            1 => (Some(12), None),
            2 => (None, Some(4096)),
            _ => (Some(rng.int(9, 16) as u32), Some(256)),
        },
        PixelFormat::I16 => (None, [None, Some(4096), Some(256)][rng.int(0, 2) as usize]),
        PixelFormat::F32 => (
            None,
            [None, Some(4096), Some(256), Some(2)][rng.int(0, 3) as usize],
        ),
    };
    Binning::new(format, bits, bins).expect("binning")
}

fn random_rect(rng: &mut Rng, w: u32, h: u32) -> Rect {
    let x = rng.int(0, i64::from(w) - 1) as u32;
    let y = rng.int(0, i64::from(h) - 1) as u32;
    Rect {
        x,
        y,
        width: rng.int(1, i64::from(w - x)) as u32,
        height: rng.int(1, i64::from(h - y)) as u32,
    }
}

fn random_mask(rng: &mut Rng, w: u32, h: u32) -> HostImage {
    HostImage::new(
        w,
        h,
        Pixels::U8(
            (0..w * h)
                .map(|_| {
                    if rng.unit() < 0.5 {
                        0
                    } else {
                        rng.int(1, 255) as u8
                    }
                })
                .collect(),
        ),
    )
    .expect("mask")
}

/// Counts on the GPU; returns the counts and (f32) the range words.
fn gpu_histogram(
    image: &HostImage,
    binning: &Binning,
    rect: Option<Rect>,
    mask: Option<&HostImage>,
) -> (Vec<u32>, Option<Vec<u32>>) {
    let engine = engine();
    let input = engine.upload(image).expect("upload");
    let mask = mask.map(|m| engine.upload(m).expect("upload mask"));
    let mut rec = Recorder::new(engine);
    let hist = encode_histogram(
        &mut rec,
        &input,
        binning,
        &Region {
            rect,
            mask: mask.as_ref(),
        },
    )
    .expect("encode histogram");
    let counts = hist.counts.download(&mut rec).expect("download");
    let range = hist
        .range
        .as_ref()
        .map(|r| r.download(&mut rec).expect("range"));
    rec.submit().expect("submit");
    (
        counts.wait().expect("counts"),
        range.map(|r| r.wait().expect("range words")),
    )
}

fn random_counts(rng: &mut Rng, bins: usize, rows: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(bins * rows);
    for _ in 0..rows {
        let kind = rng.int(0, 4);
        for b in 0..bins {
            out.push(match kind {
                // Dense.
                0 => rng.int(0, 1000) as u32,
                // Sparse.
                1 => {
                    if rng.unit() < 0.05 {
                        rng.int(1, 100_000) as u32
                    } else {
                        0
                    }
                }
                // One non-empty bin.
                2 => u32::from(b == bins / 3) * 12_345,
                // Huge counts: totals beyond 2^24, where int → float conversion rounds.
                3 => {
                    if rng.unit() < 0.1 {
                        rng.int(1 << 20, 1 << 24) as u32
                    } else {
                        0
                    }
                }
                _ => u32::from(b.is_multiple_of(7)) * rng.int(0, 50) as u32,
            });
        }
    }
    // Keep every row's total below 2^31 (a histogram counts at most 2^32 − 1 pixels).
    for row in out.chunks_mut(bins) {
        let total: u64 = row.iter().map(|&c| u64::from(c)).sum();
        let divisor = total / (1 << 31) + 1;
        row.iter_mut()
            .for_each(|c| *c = (u64::from(*c) / divisor) as u32);
    }
    out
}

fn assert_exact(name: &str, gpu: &HostImage, cpu: &HostImage) {
    match (&gpu.pixels, &cpu.pixels) {
        (Pixels::F32(a), Pixels::F32(b)) => {
            let bad = a
                .iter()
                .zip(b)
                .position(|(x, y)| !(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())));
            assert!(
                bad.is_none(),
                "{name}: pixel {bad:?}: gpu {:?} cpu {:?}",
                bad.map(|i| a[i]),
                bad.map(|i| b[i])
            );
        }
        _ => assert_close(name, gpu, cpu, 0.0, 0.0),
    }
}
