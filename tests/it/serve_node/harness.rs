//! Processes for the node's tests: `radpipe serve` itself, dcmtk's `storescp` as the destination,
//! `storescu`/`echoscu` as modalities. All on 127.0.0.1; every process is killed and reaped when its
//! guard drops (a failing test leaves nothing running); every wait is bounded. Self-contained, so
//! the node benchmark (`benches/node.rs`) uses the same code (it provides `crate::common::procs`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::common::procs::{Guard, free_port, wait_until};

/// A path as an argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A file of the repository.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A running `radpipe serve`.
pub struct NodeProc {
    child: Guard,
    log: Arc<Mutex<Vec<String>>>,
    /// The port it listens on.
    pub port: u16,
    /// Its folder (config, spool).
    pub dir: PathBuf,
}

impl NodeProc {
    /// Writes `config` to `dir/node.toml` and starts the node on it; waits for its "listening" line.
    pub fn start(dir: &Path, config: &str) -> NodeProc {
        NodeProc::start_with_env(dir, config, &[])
    }

    /// [`NodeProc::start`] with extra environment variables.
    pub fn start_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> NodeProc {
        NodeProc::start_exe(Path::new(env!("CARGO_BIN_EXE_radpipe")), dir, config, env)
    }

    /// [`NodeProc::start_with_env`] from the executable `exe` (a copy of radpipe).
    pub fn start_exe(exe: &Path, dir: &Path, config: &str, env: &[(&str, &str)]) -> NodeProc {
        let mut node = NodeProc::spawn_exe(exe, dir, config, &["serve"], env, " listening on ");
        let text = node.log_text();
        let port = text
            .lines()
            .find_map(|l| l.split(" listening on 127.0.0.1:").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok());
        match port {
            Some(p) => node.port = p,
            None => panic!("the node did not say its port:\n{text}"),
        }
        node
    }

    /// Writes `config` to `dir/node.toml` and starts `radpipe worker --name NAME` on it with `env`;
    /// waits until it takes jobs.
    pub fn start_worker(dir: &Path, config: &str, name: &str, env: &[(&str, &str)]) -> NodeProc {
        NodeProc::spawn(
            dir,
            config,
            &["worker", "--name", name],
            env,
            " taking jobs from ",
        )
    }

    fn spawn(
        dir: &Path,
        config: &str,
        command: &[&str],
        env: &[(&str, &str)],
        ready: &str,
    ) -> NodeProc {
        let exe = Path::new(env!("CARGO_BIN_EXE_radpipe"));
        NodeProc::spawn_exe(exe, dir, config, command, env, ready)
    }

    fn spawn_exe(
        exe: &Path,
        dir: &Path,
        config: &str,
        command: &[&str],
        env: &[(&str, &str)],
        ready: &str,
    ) -> NodeProc {
        std::fs::create_dir_all(dir).expect("node folder");
        let path = dir.join("node.toml");
        std::fs::write(&path, config).expect("write node.toml");
        let mut cmd = Command::new(exe);
        cmd.args(command)
            .args(["--config", s(&path)])
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start radpipe");
        let stderr = child.stderr.take().expect("stderr pipe");
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        let mut node = NodeProc {
            child: Guard(child),
            log,
            port: 0,
            dir: dir.to_path_buf(),
        };
        let up = wait_until(Duration::from_secs(60), || {
            node.log_text().contains(ready) || node.child.0.try_wait().ok().flatten().is_some()
        });
        if !up || !node.log_text().contains(ready) {
            panic!("radpipe {command:?} did not start:\n{}", node.log_text());
        }
        node
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// A way to read its log after the process handle is gone (terminated, killed).
    pub fn log_handle(&self) -> impl Fn() -> String + use<> {
        let log = self.log.clone();
        move || log.lock().expect("lock").join("\n")
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        self.log.lock().expect("lock").join("\n")
    }

    /// Waits up to `limit` for a log line containing `needle`.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        wait_until(limit, || self.log_text().contains(needle))
    }

    /// Log lines containing `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }

    /// SIGTERM (through `kill`, the crate forbids unsafe) and the exit status, within `limit`.
    pub fn terminate(mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.child.0.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let mut status = None;
        wait_until(limit, || {
            status = self.child.0.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// SIGKILL, reaped.
    pub fn kill9(mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }

    /// The job status files of its spool.
    pub fn jobs(&self) -> Vec<serde_json::Value> {
        jobs_in(&self.dir.join("spool"))
    }
}

/// `spool/jobs/*.json`, parsed.
pub fn jobs_in(spool: &Path) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(spool.join("jobs")) else {
        return Vec::new();
    };
    let mut v: Vec<serde_json::Value> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    v.sort_by_key(|j| j["id"].as_str().unwrap_or_default().to_string());
    v
}

/// dcmtk's `storescp` as a destination: every instance it receives is a file in `dir` (unique
/// names, so a duplicate delivery shows as a second file).
pub struct Sink {
    _child: Guard,
    /// Where it writes.
    pub dir: PathBuf,
    /// Its port.
    pub port: u16,
}

impl Sink {
    /// Starts `storescp` with AE title `ae` writing into `dir`, on a free port.
    pub fn start(dir: &Path, ae: &str) -> Sink {
        for _ in 0..5 {
            if let Some(sink) = Sink::try_start(dir, ae, free_port()) {
                return sink;
            }
        }
        panic!("storescp did not start");
    }

    /// Starts `storescp` on `port` (which must be free).
    pub fn start_on(dir: &Path, ae: &str, port: u16) -> Sink {
        Sink::try_start(dir, ae, port).expect("storescp did not start")
    }

    fn try_start(dir: &Path, ae: &str, port: u16) -> Option<Sink> {
        std::fs::create_dir_all(dir).expect("sink dir");
        {
            let child = Command::new("storescp")
                .args(["--aetitle", ae, "-od", s(dir), "+uf", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dcmtk's storescp (apt-get install dcmtk; .ci/run does)");
            let mut guard = Guard(child);
            let up = wait_until(Duration::from_secs(10), || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
                    || guard.0.try_wait().ok().flatten().is_some()
            });
            if up && guard.0.try_wait().ok().flatten().is_none() {
                return Some(Sink {
                    _child: guard,
                    dir: dir.to_path_buf(),
                    port,
                });
            }
        }
        None
    }

    /// Files received so far.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|r| {
                r.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Runs a dcmtk tool with a time limit (killed past it).
pub fn dcmtk(tool: &str, args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(tool)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e} (apt-get install dcmtk; .ci/run does)"));
    let end = Instant::now() + limit;
    while Instant::now() < end && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait_with_output().expect("dcmtk output")
}

/// `storescu -aet CALLING -aec CALLED 127.0.0.1 PORT FILES...`.
pub fn storescu(
    port: u16,
    calling: &str,
    called: &str,
    files: &[PathBuf],
    extra: &[&str],
) -> Output {
    let port = port.to_string();
    let mut args = vec!["-aet", calling, "-aec", called];
    args.extend_from_slice(extra);
    args.extend(["127.0.0.1", port.as_str()]);
    args.extend(files.iter().map(|f| s(f)));
    dcmtk("storescu", &args, Duration::from_secs(60))
}

/// `echoscu -aet CALLING -aec CALLED 127.0.0.1 PORT EXTRA...`.
pub fn echoscu(port: u16, calling: &str, called: &str, extra: &[&str]) -> Output {
    let port = port.to_string();
    let mut args = vec!["-aet", calling, "-aec", called];
    args.extend_from_slice(extra);
    args.extend(["127.0.0.1", port.as_str()]);
    dcmtk("echoscu", &args, Duration::from_secs(30))
}

/// `dcmdump` of `file` as text.
pub fn dcmdump(file: &Path) -> String {
    let o = dcmtk("dcmdump", &[s(file)], Duration::from_secs(30));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The bundled stitch stations.
pub fn stations() -> Vec<PathBuf> {
    (1..=3)
        .map(|i| repo_path(&format!("data/demo/stitch_station{i}.dcm")))
        .collect()
}

/// A node config: `routes` is TOML for `[[route]]`/`[[destination]]` tables appended after the
/// node's own keys (loopback, free port chosen by the node, a small disk floor).
pub fn config(routes: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nspool = \"spool\"\nae_title = \"RADPIPE\"\nmin_free_mb = 1\n\
         idle_timeout_seconds = 5\n{routes}"
    )
}

/// The SOP Instance UID of a DICOM file (header only).
pub fn sop_instance_uid(file: &Path) -> String {
    radpipe::serve::spool::read_instance(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .sop_instance_uid
}

/// `n` copies of the three stations, each copy a series of its own (new Series and SOP Instance
/// UIDs written by dcmtk's `dcmodify`).
pub fn distinct_series(dir: &Path, n: usize) -> Vec<Vec<PathBuf>> {
    (0..n)
        .map(|k| {
            let folder = dir.join(format!("series{k}"));
            std::fs::create_dir_all(&folder).expect("copy folder");
            stations()
                .iter()
                .enumerate()
                .map(|(i, station)| {
                    let copy = folder.join(format!("station{i}.dcm"));
                    std::fs::copy(station, &copy).expect("copy station");
                    let series = format!("(0020,000e)=2.25.{}", 1000 + k);
                    let instance = format!("(0008,0018)=2.25.{}{}", 1000 + k, i + 1);
                    let o = dcmtk(
                        "dcmodify",
                        &["-nb", "-m", &series, "-m", &instance, s(&copy)],
                        Duration::from_secs(30),
                    );
                    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                    copy
                })
                .collect()
        })
        .collect()
}

/// An MR mid-sagittal localizer as a modality would send it: the bundled ICBM152 slice (8-bit PNG)
/// as MR Image Storage with 12-bit stored values (×16), a window, 1 mm pixels and a sagittal
/// orientation, in study `study` with a SOP Instance UID ending in `n`.
pub fn mr_localizer(out: &Path, study: &str, n: u32) -> PathBuf {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    let png = image::open(repo_path("data/demo/icbm152_mid_sagittal.png"))
        .expect("bundled slice")
        .to_luma8();
    let (w, h) = png.dimensions();
    let pixels: Vec<u16> = png.as_raw().iter().map(|&v| u16::from(v) * 16).collect();
    let sop = format!("2.25.4242{n}");
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag, vr, v: PrimitiveValue| obj.put(DataElement::new(tag, vr, v));
    let text = |t: &str| PrimitiveValue::from(t.to_string());
    put(
        tags::SOP_CLASS_UID,
        VR::UI,
        text("1.2.840.10008.5.1.4.1.1.4"),
    );
    put(tags::SOP_INSTANCE_UID, VR::UI, text(&sop));
    put(tags::STUDY_INSTANCE_UID, VR::UI, text(study));
    put(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        text(&format!("{study}.1")),
    );
    put(tags::MODALITY, VR::CS, text("MR"));
    put(tags::PATIENT_NAME, VR::PN, text("Template^ICBM152"));
    put(tags::PATIENT_ID, VR::LO, text("ICBM152"));
    put(tags::STUDY_DATE, VR::DA, text("20261204"));
    put(tags::INSTANCE_NUMBER, VR::IS, text(&n.to_string()));
    put(tags::IMAGE_POSITION_PATIENT, VR::DS, text("0\\-116\\116"));
    put(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        text("0\\1\\0\\0\\0\\-1"),
    );
    put(tags::PIXEL_SPACING, VR::DS, text("1\\1"));
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        text("MONOCHROME2"),
    );
    put(tags::ROWS, VR::US, PrimitiveValue::from(h as u16));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(w as u16));
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16));
    put(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    );
    put(tags::WINDOW_CENTER, VR::DS, text("2040"));
    put(tags::WINDOW_WIDTH, VR::DS, text("4080"));
    put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into()));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.4")
                .media_storage_sop_instance_uid(sop.as_str()),
        )
        .expect("meta");
    std::fs::create_dir_all(out).expect("localizer folder");
    let path = out.join(format!("localizer{n}.dcm"));
    file.write_to_file(&path).expect("write localizer");
    path
}
