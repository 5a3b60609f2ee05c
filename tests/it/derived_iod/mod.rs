//! Every derived DICOM radpipe writes is one a PACS accepts: dciodvfy (dicom3tools, the IOD
//! validator) reports no error for the output of each command that writes DICOM — window, warp,
//! rotate, resize, crop, equalize, match, stitch, batch `run` — and for the RGB Secondary Capture of
//! the library. Also: the IOD each gets (DX For Presentation for CR/DX sources with a pixel spacing,
//! else Secondary Capture), the photometric rule (stored values keep MONOCHROME1, display values are
//! MONOCHROME2), the demo stitch as the node will send it, and pydicom reading it all back.
//!
//! dciodvfy is required, not optional: `.ci/run` installs dicom3tools, and a missing validator fails
//! these tests instead of letting them pass unchecked.
//!
//! [`commands`]: the CLI's outputs through dciodvfy; [`objects`]: the stitch as the node sends it,
//! the IOD choice, the RGB Secondary Capture.

mod commands;
mod objects;

use crate::common;

use common::cli::{radpipe, s, stderr};
use common::repo_path;

use std::path::{Path, PathBuf};
use std::process::Command;

use dicom_core::Tag;
use dicom_object::{InMemDicomObject, OpenFileOptions};

pub const DX: &str = "1.2.840.10008.5.1.4.1.1.1.1";
pub const SC: &str = "1.2.840.10008.5.1.4.1.1.7";

pub fn station(n: u32) -> PathBuf {
    repo_path(&format!("data/demo/stitch_station{n}.dcm"))
}

/// dciodvfy's verdict on `path`: the IOD it recognised (its first line that is not a message), and
/// the error and warning lines.
pub struct Verdict {
    pub iod: String,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn dciodvfy(path: &Path) -> Verdict {
    let o = Command::new("dciodvfy")
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "dciodvfy (dicom3tools) is needed to validate derived DICOM: {e}; install it with \
             `apt-get install dicom3tools` (.ci/run does this)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let pick = |prefix: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    };
    let iod = lines
        .iter()
        .find(|l| !l.starts_with("Error") && !l.starts_with("Warning"))
        .cloned()
        .unwrap_or_default();
    Verdict {
        iod,
        errors: pick("Error"),
        warnings: pick("Warning"),
    }
}

/// Checks `path` with dciodvfy: no error, the expected IOD; prints the warnings for the record.
pub fn assert_valid(path: &Path, iod: &str) {
    let v = dciodvfy(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    assert!(
        v.errors.is_empty(),
        "{}: dciodvfy errors:\n{}",
        path.display(),
        v.errors.join("\n")
    );
    assert_eq!(v.iod, iod, "{}: IOD", path.display());
    for w in &v.warnings {
        eprintln!("{}: {w}", name.as_deref().unwrap_or_default());
    }
}

pub fn open(path: &Path) -> InMemDicomObject {
    OpenFileOptions::new()
        .open_file(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_inner()
}

pub fn attr(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|t| t.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

pub fn run_ok(args: &[&str]) {
    let o = radpipe(args);
    assert!(
        o.status.success(),
        "radpipe {}: {}",
        args.join(" "),
        stderr(&o)
    );
}

pub fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Python with pydicom: $RADPIPE_PYTHON, the repository's .venv, or python3.
pub fn python_with_pydicom() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("RADPIPE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([repo_path(".venv/bin/python"), PathBuf::from("python3")])
        .collect();
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import pydicom, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

pub fn pydicom_json(python: &Path, script: &str, file: &Path) -> serde_json::Value {
    let o = Command::new(python)
        .args(["-c", script, s(file)])
        .output()
        .expect("python");
    assert!(
        o.status.success(),
        "pydicom: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("pydicom json")
}
