//! `radpipe warp | resize | rotate | crop` as a user meets them: PNG in → PNG out at the same bit depth,
//! DICOM in → derived DICOM with the stored values resampled, the source's rescale kept and the pixel
//! spacing updated; and every bad input answered with one line naming the file, exit status 1, no panic
//! and no output file left behind.

use crate::common;

use common::cli::{radpipe, s, stderr};

use std::path::{Path, PathBuf};
use std::process::Output;

use common::repo_path;
use radpipe::image::{HostImage, PixelFormat, Pixels};
use radpipe::transforms::ModalityLut;

fn assert_ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: {}", stderr(o));
}

/// Exit code 1, one error line naming `name` (and `also`), no panic, `output` absent, no partial file.
fn assert_refused(o: &Output, name: &str, also: &str, output: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr: {err}");
    assert!(err.contains(name), "error must name {name}: {err}");
    assert!(err.contains(also), "error must say '{also}': {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!output.exists(), "{} must not exist", output.display());
    if let Some(dir) = output.parent().filter(|d| d.is_dir()) {
        let partial: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().contains(".partial"))
            .collect();
        assert!(partial.is_empty(), "partial files left: {partial:?}");
    }
}

fn ramp_png(dir: &Path, name: &str, format: PixelFormat) -> PathBuf {
    let (w, h) = (40u32, 30u32);
    let v = |i: u32| (i % w) * 37 + (i / w) * 101;
    let pixels = match format {
        PixelFormat::U8 => Pixels::U8((0..w * h).map(|i| (v(i) % 256) as u8).collect()),
        _ => Pixels::U16((0..w * h).map(|i| (v(i) * 13 % 65536) as u16).collect()),
    };
    let path = dir.join(name);
    let img = HostImage::new(w, h, pixels).expect("image");
    radpipe::io::raster::write_png(&path, &img).expect("write png");
    path
}

#[test]
fn commands_keep_png_bit_depth_and_size_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let in16 = ramp_png(dir.path(), "in16.png", PixelFormat::U16);
    let in8 = ramp_png(dir.path(), "in8.png", PixelFormat::U8);
    let cases: Vec<(Vec<&str>, &Path, (u32, u32))> = vec![
        (
            vec![
                "warp",
                "--matrix",
                "0.9,-0.1,2.5,0.1,0.9,-1.25",
                "--border",
                "reflect",
            ],
            &in16,
            (40, 30),
        ),
        (
            vec![
                "warp",
                "--matrix",
                "1,0,-3,0,1,2",
                "--inverse",
                "--size",
                "25x17",
            ],
            &in8,
            (25, 17),
        ),
        (
            vec![
                "warp",
                "--matrix",
                "1,0.01,0,0,1,0,0.001,0,1",
                "--sampling",
                "opencv",
            ],
            &in16,
            (40, 30),
        ),
        (vec!["resize", "--size", "81x59"], &in16, (81, 59)),
        (
            vec!["resize", "--size", "13x10", "--mode", "area"],
            &in8,
            (13, 10),
        ),
        (
            vec![
                "rotate",
                "--angle",
                "-30",
                "--scale",
                "0.8",
                "--border",
                "replicate",
            ],
            &in8,
            (40, 30),
        ),
        (
            vec![
                "rotate", "--angle", "15", "--center", "3.5,4", "--size", "20x20",
            ],
            &in16,
            (20, 20),
        ),
        (
            vec![
                "crop", "--center", "20,15", "--size", "11x7", "--angle", "33.5",
            ],
            &in16,
            (11, 7),
        ),
    ];
    for (i, (args, input, size)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}.png"));
        let mut full = vec![args[0], s(input), "-o", s(&out)];
        full.extend(&args[1..]);
        let o = radpipe(&full);
        assert_ok(&o, &format!("{full:?}"));
        let img = radpipe::io::raster::read_raster(&out).expect("read output");
        let want = if input.ends_with("in16.png") {
            PixelFormat::U16
        } else {
            PixelFormat::U8
        };
        assert_eq!((img.width, img.height), *size, "{full:?}");
        assert_eq!(img.format(), want, "{full:?}: bit depth");
    }
}

#[test]
fn dicom_resize_keeps_modality_values_and_updates_spacing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ct = common::require(&repo_path("tests/data/dicom/ct_small.dcm")).to_path_buf();
    let src = radpipe::io::dicom::read_dicom(&ct).expect("ct");
    let out = dir.path().join("half.dcm");
    let o = radpipe(&[
        "resize",
        s(&ct),
        "-o",
        s(&out),
        "--size",
        "64x64",
        "--mode",
        "area",
    ]);
    assert_ok(&o, "resize dicom");
    let derived = radpipe::io::dicom::read_dicom(&out).expect("derived dicom");
    assert_eq!((derived.width, derived.height), (64, 64));
    let (ss, ds) = (
        src.geometry(0).pixel_spacing.expect("source spacing"),
        derived.geometry(0).pixel_spacing.expect("derived spacing"),
    );
    for k in 0..2 {
        assert!(
            (ds[k] - 2.0 * ss[k]).abs() < 1e-9,
            "spacing {ss:?} -> {ds:?}"
        );
    }
    assert_eq!(
        derived.modality_lut(0),
        src.modality_lut(0),
        "rescale copied"
    );
    assert!(matches!(src.modality_lut(0), ModalityLut::Rescale { .. }));
    // A 2×2 mean of stored values, then the same rescale: modality values are means of the source's.
    let (a, b) = (
        src.frame(0).expect("frame"),
        derived.frame(0).expect("frame"),
    );
    let at = |img: &HostImage, x: u32, y: u32| img.pixels.get_f64((y * img.width + x) as usize);
    for (x, y) in [(0, 0), (31, 17), (63, 63), (10, 50)] {
        let mean = (at(&a, 2 * x, 2 * y)
            + at(&a, 2 * x + 1, 2 * y)
            + at(&a, 2 * x, 2 * y + 1)
            + at(&a, 2 * x + 1, 2 * y + 1))
            / 4.0;
        assert!((at(&b, x, y) - mean).abs() <= 0.5, "({x}, {y})");
    }
    // Rotating keeps the size and the stored-value range.
    let rotated = dir.path().join("rot.dcm");
    let o = radpipe(&[
        "rotate",
        s(&ct),
        "-o",
        s(&rotated),
        "--angle",
        "90",
        "--border",
        "replicate",
    ]);
    assert_ok(&o, "rotate dicom");
    let r = radpipe::io::dicom::read_dicom(&rotated).expect("rotated dicom");
    assert_eq!((r.width, r.height), (128, 128));
    assert_eq!(r.geometry(0).pixel_spacing, src.geometry(0).pixel_spacing);
}

#[test]
fn bad_input_is_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = ramp_png(dir.path(), "in.png", PixelFormat::U16);
    let out = dir.path().join("out.png");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["warp", "--matrix", "1,2,0,2,4,0"], "singular"),
        (vec!["warp", "--matrix", "0,0,0,0,0,0"], "singular"),
        (vec!["warp", "--matrix", "1,0,0,0,1,0,0,0,0"], "singular"),
        (vec!["warp", "--matrix", "1,0,nan,0,1,0"], "finite"),
        (vec!["warp", "--matrix", "1,0,0,0,inf,0"], "finite"),
        (vec!["warp", "--matrix", "1,0,0,0,1"], "6 numbers"),
        (vec!["warp", "--matrix", "1,0,0,0,1,zero"], "not a number"),
        (
            vec!["warp", "--matrix", "1,0,0,0,1,0", "--size", "0x10"],
            "no pixels",
        ),
        (
            vec!["warp", "--matrix", "1,0,0,0,1,0", "--size", "70000x70000"],
            "too large",
        ),
        (
            vec!["warp", "--matrix", "1,0,0,0,1,0", "--size", "65535x65535"],
            "65535x65535",
        ),
        (
            vec!["warp", "--matrix", "1,0,0,0,1,0", "--size", "big"],
            "WIDTHxHEIGHT",
        ),
        (
            vec!["warp", "--matrix", "1,0,0,0,1,0", "--border-value", "nan"],
            "finite",
        ),
        (vec!["resize", "--size", "0x0"], "no pixels"),
        (
            vec!["resize", "--size", "80x60", "--mode", "area"],
            "area averaging shrinks",
        ),
        (vec!["rotate", "--angle", "nan"], "finite"),
        (vec!["rotate", "--angle", "10", "--scale", "0"], "scale 0"),
        (vec!["rotate", "--angle", "10", "--center", "1"], "X,Y"),
        (
            vec!["crop", "--center", "5,5", "--size", "0x4"],
            "no pixels",
        ),
        (vec!["crop", "--center", "inf,5", "--size", "4x4"], "finite"),
    ];
    for (args, says) in &cases {
        let mut full = vec![args[0], s(&png), "-o", s(&out)];
        full.extend(&args[1..]);
        let o = radpipe(&full);
        assert_refused(&o, "in.png", says, &out);
    }
    // Output kinds that cannot hold the result.
    let ct = common::require(&repo_path("tests/data/dicom/ct_small.dcm")).to_path_buf();
    let ct_png = dir.path().join("ct.png");
    let o = radpipe(&["resize", s(&ct), "-o", s(&ct_png), "--size", "64x64"]);
    if radpipe::io::dicom::read_dicom(&ct)
        .expect("ct")
        .frame(0)
        .expect("frame")
        .format()
        == PixelFormat::I16
    {
        assert_refused(&o, "ct.png", "u8 or u16", &ct_png);
    } else {
        assert_ok(&o, "u16 CT to png");
    }
    let cr = common::require(&repo_path("tests/data/dicom/cr_mono1.dcm")).to_path_buf();
    let cr_out = dir.path().join("cr.dcm");
    let o = radpipe(&["rotate", s(&cr), "-o", s(&cr_out), "--angle", "5"]);
    assert_ok(&o, "MONOCHROME1 to a derived DICOM (kept MONOCHROME1)");
    assert_eq!(
        radpipe::io::dicom::read_dicom(&cr_out)
            .expect("rotated cr")
            .photometric,
        radpipe::io::dicom::Photometric::Monochrome1
    );
    // The input is never overwritten.
    let o = radpipe(&["resize", s(&png), "-o", s(&png), "--size", "8x8"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("same file"), "{}", stderr(&o));
    // A missing input names itself.
    let missing = dir.path().join("missing.png");
    let o = radpipe(&["rotate", s(&missing), "-o", s(&out), "--angle", "3"]);
    assert_refused(&o, "missing.png", "missing.png", &out);
}
