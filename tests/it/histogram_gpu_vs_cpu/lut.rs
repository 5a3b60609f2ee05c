//! The table stages against the reference: the CDF scan, the equalization LUT (bit for bit), LUT
//! apply and the matching LUT.

use super::*;

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
