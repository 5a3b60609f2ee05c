//! Counting kernels against the reference: random formats, binnings, rectangles and masks; constant
//! images; large 16-bit histograms; the word-aligned and general counting paths.

use super::*;

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
