//! Inputs that would hang radpipe or exhaust its memory: `/dev/zero`, a FIFO, a 2 GB sparse file, and
//! compressed frames whose codestream header claims far more pixels than the data set's Rows/Columns.
//! Each must end in one `radpipe:` line naming the file, exit status 1, within seconds, under a 1 GiB
//! address-space limit (`prlimit --as`), for every command that reads an image.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::cli::{s, stderr};
use crate::common::repo_path;

const LIMIT_BYTES: &str = "1073741824";

/// Runs radpipe under a 1 GiB address-space limit (when `prlimit` exists) and a 60 s wall clock.
fn radpipe_limited(args: &[&str]) -> (Output, Duration) {
    radpipe_limited_env(args, &[])
}

/// [`radpipe_limited`] with extra environment variables.
pub(crate) fn radpipe_limited_env(args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let exe = env!("CARGO_BIN_EXE_radpipe");
    let prlimit = Path::new("/usr/bin/prlimit").exists();
    let mut cmd = if prlimit {
        let mut c = Command::new("/usr/bin/prlimit");
        c.arg(format!("--as={LIMIT_BYTES}")).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args(args)
        .envs(env.iter().copied())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn radpipe");
    // Bounded wait: a hang is a failure, never a stuck test run.
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("radpipe {args:?} still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().expect("output"), start.elapsed())
}

pub(crate) fn assert_clean_refusal(args: &[&str], names: &str, says: &str, env: &[(&str, &str)]) {
    let (o, took) = radpipe_limited_env(args, env);
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{args:?}: exit status; stderr {err}"
    );
    // One error line, plus `segment`'s batch summary ("1 of 1 files failed").
    let summary_ok = lines.len() == 2 && lines[1].contains("files failed");
    assert!(
        lines.len() == 1 || summary_ok,
        "{args:?}: one error line expected: {err}"
    );
    assert!(
        lines.iter().all(|l| l.starts_with("radpipe: ")),
        "{args:?}: {err}"
    );
    assert!(
        lines[0].contains(names),
        "{args:?}: does not name {names}: {err}"
    );
    assert!(
        lines[0].contains(says),
        "{args:?}: does not say '{says}': {err}"
    );
    assert!(took < Duration::from_secs(20), "{args:?}: took {took:?}");
}

/// Every command that reads one image file, with `{in}` and the output folder `{out}`.
fn readers(input: &str, out: &Path) -> Vec<Vec<String>> {
    let o = |name: &str| s(&out.join(name)).to_string();
    let i = input.to_string();
    [
        vec!["window", &i, "-o", &o("a.png")],
        vec!["warp", &i, "-o", &o("b.png"), "--matrix", "1,0,0,0,1,0"],
        vec!["resize", &i, "-o", &o("c.png"), "--size", "8x8"],
        vec!["equalize", &i, "-o", &o("d.png")],
        vec!["segment", &i, "-o", &o("seg"), "--device", "cpu"],
    ]
    .into_iter()
    .map(|v| v.into_iter().map(str::to_string).collect())
    .collect()
}

fn run_all(input: &Path, says: &str) {
    run_all_env(input, says, &[]);
}

/// Every reading command on `input` must refuse it in one line saying `says`, leaving nothing behind;
/// `env` is added to each run's environment.
pub(crate) fn run_all_env(input: &Path, says: &str, env: &[(&str, &str)]) {
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(out.path().join("seg")).expect("mkdir");
    let name = input.file_name().and_then(|n| n.to_str()).expect("name");
    for args in readers(s(input), out.path()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_clean_refusal(&args, name, says, env);
    }
    let left: Vec<_> = std::fs::read_dir(out.path()).expect("ls").collect();
    assert_eq!(left.len(), 1, "outputs left behind: {left:?}");
    let masks: Vec<_> = std::fs::read_dir(out.path().join("seg"))
        .expect("ls")
        .collect();
    assert!(masks.is_empty(), "masks left behind: {masks:?}");
}

#[test]
fn dev_zero_is_refused_as_a_device() {
    run_all(Path::new("/dev/zero"), "character device");
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("station.dcm");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo failed");
    run_all(&fifo, "FIFO");
}

#[test]
fn a_2_gb_sparse_file_is_refused_by_its_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("sparse.dcm");
    let f = std::fs::File::create(&big).expect("create");
    f.set_len(2 << 30).expect("sparse 2 GiB");
    run_all(&big, "MiB");
}

/// A copy of `src` with `patch` applied at the first occurrence of `marker` (offset from its start).
fn patched(src: &str, marker: &[u8], offset: usize, patch: &[u8], dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(repo_path(src)).expect("read fixture");
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or_else(|| panic!("{src}: marker not found"));
    bytes[at + offset..at + offset + patch.len()].copy_from_slice(patch);
    let name = Path::new(src).file_name().expect("name");
    let out = dir.join(format!("claims_{}", name.to_string_lossy()));
    std::fs::write(&out, &bytes).expect("write");
    out
}

#[test]
fn a_jpeg2000_frame_claiming_eleven_million_rows_is_refused_before_decoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    // SIZ's Ysiz sits 12 bytes after the SOC marker (FF4F FF51 Lsiz Rsiz Xsiz Ysiz).
    let rows: u32 = 11_010_560;
    let file = patched(
        "tests/data/dicom/ct_j2k.dcm",
        &[0xFF, 0x4F, 0xFF, 0x51],
        12,
        &rows.to_be_bytes(),
        dir.path(),
    );
    run_all(&file, "codestream declares");
}

#[test]
fn a_jpeg_frame_claiming_65535_squared_is_refused_before_decoding() {
    let dir = tempfile::tempdir().expect("tempdir");
    // SOF1: FFC1, length (2), precision (1), then rows and columns (2 each).
    let file = patched(
        "tests/data/bad/jpeg12_lossy.dcm",
        &[0xFF, 0xC1],
        5,
        &[0xFF, 0xFF, 0xFF, 0xFF],
        dir.path(),
    );
    run_all(&file, "codestream declares");
}

#[test]
fn the_unpatched_jpeg2000_fixture_still_decodes() {
    let out = tempfile::tempdir().expect("tempdir");
    let src = repo_path("tests/data/dicom/ct_j2k.dcm");
    let dst = out.path().join("ct.png");
    let (o, _) = radpipe_limited(&["window", s(&src), "-o", s(&dst)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dst.exists());
}

#[cfg(unix)]
#[test]
fn a_batch_folder_reports_its_fifo_and_dangling_link_instead_of_hanging_or_dropping_them() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    let out = work.path().join("out");
    std::fs::create_dir(&input).expect("mkdir");
    std::fs::copy(
        repo_path("data/demo/brain_mid_sagittal.png"),
        input.join("a.png"),
    )
    .expect("copy");
    std::os::unix::fs::symlink(input.join("gone.png"), input.join("b.png")).expect("symlink");
    let made = Command::new("mkfifo")
        .arg(input.join("c.dcm"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let pipeline = work.path().join("p.toml");
    std::fs::write(
        &pipeline,
        "output = \"png\"\n[[stage]]\nop = \"equalize\"\n",
    )
    .expect("write");
    let report = work.path().join("report.json");
    let (o, took) = radpipe_limited(&[
        "run",
        s(&pipeline),
        s(&input),
        "-o",
        s(&out),
        "--report",
        s(&report),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(out.join("a.png").exists(), "the good file was not written");
    let text = std::fs::read_to_string(&report).expect("report");
    for name in ["b.png", "c.dcm"] {
        assert!(
            text.contains(name),
            "{name} missing from the report: {text}"
        );
    }
    assert!(text.contains("dangling") && text.contains("FIFO"), "{text}");
}

/// A Deflated Explicit VR Little Endian file of a few hundred KB whose data set inflates past the
/// image cap (set to 64 MiB here): refused after inflating at most the cap, never held in memory.
#[test]
fn a_deflate_bomb_is_refused_at_the_image_cap() {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    let dir = tempfile::tempdir().expect("tempdir");
    let bomb = dir.path().join("bomb.dcm");
    let mut obj = InMemDicomObject::new_empty();
    obj.put(DataElement::new(
        dicom_dictionary_std::tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(vec![0u8; 80 << 20].into()),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1.99")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid("2.25.7"),
        )
        .expect("meta");
    file.write_to_file(&bomb).expect("write deflated file");
    let size = std::fs::metadata(&bomb).expect("meta").len();
    assert!(size < 2 << 20, "the bomb is {size} bytes, not compressed");
    let out = dir.path().join("o.png");
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .args(["window", s(&bomb), "-o", s(&out)])
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("RADPIPE_MAX_INPUT_MB", "64")
        .output()
        .expect("run radpipe");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bomb.dcm") && err.contains("inflates to more than 64 MiB"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    assert!(!out.exists());
}
