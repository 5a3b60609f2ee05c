//! Each command that writes DICOM, run as a user runs it, its output judged by dciodvfy.

use super::*;

use dicom_dictionary_std::tags;
use radpipe::io::dicom::{Photometric, read_dicom};

/// Every command that writes DICOM, on a CR station (MONOCHROME1, 0.4 mm: DX), a CT slice (SC) and
/// a CR without a usable spacing (SC): no dciodvfy error, the IOD and photometric interpretation
/// the rules give.
#[test]
fn dciodvfy_accepts_every_command_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cr = station(1);
    let ct = repo_path("data/demo/ct_small.dcm");
    let cr0 = repo_path("tests/data/dicom/cr_mono1.dcm");
    let m1 = "MONOCHROME1";
    let m2 = "MONOCHROME2";
    type Case<'a> = (&'a Path, &'a str, Vec<&'a str>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (&cr, "window", vec![], DX, m2),
        (&cr, "window", vec!["--bits", "12"], DX, m2),
        (
            &cr,
            "warp",
            vec!["--matrix", "0.9,0.1,3,-0.1,0.9,5"],
            DX,
            m1,
        ),
        (
            &cr,
            "warp",
            vec!["--matrix", "1,0,0,0,1,0,0.0001,0,1"],
            SC,
            m1,
        ),
        (&cr, "rotate", vec!["--angle", "90"], DX, m1),
        (&cr, "resize", vec!["--size", "220x100"], DX, m1),
        (
            &cr,
            "crop",
            vec!["--center", "200,100", "--size", "120x80", "--angle", "10"],
            DX,
            m1,
        ),
        (&cr, "equalize", vec![], DX, m2),
        (&cr, "equalize", vec!["--method", "clahe"], DX, m2),
        (&cr, "match", vec!["--reference", s(&cr)], DX, m1),
        (&ct, "window", vec![], SC, m2),
        (&ct, "rotate", vec!["--angle", "30"], SC, m2),
        (&ct, "equalize", vec![], SC, m2),
        (&cr0, "window", vec![], SC, m2),
        (&cr0, "resize", vec!["--size", "100x100"], SC, m1),
    ];
    for (i, (input, cmd, extra, class, photometric)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("{i}_{cmd}.dcm"));
        let mut args = vec![*cmd, s(input), "-o", s(&out)];
        args.extend(extra.iter().copied());
        run_ok(&args);
        let obj = open(&out);
        assert_eq!(attr(&obj, tags::SOP_CLASS_UID), *class, "{args:?}");
        let pi = attr(&obj, tags::PHOTOMETRIC_INTERPRETATION);
        assert_eq!(pi, *photometric, "{args:?}");
        let iod = if *class == DX {
            "DXImageForPresentation"
        } else {
            "SCImage"
        };
        assert_valid(&out, iod);
        if *class == DX {
            let shape = attr(&obj, tags::PRESENTATION_LUT_SHAPE);
            let want = if pi == m1 { "INVERSE" } else { "IDENTITY" };
            assert_eq!(shape, want, "{args:?}");
            assert_eq!(attr(&obj, tags::MODALITY), "DX");
        }
    }

    // The stitch of the demo stations.
    let out = dir.path().join("stitch.dcm");
    run_ok(&[
        "stitch",
        s(&station(1)),
        s(&station(2)),
        s(&station(3)),
        "-o",
        s(&out),
    ]);
    assert_valid(&out, "DXImageForPresentation");
}

/// Batch outputs: geometric stages only keep MONOCHROME1 (DX), a window makes display values (DX,
/// MONOCHROME2), a CT stays Secondary Capture, a segment stage's mask is a Secondary Capture.
#[test]
fn dciodvfy_accepts_batch_outputs() {
    let input = tempfile::tempdir().expect("in");
    for (name, from) in [
        ("s1.dcm", station(1)),
        ("s2.dcm", station(2)),
        ("ct.dcm", repo_path("data/demo/ct_small.dcm")),
    ] {
        std::fs::copy(&from, input.path().join(name)).expect("copy");
    }
    let pipelines = [
        (
            "geometric",
            "output = \"dcm\"\n[[stage]]\nop = \"rotate\"\nangle = 1.5\n[[stage]]\nop = \"resize\"\nscale = 0.5\n",
            "MONOCHROME1",
        ),
        (
            "window",
            "output = \"dcm\"\n[[stage]]\nop = \"resize\"\nscale = 0.5\n[[stage]]\nop = \"window\"\nbits = 12\n",
            "MONOCHROME2",
        ),
    ];
    for (name, text, photometric) in pipelines {
        let dir = tempfile::tempdir().expect("out");
        let pipeline = dir.path().join(format!("{name}.toml"));
        std::fs::write(&pipeline, text).expect("pipeline");
        let out = dir.path().join("out");
        run_ok(&["run", s(&pipeline), s(input.path()), "-o", s(&out)]);
        for (file, class) in [("s1.dcm", DX), ("s2.dcm", DX), ("ct.dcm", SC)] {
            let path = out.join(file);
            let obj = open(&path);
            assert_eq!(attr(&obj, tags::SOP_CLASS_UID), class, "{name} {file}");
            if class == DX {
                assert_eq!(attr(&obj, tags::PHOTOMETRIC_INTERPRETATION), photometric);
                assert_valid(&path, "DXImageForPresentation");
            } else {
                assert_valid(&path, "SCImage");
            }
        }
    }
    // A segment stage: the mask of an MR slice, a label image.
    let mr = tempfile::tempdir().expect("mr");
    std::fs::copy(
        repo_path("tests/data/dicom/mr_small.dcm"),
        mr.path().join("mr.dcm"),
    )
    .expect("copy");
    let dir = tempfile::tempdir().expect("out");
    let pipeline = dir.path().join("seg.toml");
    std::fs::write(
        &pipeline,
        "output = \"dcm\"\n[[stage]]\nop = \"segment\"\nsize = 256\n",
    )
    .expect("pipeline");
    let out = dir.path().join("out");
    run_ok(&["run", s(&pipeline), s(mr.path()), "-o", s(&out)]);
    assert_valid(&out.join("mr.dcm"), "SCImage");
}

/// `radpipe window`'s DICOM output holds the same display values as its PNG output (a MONOCHROME1
/// source already inverted) and says MONOCHROME2; a resize keeps the stored values and MONOCHROME1.
#[test]
fn photometric_follows_what_the_samples_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cr = station(2);
    for (cmd, extra, photometric) in [
        ("window", vec![], Photometric::Monochrome2),
        ("resize", vec!["--size", "200x90"], Photometric::Monochrome1),
    ] {
        let (dcm, png) = (
            dir.path().join(format!("{cmd}.dcm")),
            dir.path().join(format!("{cmd}.png")),
        );
        for out in [&dcm, &png] {
            let mut args = vec![cmd, s(&cr), "-o", s(out)];
            args.extend(extra.iter().copied());
            run_ok(&args);
        }
        let back = read_dicom(&dcm).expect("read back");
        assert_eq!(back.photometric, photometric, "{cmd}");
        let from_png = radpipe::io::raster::read_raster(&png).expect("png");
        assert_eq!(
            back.frame(0).expect("frame").pixels,
            from_png.pixels,
            "{cmd}"
        );
    }
}
