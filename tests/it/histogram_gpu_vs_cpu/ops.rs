//! The operations against the reference: equalization end to end, CLAHE's three stages (8-bit and
//! 16-bit with full bins), matching end to end, and one submission with no readback inside the ops.

use super::*;

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
