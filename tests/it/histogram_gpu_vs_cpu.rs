//! Every histogram kernel against its CPU reference, on fresh seeded random inputs (seed printed;
//! replay with `RADPIPE_SEED=…`) with poisoned output buffers, so an unwritten entry or pixel fails:
//! counting (256 / 4096 / 65536 bins, shifts, i16, f32 with NaN and ±inf, rectangles, masks), the
//! range pass, the CDF scan, the equalization LUT, LUT apply, CLAHE's three stages, the matching LUT
//! and the end-to-end operations. Sizes are deliberately not multiples of the 256-wide workgroups or of
//! the CLAHE tile grid, and constant images (one non-empty bin) are included.
//!
//! Tolerances: exact for everything except CLAHE's bilinear blend, which is f32 arithmetic that a GPU
//! compiler may contract into fused multiply-adds: ≤ 1 LSB on at most 1 % of pixels (in practice 0).

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

fn key(x: f32) -> u32 {
    let b = x.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

#[test]
fn histogram_counts_match_the_reference() {
    let seed = seed("histogram_counts_match_the_reference");
    let mut rng = Rng::new(seed);
    let formats = [
        PixelFormat::U8,
        PixelFormat::U16,
        PixelFormat::I16,
        PixelFormat::F32,
    ];
    for case in 0..40 {
        let format = formats[case % 4];
        let (w, h) = random_size(&mut rng);
        let image = random_image(&mut rng, format, w, h);
        let binning = random_binning(&mut rng, format);
        let rect = (rng.unit() < 0.3).then(|| random_rect(&mut rng, w, h));
        let mask = (rng.unit() < 0.3).then(|| random_mask(&mut rng, w, h));
        let (gpu, range) = gpu_histogram(&image, &binning, rect, mask.as_ref());
        let cpu = histogram::reference_histogram(&image, &binning, rect, mask.as_ref())
            .expect("reference");
        assert_eq!(
            gpu.len(),
            binning.bins as usize,
            "case {case} seed {seed}: length"
        );
        if gpu != cpu {
            let first = gpu.iter().zip(&cpu).position(|(a, b)| a != b).unwrap_or(0);
            panic!(
                "case {case} seed {seed}: {format} {w}x{h} {binning:?} rect {rect:?} mask {}: bin {first} gpu {} cpu {}",
                mask.is_some(),
                gpu[first],
                cpu[first]
            );
        }
        if let Some(range) = range {
            let (lo, hi) = histogram::reference_range(&image).expect("range");
            let finite = match &image.pixels {
                Pixels::F32(v) => v.iter().any(|x| x.is_finite()),
                _ => false,
            };
            let expected = if finite {
                vec![!key(lo), key(hi)]
            } else {
                vec![0, 0]
            };
            assert_eq!(range, expected, "case {case} seed {seed}: f32 range");
        }
    }
}

#[test]
fn constant_images_fill_one_bin() {
    for (format, value) in [
        (PixelFormat::U8, 77.0),
        (PixelFormat::U16, 40000.0),
        (PixelFormat::I16, -1000.0),
        (PixelFormat::F32, 3.5),
    ] {
        let image = constant_image(format, 257, 5, value);
        let binning = Binning::new(format, None, None).expect("binning");
        let (gpu, _) = gpu_histogram(&image, &binning, None, None);
        let nonzero: Vec<(usize, u32)> = gpu
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, c)| *c > 0)
            .collect();
        assert_eq!(nonzero.len(), 1, "{format}: {nonzero:?}");
        assert_eq!(nonzero[0].1, 257 * 5, "{format}");
        let cpu = histogram::reference_histogram(&image, &binning, None, None).expect("cpu");
        assert_eq!(gpu, cpu, "{format}");
    }
}

#[test]
fn large_16bit_histograms_match_the_reference() {
    // Over 2^20 pixels: the 65536-bin count spreads over private copies and merges them; long runs
    // of one value (a uniform background) exercise the run-length atomics. An odd width takes the
    // general walker, an even one the word-aligned path (whole image; a random rectangle may take
    // either).
    let seed = seed("large_16bit_histograms_match_the_reference");
    let mut rng = Rng::new(seed);
    for (w, h) in [(1031, 1021), (1030, 1021)] {
        let mut image = random_image(&mut rng, PixelFormat::U16, w, h);
        if let Pixels::U16(v) = &mut image.pixels {
            let start = rng.int(0, 300_000) as usize;
            v[start..start + 400_000].iter_mut().for_each(|x| *x = 0);
        }
        for binning in [
            Binning::new(PixelFormat::U16, None, None).expect("65536 bins"),
            Binning::new(PixelFormat::U16, Some(12), None).expect("4096 bins"),
        ] {
            for rect in [None, Some(random_rect(&mut rng, w, h))] {
                let (gpu, _) = gpu_histogram(&image, &binning, rect, None);
                let cpu =
                    histogram::reference_histogram(&image, &binning, rect, None).expect("cpu");
                assert!(
                    gpu == cpu,
                    "{w}x{h} {binning:?} rect {rect:?} seed {seed}: histograms differ"
                );
            }
        }
    }
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

#[test]
fn cdf_scan_matches_the_reference() {
    let seed = seed("cdf_scan_matches_the_reference");
    let mut rng = Rng::new(seed);
    let engine = engine();
    for (bins, rows) in [
        (2usize, 1usize),
        (16, 3),
        (256, 1),
        (512, 2),
        (4096, 5),
        (65536, 2),
    ] {
        let counts = random_counts(&mut rng, bins, rows);
        // Keep totals below 2^32.
        let counts: Vec<u32> = counts.iter().map(|&c| c.min(30_000)).collect();
        let table = GpuTable::upload(engine, &counts, bins as u32).expect("upload");
        let mut rec = Recorder::new(engine);
        let cdf = encode_cdf(&mut rec, &table).expect("cdf");
        let down = cdf.download(&mut rec).expect("download");
        rec.submit().expect("submit");
        let gpu = down.wait().expect("wait");
        let cpu: Vec<u32> = counts
            .chunks_exact(bins)
            .flat_map(histogram::reference_cdf)
            .collect();
        assert_eq!(gpu, cpu, "bins {bins} rows {rows} seed {seed}");
    }
}

#[test]
fn equalize_lut_matches_the_reference_bit_for_bit() {
    let seed = seed("equalize_lut_matches_the_reference_bit_for_bit");
    let mut rng = Rng::new(seed);
    let engine = engine();
    let cases = [
        (PixelFormat::U8, None, None),
        (PixelFormat::U8, None, Some(16)),
        (PixelFormat::U16, None, None),
        (PixelFormat::U16, Some(12), None),
        (PixelFormat::U16, None, Some(256)),
        (PixelFormat::F32, None, Some(4096)),
    ];
    for round in 0..5 {
        for &(format, bits, bins) in &cases {
            let binning = Binning::new(format, bits, bins).expect("binning");
            let mut counts = random_counts(&mut rng, binning.bins as usize, 1);
            if round == 4 {
                counts.iter_mut().for_each(|c| *c = 0); // empty region of interest
            }
            let table = GpuTable::upload(engine, &counts, binning.bins).expect("upload");
            let hist = GpuHistogram {
                counts: table,
                binning,
                range: None,
            };
            let mut rec = Recorder::new(engine);
            let lut = equalize::encode_lut(&mut rec, &hist).expect("lut");
            let down = lut.download(&mut rec).expect("download");
            rec.submit().expect("submit");
            let gpu = down.wait().expect("wait");
            let cpu = equalize::reference_lut(&counts, &binning);
            if gpu != cpu {
                let j = gpu.iter().zip(&cpu).position(|(a, b)| a != b).unwrap_or(0);
                panic!(
                    "round {round} {binning:?} seed {seed}: entry {j}: gpu {:#x} cpu {:#x}",
                    gpu[j], cpu[j]
                );
            }
        }
    }
}

#[test]
fn lut_apply_matches_the_reference() {
    let seed = seed("lut_apply_matches_the_reference");
    let mut rng = Rng::new(seed);
    let engine = engine();
    for case in 0..16 {
        let format = [
            PixelFormat::U8,
            PixelFormat::U16,
            PixelFormat::I16,
            PixelFormat::F32,
        ][case % 4];
        let (w, h) = random_size(&mut rng);
        let image = random_image(&mut rng, format, w, h);
        let binning = random_binning(&mut rng, format);
        let out_format = equalize::output_format(format);
        let max = if format == PixelFormat::U8 {
            255
        } else {
            65535
        };
        let lut: Vec<u32> = (0..binning.bins)
            .map(|_| {
                if out_format == PixelFormat::F32 {
                    (rng.unit() as f32).to_bits()
                } else {
                    rng.int(0, max) as u32
                }
            })
            .collect();
        let output = LutOutput {
            format: out_format,
            invert: out_format != PixelFormat::F32 && rng.unit() < 0.5,
            max: binning.vmax().min(max as u32),
        };
        let input = engine.upload(&image).expect("upload");
        let table = GpuTable::upload(engine, &lut, binning.bins).expect("lut");
        let mut rec = Recorder::new(engine);
        let range = (format == PixelFormat::F32)
            .then(|| histogram::encode_range(&mut rec, &input).expect("range"));
        let hist_stub = GpuHistogram {
            counts: table.clone(),
            binning,
            range,
        };
        let out = encode_apply_lut(&mut rec, &input, &hist_stub, &table, &output).expect("apply");
        let down = rec.download(&out).expect("download");
        rec.submit().expect("submit");
        let gpu = down.wait().expect("wait");
        let cpu = histogram::reference_apply_lut(&image, &binning, &lut, &output).expect("cpu");
        let name = format!("lut_apply_{case}_{format}_{w}x{h}_seed{seed}");
        if format == PixelFormat::F32 {
            // Compare bits (NaN stays NaN).
            let (Pixels::F32(a), Pixels::F32(b)) = (&gpu.pixels, &cpu.pixels) else {
                panic!("{name}: f32 output expected");
            };
            let bad = a
                .iter()
                .zip(b)
                .position(|(x, y)| !(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())));
            assert!(bad.is_none(), "{name}: pixel {bad:?}");
        } else {
            assert_close(&name, &gpu, &cpu, 0.0, 0.0);
        }
    }
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

#[test]
fn equalization_matches_the_reference_end_to_end() {
    let seed = seed("equalization_matches_the_reference_end_to_end");
    let mut rng = Rng::new(seed);
    let engine = engine();
    let formats = [
        PixelFormat::U8,
        PixelFormat::U16,
        PixelFormat::I16,
        PixelFormat::F32,
    ];
    for case in 0..24 {
        let format = formats[case % 4];
        let (w, h) = random_size(&mut rng);
        let image = if case >= 20 {
            constant_image(format, w, h, [9.0, 1234.0, -77.0, 0.25][case % 4])
        } else {
            random_image(&mut rng, format, w, h)
        };
        let params = EqualizeParams {
            bits: (format == PixelFormat::U16 && rng.unit() < 0.3).then_some(12),
            bins: None,
            invert: format != PixelFormat::F32 && rng.unit() < 0.25,
        };
        let gpu = equalize::equalize_image(engine, &image, &params).expect("gpu");
        let cpu = equalize::reference(&image, &params).expect("cpu");
        assert_exact(
            &format!("equalize_{case}_{format}_{w}x{h}_seed{seed}"),
            &gpu,
            &cpu,
        );
    }
}

#[test]
fn clahe_stages_match_the_reference() {
    let seed = seed("clahe_stages_match_the_reference");
    let mut rng = Rng::new(seed);
    let engine = engine();
    let mut worst = 0.0f64;
    for case in 0..14 {
        let format = [PixelFormat::U8, PixelFormat::U16, PixelFormat::I16][case % 3];
        let (w, h) = [
            (64, 64),
            (67, 45),
            (300, 211),
            (31, 37),
            (5, 3),
            (100, 8),
            (1, 1),
        ][rng.int(0, 6) as usize];
        let image = if case == 13 {
            constant_image(format, w, h, 200.0)
        } else {
            random_image(&mut rng, format, w, h)
        };
        let params = ClaheParams {
            clip_limit: [0.0, 1.0, 2.0, 40.0, 400.0][rng.int(0, 4) as usize],
            tiles_x: rng.int(1, 9) as u32,
            tiles_y: rng.int(1, 9) as u32,
            bits: (format == PixelFormat::U16 && rng.unit() < 0.4).then_some(12),
            bins: None,
            invert: rng.unit() < 0.2,
        };
        let plan = ClahePlan::new(w, h, format, &params).expect("plan");
        let input = engine.upload(&image).expect("upload");
        let mut rec = Recorder::new(engine);
        let hists = clahe::encode_tile_histograms(&mut rec, &input, &plan).expect("hists");
        let luts = clahe::encode_tile_luts(&mut rec, &hists, &plan).expect("luts");
        let out = clahe::encode_interpolate(&mut rec, &input, &luts, &plan).expect("blend");
        let d_hists = hists.download(&mut rec).expect("d1");
        let d_luts = luts.download(&mut rec).expect("d2");
        let d_out = rec.download(&out).expect("d3");
        rec.submit().expect("submit");
        let (g_hists, g_luts, g_out) = (
            d_hists.wait().expect("w1"),
            d_luts.wait().expect("w2"),
            d_out.wait().expect("w3"),
        );
        let tag = format!("case {case} seed {seed} {format} {w}x{h} {params:?}");
        let c_hists = clahe::reference_tile_histograms(&image, &plan).expect("cpu hists");
        assert!(g_hists == c_hists, "{tag}: tile histograms differ");
        let c_luts = clahe::reference_tile_luts(&c_hists, &plan);
        if g_luts != c_luts {
            let j = g_luts
                .iter()
                .zip(&c_luts)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{tag}: tile LUT entry {j}: gpu {} cpu {}",
                g_luts[j], c_luts[j]
            );
        }
        // The blend, fed the same LUTs.
        let c_out = clahe::reference_interpolate(&image, &c_luts, &plan).expect("cpu blend");
        let name = format!("clahe_{case}_{format}_{w}x{h}_seed{seed}");
        assert_close(&name, &g_out, &c_out, 1.0, 0.01);
        let diffs = common::abs_diffs(&g_out, &c_out);
        worst = diffs.into_iter().fold(worst, f64::max);
        // And the one-call version equals the staged one.
        let whole = clahe::clahe_image(engine, &image, &params).expect("clahe_image");
        assert_close(&format!("{name}_whole"), &whole, &g_out, 0.0, 0.0);
    }
    eprintln!("clahe GPU vs CPU: max |diff| {worst}");
}

#[test]
fn clahe_16bit_full_bins_matches_the_reference() {
    let seed = seed("clahe_16bit_full_bins_matches_the_reference");
    let mut rng = Rng::new(seed);
    let image = random_image(&mut rng, PixelFormat::U16, 203, 131);
    let params = ClaheParams {
        clip_limit: 3.0,
        tiles_x: 4,
        tiles_y: 3,
        ..ClaheParams::default()
    };
    let gpu = clahe::clahe_image(engine(), &image, &params).expect("gpu");
    let cpu = clahe::reference(&image, &params).expect("cpu");
    assert_close(&format!("clahe16_seed{seed}"), &gpu, &cpu, 1.0, 0.01);
}

#[test]
fn match_lut_matches_the_definition() {
    let seed = seed("match_lut_matches_the_definition");
    let mut rng = Rng::new(seed);
    let engine = engine();
    for (bins, ref_bins) in [
        (256usize, 256usize),
        (256, 16),
        (4096, 4096),
        (16, 256),
        (65536, 65536),
    ] {
        let a = random_counts(&mut rng, bins, 1);
        let mut b = random_counts(&mut rng, ref_bins, 1);
        if b.iter().all(|&x| x == 0) {
            b[ref_bins - 1] = 5;
        }
        let cap = |v: Vec<u32>| -> Vec<u32> { v.into_iter().map(|c| c.min(50_000)).collect() };
        let (ca, cb) = (
            histogram::reference_cdf(&cap(a)),
            histogram::reference_cdf(&cap(b)),
        );
        let shift = 3;
        let (ta, tb) = (
            GpuTable::upload(engine, &ca, bins as u32).expect("a"),
            GpuTable::upload(engine, &cb, ref_bins as u32).expect("b"),
        );
        let mut rec = Recorder::new(engine);
        let lut = histmatch::encode_match_lut(&mut rec, &ta, &tb, shift).expect("lut");
        let down = lut.download(&mut rec).expect("download");
        rec.submit().expect("submit");
        let gpu = down.wait().expect("wait");
        let cpu = if bins * ref_bins <= 1 << 24 {
            histmatch::reference_lut_literal(&ca, &cb, shift)
        } else {
            histmatch::reference_lut(&ca, &cb, shift)
        };
        assert!(
            gpu == cpu,
            "bins {bins}/{ref_bins} seed {seed}: LUTs differ"
        );
    }
}

#[test]
fn matching_matches_the_reference_end_to_end() {
    let seed = seed("matching_matches_the_reference_end_to_end");
    let mut rng = Rng::new(seed);
    let engine = engine();
    for case in 0..18 {
        let format = [PixelFormat::U8, PixelFormat::U16, PixelFormat::I16][case % 3];
        let (w, h) = random_size(&mut rng);
        let image = if case == 17 {
            constant_image(format, w, h, 100.0)
        } else {
            random_image(&mut rng, format, w, h)
        };
        let (rw, rh) = random_size(&mut rng);
        let target = random_image(&mut rng, format, rw, rh);
        let params = MatchParams {
            bits: (format == PixelFormat::U16 && rng.unit() < 0.3).then_some(12),
            bins: None,
        };
        let binning = params.binning(format).expect("binning");
        let rect = (rng.unit() < 0.3).then(|| random_rect(&mut rng, w, h));
        let ref_rect = (rng.unit() < 0.3).then(|| random_rect(&mut rng, rw, rh));
        let ref_mask = (rng.unit() < 0.3).then(|| random_mask(&mut rng, rw, rh));
        let counts: Vec<u32> = (0..binning.bins / 4)
            .map(|_| rng.int(0, 9) as u32)
            .collect();
        let weights: Vec<f64> = (0..binning.bins).map(|_| rng.unit().powi(3)).collect();
        let reference = match case % 4 {
            0 | 1 => HostMatchReference::Image {
                image: &target,
                rect: ref_rect,
                mask: ref_mask.as_ref(),
            },
            2 => HostMatchReference::Counts(&counts),
            _ => HostMatchReference::Weights(&weights),
        };
        if let HostMatchReference::Image { .. } = reference
            && histogram::reference_histogram(&target, &binning, ref_rect, ref_mask.as_ref())
                .expect("hist")
                .iter()
                .all(|&c| c == 0)
        {
            continue; // an empty reference region has no CDF to match
        }
        if matches!(reference, HostMatchReference::Counts(c) if c.iter().all(|&x| x == 0)) {
            continue;
        }
        let gpu = histmatch::match_image(engine, &image, rect, &reference, &params).expect("gpu");
        let cpu = histmatch::reference(&image, rect, None, &reference, &params).expect("cpu");
        assert_close(
            &format!("match_{case}_{format}_{w}x{h}_seed{seed}"),
            &gpu,
            &cpu,
            0.0,
            0.0,
        );
    }
}

#[test]
fn one_submission_and_no_readback_inside_the_ops() {
    let engine = common::fresh_engine();
    let mut rng = Rng::new(1);
    let image = random_image(&mut rng, PixelFormat::U16, 300, 211);
    let target = random_image(&mut rng, PixelFormat::U16, 64, 64);
    let input = engine.upload(&image).expect("upload");
    let reference = engine.upload(&target).expect("upload");
    let before = engine.stats();
    let mut rec = Recorder::new(&engine);
    let eq = equalize::encode(&mut rec, &input, &EqualizeParams::default()).expect("eq");
    let cl = clahe::encode(&mut rec, &eq, &ClaheParams::default()).expect("clahe");
    let matched = histmatch::encode(
        &mut rec,
        &cl,
        &Region::ALL,
        &histmatch::MatchReference::Image {
            image: &reference,
            region: Region::ALL,
        },
        &MatchParams::default(),
    )
    .expect("match");
    let down = rec.download(&matched).expect("download");
    rec.submit().expect("submit");
    down.wait().expect("wait");
    let after = engine.stats();
    assert_eq!(after.submissions - before.submissions, 1, "submissions");
    assert_eq!(after.readbacks - before.readbacks, 1, "readbacks");
}

/// The word-aligned counting path (integer samples, no mask, regions on word boundaries: whole
/// words per load, see `shaders/histogram_count.wgsl`) and the general walker side by side on the
/// same images: a whole image, an aligned and an unaligned rectangle, and CLAHE tile grids that do
/// and do not divide the image, for every integer format — exact counts in every case.
#[test]
fn aligned_and_general_counting_paths_match_the_reference() {
    let seed = seed("aligned_and_general_counting_paths_match_the_reference");
    let mut rng = Rng::new(seed);
    let engine = engine();
    for (format, w, h) in [
        (PixelFormat::U8, 128, 96),
        (PixelFormat::U8, 130, 96),
        (PixelFormat::U16, 130, 64),
        (PixelFormat::U16, 129, 64),
        (PixelFormat::I16, 64, 48),
    ] {
        let image = random_image(&mut rng, format, w, h);
        let ppw = format.pixels_per_word() as u32;
        let binnings = [
            Binning::new(format, None, Some(256)).expect("256 bins"),
            Binning::new(
                format,
                None,
                if format == PixelFormat::U8 {
                    None
                } else {
                    Some(4096)
                },
            )
            .expect("4096 bins"),
            // All bins: 65536 for 16-bit samples, the global-atomics kernels.
            Binning::new(format, None, None).expect("all bins"),
        ];
        let rects = [
            None,
            Some(Rect {
                x: ppw,
                y: 3,
                width: 8 * ppw,
                height: 20,
            }),
            Some(Rect {
                x: 1,
                y: 2,
                width: 8 * ppw + 1,
                height: 21,
            }),
        ];
        for binning in &binnings {
            for rect in rects {
                let (gpu, _) = gpu_histogram(&image, binning, rect, None);
                let cpu = histogram::reference_histogram(&image, binning, rect, None).expect("cpu");
                assert!(
                    gpu == cpu,
                    "seed {seed} {format} {w}x{h} {binning:?} rect {rect:?}: histograms differ"
                );
            }
        }
        for (tx, ty) in [(4, 4), (2, 3), (3, 5)] {
            let params = ClaheParams {
                clip_limit: 2.0,
                tiles_x: tx,
                tiles_y: ty,
                ..ClaheParams::default()
            };
            let plan = ClahePlan::new(w, h, format, &params).expect("plan");
            let input = engine.upload(&image).expect("upload");
            let mut rec = Recorder::new(engine);
            let hists = clahe::encode_tile_histograms(&mut rec, &input, &plan).expect("hists");
            let d = hists.download(&mut rec).expect("download");
            rec.submit().expect("submit");
            let gpu = d.wait().expect("tile histograms");
            let cpu = clahe::reference_tile_histograms(&image, &plan).expect("cpu");
            assert!(
                gpu == cpu,
                "seed {seed} {format} {w}x{h} tiles {tx}x{ty}: tile histograms differ"
            );
        }
    }
}
