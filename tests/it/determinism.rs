//! Determinism: the same input and options give byte-identical outputs on every run, for every
//! command that writes images (derived DICOM included: its UIDs come from a hash of what defines the
//! object, and no wall-clock time is written), and different derivations get different UIDs.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo_path;
use dicom_dictionary_std::tags;

fn radpipe(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .args(args)
        .output()
        .expect("run radpipe");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `args` (with `{in}` and `{out}` placeholders) twice into two folders and returns both outputs.
fn twice(args: &[&str], input: &Path, out_name: &str) -> (Vec<u8>, Vec<u8>, PathBuf) {
    let dirs = [
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    ];
    let outputs: Vec<PathBuf> = dirs.iter().map(|d| d.path().join(out_name)).collect();
    for out in &outputs {
        let filled: Vec<&str> = args
            .iter()
            .map(|a| match *a {
                "{in}" => s(input),
                "{out}" => s(out),
                other => other,
            })
            .collect();
        radpipe(&filled);
    }
    let keep = tempfile::tempdir().expect("keep").keep();
    let kept = keep.join(out_name);
    std::fs::copy(&outputs[0], &kept).expect("keep");
    (
        std::fs::read(&outputs[0]).expect("first"),
        std::fs::read(&outputs[1]).expect("second"),
        kept,
    )
}

#[test]
fn every_writing_command_is_byte_identical_across_runs() {
    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    // A second station must be another file (the same file twice is refused).
    let copies = tempfile::tempdir().expect("copies");
    let ct_again = copies.path().join("ct_small_again.dcm");
    std::fs::copy(&ct, &ct_again).expect("copy");
    let stitch_args = [
        "stitch",
        "{in}",
        s(&ct_again),
        "-o",
        "{out}",
        "--offsets",
        "0,0;0,64",
        "--refine",
        "--blend",
        "multiband",
    ];
    let cr = repo_path("data/demo/cr_chest.dcm");
    let cases: Vec<(&[&str], &Path, &str)> = vec![
        (
            &[
                "window", "{in}", "-o", "{out}", "--center", "40", "--width", "400",
            ],
            &ct,
            "w.dcm",
        ),
        (
            &["window", "{in}", "-o", "{out}", "--bits", "16"],
            &cr,
            "w.png",
        ),
        (
            &["window", "{in}", "-o", "{out}", "--auto", "1,99"],
            &ct,
            "a.dcm",
        ),
        (
            &["rotate", "{in}", "-o", "{out}", "--angle", "12.5"],
            &ct,
            "r.dcm",
        ),
        (
            &[
                "resize", "{in}", "-o", "{out}", "--size", "97x61", "--mode", "linear",
            ],
            &cr,
            "z.tif",
        ),
        (
            &[
                "crop", "{in}", "-o", "{out}", "--center", "60,70", "--size", "40x30", "--angle",
                "20",
            ],
            &ct,
            "c.dcm",
        ),
        (
            &[
                "equalize",
                "{in}",
                "-o",
                "{out}",
                "--method",
                "clahe",
                "--clip-limit",
                "2",
            ],
            &cr,
            "e.dcm",
        ),
        (&["equalize", "{in}", "-o", "{out}"], &ct, "g.png"),
        (&stitch_args, &ct, "s.dcm"),
    ];
    for (args, input, name) in cases {
        let (a, b, _) = twice(args, input, name);
        assert!(!a.is_empty(), "{args:?}");
        assert!(a == b, "{args:?} on {}: two runs differ", input.display());
    }
}

#[test]
fn derived_uids_follow_the_derivation() {
    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let uid = |path: &Path, tag| {
        let obj = dicom_object::open_file(path).expect("open");
        obj.element(tag)
            .expect("element")
            .to_str()
            .expect("text")
            .trim_end_matches('\0')
            .to_string()
    };
    let (_, _, narrow) = twice(
        &[
            "window", "{in}", "-o", "{out}", "--center", "40", "--width", "400",
        ],
        &ct,
        "n.dcm",
    );
    let (_, _, wide) = twice(
        &[
            "window", "{in}", "-o", "{out}", "--center", "40", "--width", "1500",
        ],
        &ct,
        "w.dcm",
    );
    let (_, _, again) = twice(
        &[
            "window", "{in}", "-o", "{out}", "--center", "40", "--width", "400",
        ],
        &ct,
        "again.dcm",
    );
    let sop = tags::SOP_INSTANCE_UID;
    assert_eq!(
        uid(&narrow, sop),
        uid(&again, sop),
        "same derivation, same object"
    );
    assert_ne!(
        uid(&narrow, sop),
        uid(&wide, sop),
        "another window is another object"
    );
    assert_ne!(
        uid(&narrow, tags::SERIES_INSTANCE_UID),
        uid(&wide, tags::SERIES_INSTANCE_UID)
    );
    let source = dicom_object::open_file(&ct).expect("source");
    for tag in [sop, tags::SERIES_INSTANCE_UID] {
        let src = source
            .element(tag)
            .expect("src")
            .to_str()
            .expect("text")
            .to_string();
        assert_ne!(uid(&narrow, tag), src.trim_end_matches('\0'));
        assert!(uid(&narrow, tag).starts_with("2.25."));
    }
    // The study is the source's; the file meta agrees with the data set.
    assert_eq!(
        uid(&narrow, tags::STUDY_INSTANCE_UID),
        source
            .element(tags::STUDY_INSTANCE_UID)
            .expect("study")
            .to_str()
            .expect("text")
            .trim_end_matches('\0')
    );
    let obj = dicom_object::open_file(&narrow).expect("open");
    assert_eq!(
        obj.meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0'),
        uid(&narrow, sop)
    );
    for d in [narrow, wide, again] {
        let _ = std::fs::remove_dir_all(d.parent().expect("dir"));
    }
}
