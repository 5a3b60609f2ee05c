//! Every CLI command against the corpus of hostile inputs in `tests/data/bad/` (made by
//! `scripts/make_bad_inputs.py`; `manifest.json` says what is wrong with each file): each run must exit
//! with status 1, print only `radpipe: ...` lines (no panic, no backtrace) with one naming the file,
//! and leave nothing in the output folder — no output, no temporary file. Parameter-level hostility
//! (NaN/inf/zero/negative window widths, singular matrices, a corrupted model, an unwritable output
//! folder, an output equal to its input) gets the same treatment.

use crate::common;

use common::cli::{radpipe, s};

use std::path::{Path, PathBuf};
use std::process::Output;

use common::repo_path;

/// stderr without lavapipe's XDG_RUNTIME_DIR noise.
fn radpipe_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .map(str::to_string)
        .collect()
}

fn corpus() -> Vec<PathBuf> {
    let dir = repo_path("tests/data/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/bad")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n != "manifest.json"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "corpus incomplete: {files:?}");
    files
}

/// Asserts the refusal contract for one run; `must_name` is the text (a file name) the error names.
fn assert_refused(o: &Output, what: &str, must_name: &str, out_dir: &Path) {
    let lines = radpipe_lines(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{what}: exit status; stderr {lines:?}"
    );
    assert!(!lines.is_empty(), "{what}: no error printed");
    assert!(
        lines.iter().all(|l| l.starts_with("radpipe: ")),
        "{what}: unexpected stderr {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains(must_name)),
        "{what}: no line names {must_name}: {lines:?}"
    );
    assert!(
        lines.len() <= 2,
        "{what}: one error (plus a batch summary): {lines:?}"
    );
    let left: Vec<_> = std::fs::read_dir(out_dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "{what}: left {left:?} behind");
}

/// The commands that read one image, with `{in}` and `{out}` placeholders.
fn single_input_commands() -> Vec<Vec<&'static str>> {
    vec![
        vec!["window", "{in}", "-o", "{out}/o.png"],
        vec!["window", "{in}", "-o", "{out}/o.dcm", "--auto", "1,99"],
        vec![
            "warp",
            "{in}",
            "-o",
            "{out}/o.png",
            "--matrix",
            "1,0,2,0,1,3",
        ],
        vec!["resize", "{in}", "-o", "{out}/o.tif", "--size", "32x32"],
        vec!["rotate", "{in}", "-o", "{out}/o.dcm", "--angle", "10"],
        vec![
            "crop",
            "{in}",
            "-o",
            "{out}/o.png",
            "--center",
            "10,10",
            "--size",
            "8x8",
        ],
        vec!["equalize", "{in}", "-o", "{out}/o.png"],
        vec!["equalize", "{in}", "-o", "{out}/o.dcm", "--method", "clahe"],
        vec![
            "match",
            "{in}",
            "--reference",
            "{good}",
            "-o",
            "{out}/o.png",
        ],
        vec![
            "match",
            "{good}",
            "--reference",
            "{in}",
            "-o",
            "{out}/o.png",
        ],
    ]
}

fn fill<'a>(args: &[&'a str], input: &'a str, out: &'a str, good: &'a str) -> Vec<String> {
    args.iter()
        .map(|a| {
            a.replace("{in}", input)
                .replace("{out}", out)
                .replace("{good}", good)
        })
        .collect()
}

#[test]
fn every_single_image_command_refuses_every_bad_file() {
    let good = repo_path("tests/data/dicom/ct_small.dcm");
    for file in corpus() {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        for args in single_input_commands() {
            let out = tempfile::tempdir().expect("out");
            let argv = fill(&args, s(&file), s(out.path()), s(&good));
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let o = radpipe(&argv);
            assert_refused(&o, &format!("{} on {name}", args[0]), &name, out.path());
        }
    }
}

#[test]
fn segment_refuses_every_bad_file() {
    let model = repo_path("tests/fixtures/bisenet/weights.pdparams");
    for file in corpus() {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let out = tempfile::tempdir().expect("out");
        let o = radpipe(&[
            "segment",
            s(&file),
            "-o",
            s(out.path()),
            "--model",
            s(&model),
            "--device",
            "cpu",
        ]);
        assert_refused(&o, &format!("segment on {name}"), &name, out.path());
    }
}

#[test]
fn batch_run_skips_every_bad_file_and_names_each() {
    let input = tempfile::tempdir().expect("in");
    for file in corpus() {
        std::fs::copy(&file, input.path().join(file.file_name().expect("name"))).expect("copy");
    }
    let pipeline = tempfile::NamedTempFile::new().expect("pipeline");
    std::fs::write(
        pipeline.path(),
        "output = \"dcm\"\n[[stage]]\nop = \"resize\"\nscale = 0.5\n[[stage]]\nop = \"window\"\n",
    )
    .expect("write pipeline");
    let out = tempfile::tempdir().expect("out");
    let o = radpipe(&[
        "run",
        s(pipeline.path()),
        s(input.path()),
        "-o",
        s(out.path()),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let lines = radpipe_lines(&o);
    assert!(
        lines.iter().all(|l| l.starts_with("radpipe: ")),
        "{lines:?}"
    );
    for file in corpus() {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("radpipe: skipped: ") && l.contains(&name)),
            "{name} not reported: {lines:?}"
        );
    }
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 0);
}

#[test]
fn hostile_parameters_are_refused_by_name() {
    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "window",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--center",
                "40",
                "--width",
                "NaN",
            ],
            "width",
        ),
        (
            vec![
                "window",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--center",
                "40",
                "--width",
                "inf",
            ],
            "width",
        ),
        (
            vec![
                "window",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--center",
                "40",
                "--width",
                "0",
            ],
            "width",
        ),
        (
            vec![
                "window",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--center",
                "40",
                "--width=-5",
            ],
            "width",
        ),
        (
            vec![
                "window",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--center",
                "NaN",
                "--width",
                "400",
            ],
            "center",
        ),
        (
            vec![
                "warp",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--matrix",
                "1,2,0,2,4,0",
            ],
            "singular",
        ),
        (
            vec![
                "warp",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--matrix",
                "0,0,0,0,0,0",
            ],
            "singular",
        ),
        (
            vec![
                "warp",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--matrix",
                "1,0,NaN,0,1,0",
            ],
            "matrix",
        ),
        (
            vec![
                "rotate",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--angle",
                "10",
                "--scale",
                "0",
            ],
            "scale",
        ),
        (
            vec!["resize", "{in}", "-o", "{out}/o.dcm", "--size", "0x10"],
            "size",
        ),
        (
            vec![
                "equalize",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--method",
                "clahe",
                "--clip-limit=-1",
            ],
            "clip",
        ),
        (
            vec![
                "equalize",
                "{in}",
                "-o",
                "{out}/o.dcm",
                "--method",
                "clahe",
                "--tiles",
                "0x8",
            ],
            "tile",
        ),
    ];
    for (args, reason) in cases {
        let out = tempfile::tempdir().expect("out");
        let argv = fill(&args, s(&ct), s(out.path()), "");
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = radpipe(&argv);
        let what = argv.join(" ");
        let lines = radpipe_lines(&o);
        if o.status.code() == Some(2) {
            // Refused while parsing the command line (clap): usage error, names the option.
            assert!(
                lines
                    .first()
                    .is_some_and(|l| l.starts_with("error: ") && l.to_lowercase().contains(reason)),
                "{what}: {lines:?}"
            );
        } else {
            assert_eq!(o.status.code(), Some(1), "{what}: {lines:?}");
            assert_eq!(lines.len(), 1, "{what}: {lines:?}");
            assert!(
                lines[0].to_lowercase().contains(reason),
                "{what}: '{}' does not say '{reason}'",
                lines[0]
            );
            assert!(
                lines[0].contains("ct_small.dcm"),
                "{what}: file not named: {}",
                lines[0]
            );
        }
        assert_eq!(
            std::fs::read_dir(out.path()).expect("out").count(),
            0,
            "{what}"
        );
    }
}

#[test]
fn corrupted_and_missing_models_are_named() {
    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let dir = tempfile::tempdir().expect("dir");
    let fixture = std::fs::read(repo_path("tests/fixtures/bisenet/weights.pdparams")).expect("w");
    let cut = dir.path().join("cut.pdparams");
    std::fs::write(&cut, &fixture[..fixture.len() / 3]).expect("cut");
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot safetensors").expect("g");
    let missing = dir.path().join("missing.safetensors");
    for model in [&cut, &garbage, &missing] {
        let out = tempfile::tempdir().expect("out");
        let o = radpipe(&[
            "segment",
            s(&ct),
            "-o",
            s(out.path()),
            "--model",
            s(model),
            "--device",
            "cpu",
        ]);
        let name = model
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_refused(&o, &format!("segment --model {name}"), &name, out.path());
    }
}

#[test]
fn unwritable_output_and_output_equal_to_input_for_every_command() {
    let ct = repo_path("tests/data/dicom/ct_small.dcm");
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("input.dcm");
    std::fs::copy(&ct, &copy).expect("copy");
    let before = std::fs::read(&copy).expect("read");
    let missing_dir = dir.path().join("no/such/dir");
    for args in single_input_commands() {
        // Output equal to the input.
        let argv: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with("{out}") {
                    s(&copy).to_string()
                } else {
                    a.replace("{in}", s(&copy)).replace("{good}", s(&ct))
                }
            })
            .collect();
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = radpipe(&argv);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{argv:?}: {:?}",
            radpipe_lines(&o)
        );
        assert_eq!(
            std::fs::read(&copy).expect("read"),
            before,
            "{argv:?} modified its input"
        );
        // An output folder that does not exist.
        let argv = fill(&args, s(&ct), s(&missing_dir), s(&ct));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = radpipe(&argv);
        let lines = radpipe_lines(&o);
        assert_eq!(o.status.code(), Some(1), "{argv:?}: {lines:?}");
        assert!(
            lines.len() == 1 && lines[0].contains("no/such/dir"),
            "{argv:?}: {lines:?}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}
