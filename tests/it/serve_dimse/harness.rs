//! The DIMSE tests' harness: the SCP on a thread with a recording sink writing into a tempdir, dcmtk
//! tools run with a time limit (output to a file, so a chatty `-d` cannot fill a pipe), free ports,
//! and guards whose `Drop` kills what a failing test leaves behind. Every wait is bounded.

use std::fs::File;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use crate::common::procs::{Guard, free_port};
use radpipe::serve::scp::{
    AssociationInfo, AssociationSummary, ScpConfig, StoreRequest, StoreSink, StoreStatus,
    serve_association,
};

pub const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const CR: &str = "1.2.840.10008.5.1.4.1.1.1";
pub const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
pub const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// A configuration accepting CT and CR in the uncompressed syntaxes, called "RADPIPE".
pub fn config() -> ScpConfig {
    ScpConfig {
        accepted_called: vec!["RADPIPE".into(), "ROUTE1".into()],
        allowed_callers: vec![],
        storage_classes: vec![CT.into(), CR.into()],
        transfer_syntaxes: vec![EXPLICIT_LE.into(), IMPLICIT_LE.into()],
        max_pdu_length: 16384,
        idle_timeout: Duration::from_secs(10),
        association_timeout: Duration::from_secs(60),
        max_instance_bytes: 64 * 1024 * 1024,
        tls: None,
    }
}

/// What the sink was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Begin(StoreRequest),
    /// The data set arrived whole and was written to this file.
    Finish(String, PathBuf),
    Discard,
    Released(AssociationInfo),
    Aborted(String),
}

/// A sink writing each data set to `<dir>/<n>.bin`, recording every call; `refuse` makes `begin`
/// refuse with that status.
pub struct TestSink {
    pub dir: PathBuf,
    pub events: Arc<Mutex<Vec<Event>>>,
    pub refuse: Option<StoreStatus>,
    n: u32,
}

impl TestSink {
    pub fn new(dir: &Path) -> TestSink {
        TestSink {
            dir: dir.to_path_buf(),
            events: Arc::default(),
            refuse: None,
            n: 0,
        }
    }
}

pub struct Pending {
    path: PathBuf,
    file: File,
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl TestSink {
    fn push(&self, e: Event) {
        self.events.lock().expect("events").push(e);
    }
}

impl StoreSink for TestSink {
    type Pending = Pending;
    fn begin(
        &mut self,
        _assoc: &AssociationInfo,
        req: &StoreRequest,
    ) -> Result<Pending, StoreStatus> {
        self.push(Event::Begin(req.clone()));
        if let Some(st) = &self.refuse {
            return Err(st.clone());
        }
        self.n += 1;
        let path = self.dir.join(format!("{}.bin", self.n));
        let file = File::create(&path).map_err(|e| StoreStatus::out_of_resources(e.to_string()))?;
        Ok(Pending { path, file })
    }
    fn finish(&mut self, _: &AssociationInfo, req: &StoreRequest, p: Pending) -> StoreStatus {
        drop(p.file);
        self.push(Event::Finish(req.sop_instance_uid.clone(), p.path));
        StoreStatus::success()
    }
    fn discard(&mut self, _: &AssociationInfo, p: Pending) {
        drop(p.file);
        let _ = std::fs::remove_file(&p.path);
        self.push(Event::Discard);
    }
    fn released(&mut self, assoc: &AssociationInfo) {
        self.push(Event::Released(assoc.clone()));
    }
    fn aborted(&mut self, _: &AssociationInfo, why: &str) {
        self.push(Event::Aborted(why.to_string()));
    }
}

/// The SCP on a thread: serves associations one after another until stopped (at most 60 s).
pub struct Scp {
    pub port: u16,
    pub events: Arc<Mutex<Vec<Event>>>,
    summaries: Arc<Mutex<Vec<AssociationSummary>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scp {
    pub fn start(cfg: ScpConfig, mut sink: TestSink) -> Scp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let events = sink.events.clone();
        let summaries: Arc<Mutex<Vec<AssociationSummary>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (out, flag) = (summaries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            let mut id = 0;
            while !flag.load(Ordering::Relaxed) && Instant::now() < until {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).expect("blocking");
                        id += 1;
                        let summary = serve_association(stream, id, &cfg, &mut sink);
                        out.lock().expect("summaries").push(summary);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Scp {
            port,
            events,
            summaries,
            stop,
            thread: Some(thread),
        }
    }

    /// Waits (at most `within`) until `n` associations have ended; returns their summaries.
    pub fn wait(&self, n: usize, within: Duration) -> Vec<AssociationSummary> {
        let until = Instant::now() + within;
        loop {
            let got = self.summaries.lock().expect("summaries").clone();
            if got.len() >= n || Instant::now() > until {
                assert!(
                    got.len() >= n,
                    "only {} of {n} associations ended: {got:#?}",
                    got.len()
                );
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("events").clone()
    }

    /// Stops the thread and joins it; panics if the SCP thread panicked.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("SCP thread panicked");
        }
    }
}

impl Drop for Scp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A finished tool run.
pub struct Run {
    pub status: Option<ExitStatus>,
    pub output: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

fn require_tool(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{tool} (dcmtk) is needed by the DICOM node's tests: `apt-get install dcmtk` (.ci/run does this)"
    );
}

/// Starts a tool with stdout and stderr going to `log`.
pub fn spawn(tool: &str, args: &[&str], log: &Path) -> Guard {
    require_tool(tool);
    let out = File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {tool}: {e}"));
    Guard(child)
}

/// Runs a tool to its end, killing it after `limit`.
pub fn run(tool: &str, args: &[&str], dir: &Path, limit: Duration) -> Run {
    let log = dir.join(format!("{tool}-{}.log", unique()));
    let mut guard = spawn(tool, args, &log);
    let until = Instant::now() + limit;
    let status = loop {
        match guard.0.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    drop(guard);
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    Run { status, output }
}

fn unique() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A file's data set: its bytes after preamble, "DICM" and the file meta group, whose length is the
/// (0002,0000) value (read here independently of radpipe's reader).
pub fn data_set_of(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).expect("read file");
    assert_eq!(&bytes[128..132], b"DICM", "{}", path.display());
    assert_eq!(&bytes[132..140], &[2, 0, 0, 0, b'U', b'L', 4, 0]);
    let group = u32::from_le_bytes(bytes[140..144].try_into().expect("4 bytes")) as usize;
    bytes[144 + group..].to_vec()
}

/// storescu re-encodes what it sends and leaves out a top-level Data Set Trailing Padding
/// (FFFC,FFFC) (ct_small.dcm has one): what arrived must be the file's data set up to that element,
/// and the element must run exactly to the end of the file.
pub fn assert_as_storescu_sends(got: &[u8], want: &[u8], file: &Path) {
    let tail = &want[got.len().min(want.len())..];
    let padding_only = tail.is_empty()
        || (tail.len() >= 12
            && tail[..6] == [0xFC, 0xFF, 0xFC, 0xFF, b'O', b'B']
            && u32::from_le_bytes([tail[8], tail[9], tail[10], tail[11]]) as usize
                == tail.len() - 12);
    assert!(
        want.starts_with(got) && padding_only,
        "{}: {} bytes received, {} in the file",
        file.display(),
        got.len(),
        want.len()
    );
}
