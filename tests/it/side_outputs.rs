//! Every command × every path it writes × the three ways such a path goes wrong: it is an input (by
//! another spelling: a hard link, a symbolic link, `./`), it is another output of the same run, or its
//! folder cannot take files (missing, under a regular file, `/proc`). Each run must exit 1 with one
//! `radpipe:` line naming the argument, leave every input byte-identical and add nothing to any folder
//! — the output plan refuses before any work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::cli::{radpipe, s, stderr};
use crate::common::repo_path;

/// The bytes of every file under `dir` (one level), by name.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect()
}

struct Case {
    args: Vec<String>,
    names: &'static str,
}

fn case(args: &[&str], names: &'static str) -> Case {
    Case {
        args: args.iter().map(|a| a.to_string()).collect(),
        names,
    }
}

/// A work folder with copies of the inputs a command needs and links to them.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for (src, name) in [
            ("data/demo/ct_small.dcm", "ct.dcm"),
            ("data/demo/stitch_station1.dcm", "s1.dcm"),
            ("data/demo/stitch_station2.dcm", "s2.dcm"),
            ("data/demo/brain_mid_sagittal.png", "brain.png"),
            (
                "models/bisenet_v2_corpus_callosum.safetensors",
                "model.safetensors",
            ),
        ] {
            std::fs::copy(repo_path(src), dir.path().join(name)).expect("copy fixture");
        }
        std::fs::write(
            dir.path().join("pipe.toml"),
            "output = \"png\"\n[[stage]]\nop = \"equalize\"\n",
        )
        .expect("pipeline");
        std::fs::create_dir(dir.path().join("in")).expect("mkdir");
        std::fs::copy(
            repo_path("data/demo/brain_mid_sagittal.png"),
            dir.path().join("in/b.png"),
        )
        .expect("copy");
        std::fs::hard_link(dir.path().join("ct.dcm"), dir.path().join("ct_hard.dcm"))
            .expect("hard link");
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("s1.dcm"), dir.path().join("s1_link.dcm"))
            .expect("symlink");
        std::fs::write(dir.path().join("plain"), b"a regular file").expect("write");
        Work { dir }
    }

    fn p(&self, name: &str) -> String {
        s(&self.dir.path().join(name)).to_string()
    }

    fn dotted(&self, name: &str) -> String {
        s(&self.dir.path().join(".").join(name)).to_string()
    }
}

fn cases(w: &Work) -> Vec<Case> {
    let p = |n: &str| w.p(n);
    let missing = p("nodir/x.json");
    let under_file = p("plain/x.json");
    let proc_file = "/proc/radpipe-side-output.json".to_string();
    let (s1, s2) = (p("s1.dcm"), p("s2.dcm"));
    let (pipe, input) = (p("pipe.toml"), p("in"));
    // `radpipe run pipe.toml in ARGS…`
    let rn = |args: &[&str], names: &'static str| {
        let mut all = vec!["run", pipe.as_str(), input.as_str()];
        all.extend_from_slice(args);
        case(&all, names)
    };
    // `radpipe stitch s1 s2 ARGS…`
    let st = |args: &[&str], names: &'static str| {
        let mut all = vec!["stitch", s1.as_str(), s2.as_str()];
        all.extend_from_slice(args);
        case(&all, names)
    };
    let mut v = vec![
        // The main output as an input, by other spellings.
        case(&["window", &p("ct.dcm"), "-o", &p("ct_hard.dcm")], "-o"),
        case(
            &[
                "warp",
                &p("ct.dcm"),
                "-o",
                &w.dotted("ct.dcm"),
                "--matrix",
                "1,0,0,0,1,0",
            ],
            "-o",
        ),
        case(
            &[
                "match",
                &p("brain.png"),
                "--reference",
                &p("ct.dcm"),
                "-o",
                &p("ct_hard.dcm"),
            ],
            "-o",
        ),
        // segment: --json onto the image, the model, a mask; the output folder onto a file.
        case(
            &[
                "segment",
                &p("brain.png"),
                "-o",
                &p("seg"),
                "--json",
                &p("brain.png"),
            ],
            "--json",
        ),
        case(
            &[
                "segment",
                &p("brain.png"),
                "-o",
                &p("seg"),
                "--model",
                &p("model.safetensors"),
                "--json",
                &w.dotted("model.safetensors"),
            ],
            "--json",
        ),
        case(
            &[
                "segment",
                &p("brain.png"),
                "-o",
                &p("in"),
                "--json",
                &p("in/brain_mask.png"),
            ],
            "--json",
        ),
        case(&["segment", &p("brain.png"), "-o", &p("plain/seg")], "-o"),
        // stitch: every side output onto a station, onto -o, onto each other.
        st(&["-o", &p("o.png"), "--display", &p("o.png")], "--display"),
        st(
            &["-o", &p("o.png"), "--report", &p("s1_link.dcm")],
            "--report",
        ),
        st(
            &[
                "-o",
                &p("o.png"),
                "--report",
                &p("r.json"),
                "--display",
                &p("r.json"),
            ],
            "--display",
        ),
        st(&["-o", &p("s1_link.dcm")], "-o"),
        // run: the report onto the pipeline file or an input; the output folder onto a file.
        rn(&["-o", &p("out"), "--report", &p("pipe.toml")], "--report"),
        rn(&["-o", &p("out"), "--report", &p("in/b.png")], "--report"),
        rn(&["-o", &p("plain")], "-o"),
        // train: the model written over its own starting weights.
        case(
            &[
                "train",
                "--data",
                &p("in"),
                "-o",
                &p("model.safetensors"),
                "--init",
                &p("model.safetensors"),
            ],
            "-o",
        ),
        case(
            &[
                "evaluate",
                "--data",
                &p("in"),
                "--model",
                &p("model.safetensors"),
                "--json",
                &p("model.safetensors"),
            ],
            "--json",
        ),
        case(
            &[
                "evaluate",
                "--data",
                &p("in"),
                "--model",
                &p("model.safetensors"),
                "--sheet",
                &p("model.safetensors"),
            ],
            "--sheet",
        ),
    ];
    // Unwritable folders for each side output (and each main output).
    for bad in [&missing, &under_file, &proc_file] {
        v.push(case(
            &["window", &p("ct.dcm"), "-o", &bad.replace(".json", ".png")],
            "-o",
        ));
        v.push(case(
            &["segment", &p("brain.png"), "-o", &p("seg"), "--json", bad],
            "--json",
        ));
        v.push(st(&["-o", &p("o.png"), "--report", bad], "--report"));
        v.push(st(
            &[
                "-o",
                &p("o.png"),
                "--display",
                &bad.replace(".json", ".png"),
            ],
            "--display",
        ));
        v.push(rn(&["-o", &p("out"), "--report", bad], "--report"));
        v.push(case(
            &["evaluate", "--data", &p("in"), "--json", bad],
            "--json",
        ));
        v.push(case(
            &[
                "evaluate",
                "--data",
                &p("in"),
                "--sheet",
                &bad.replace(".json", ".png"),
            ],
            "--sheet",
        ));
        v.push(case(
            &["bench", "--sizes", "64", "--ops", "copy", "--json", bad],
            "--json",
        ));
        v.push(case(
            &[
                "train",
                "--data",
                &p("in"),
                "-o",
                &bad.replace(".json", ".safetensors"),
            ],
            "-o",
        ));
    }
    v
}

#[test]
fn side_outputs_that_meet_an_input_another_output_or_no_folder_are_refused_before_any_work() {
    let w = Work::new();
    let before = snapshot(w.dir.path());
    let before_in = snapshot(&w.dir.path().join("in"));
    let cases = cases(&w);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for c in &cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let o = radpipe(&args);
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{args:?}: exit status; stderr {err}"
        );
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line expected: {err}");
        assert!(lines[0].starts_with("radpipe: "), "{args:?}: {err}");
        assert!(
            lines[0].contains(c.names),
            "{args:?}: does not name {}: {err}",
            c.names
        );
        assert_eq!(
            snapshot(w.dir.path()),
            before,
            "{args:?}: the work folder changed"
        );
        assert_eq!(
            snapshot(&w.dir.path().join("in")),
            before_in,
            "{args:?}: in/ changed"
        );
        for made in ["seg", "out", "nodir"] {
            assert!(
                !w.dir.path().join(made).exists(),
                "{args:?}: created {made}/"
            );
        }
    }
}

#[test]
fn radpipes_stale_partial_files_are_cleared_by_the_next_run_into_their_folder() {
    let out = tempfile::tempdir().expect("tempdir");
    // A writer that no longer runs (above the kernel's pid limit) and someone else's file.
    let stale = out.path().join(".radpipe-999999999-a1b2c3.partial");
    let foreign = out.path().join(".other-tool.partial");
    std::fs::write(&stale, vec![0u8; 4096]).expect("write");
    std::fs::write(&foreign, b"keep").expect("write");
    let dst: PathBuf = out.path().join("ct.png");
    let o = radpipe(&[
        "window",
        s(&repo_path("data/demo/ct_small.dcm")),
        "-o",
        s(&dst),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dst.exists());
    if Path::new("/proc/self").exists() {
        assert!(!stale.exists(), "the stale partial file is still there");
    }
    assert!(foreign.exists(), "another program's file was removed");
}
