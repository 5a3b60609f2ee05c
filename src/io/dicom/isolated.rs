//! Third-party decoders of encapsulated pixel data, run in a child process under a memory and a CPU-time
//! budget.
//!
//! The header checks (`codestream`, the compression-ratio check in `pixels`) stop the size claims we
//! know of, but not a decoder's own runaway on a codestream that passes them: dicom-rs's JPEG and
//! JPEG 2000 decoders allocate as their input tells them, and radpipe cannot count their allocations
//! (it forbids `unsafe`, so it has no global allocator of its own, and a Rust allocator that says no
//! aborts the process rather than failing the call). So a program that takes input from strangers — the
//! `radpipe` command, the DICOM node and its workers — turns isolation on once with [`isolate_decoders`],
//! naming a helper executable. Each encapsulated data set is then decoded by that helper
//! (`radpipe decode-pixels`, hidden), which first lowers its own address-space limit (`RLIMIT_AS`) and
//! CPU-time limit (`RLIMIT_CPU`) to a budget derived from the declared frame size and the file size, and
//! writes the decoded bytes to its standard output. Whatever the decoder then does — allocate without
//! end, spin, crash, panic — ends the helper, not the caller, and the caller reports it in one line
//! naming the file, the codec and the budget. A wall-clock deadline kills a helper that neither finishes
//! nor uses CPU.
//!
//! Without isolation (the library's default, and the Python module) decoders run in-process with the
//! header checks and panic containment only; native and RLE data never leave the process: radpipe reads
//! them itself, allocating exactly the declared size.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// The hidden subcommand the helper executable answers to.
pub const HELPER_COMMAND: &str = "decode-pixels";

/// Fault injection for tests: `RADPIPE_FAULT_DECODE=alloc` makes the helper allocate without end
/// after setting its limits, `spin` makes it loop on the CPU; both stand for a decoder's runaway.
const FAULT_ENV: &str = "RADPIPE_FAULT_DECODE";
/// Overrides the CPU-time budget in seconds (tests).
const CPU_ENV: &str = "RADPIPE_DECODE_CPU_SECONDS";

const MIB: u64 = 1024 * 1024;
/// Address space the helper needs before it decodes anything: its own mapped executable and
/// libraries, the allocator's arenas, a thread stack (measured ~120 MiB for `radpipe`; twice that).
const BASE_MEMORY: u64 = 256 * MIB;
/// Decoders hold the codestream, their working buffers and the output: a few times the frame.
const PER_DECODED_BYTE: u64 = 8;
const BASE_CPU_SECONDS: u64 = 20;
/// One CPU second more per this many decoded bytes (lossless JPEG 2000 runs at tens of MB/s).
const BYTES_PER_CPU_SECOND: u64 = 4 * MIB;

static HELPER: OnceLock<PathBuf> = OnceLock::new();

/// Decodes encapsulated pixel data in child processes of `helper` (an executable that runs
/// [`helper_main`] for [`HELPER_COMMAND`]) from now on, for the rest of the process. The first call
/// wins.
pub fn isolate_decoders(helper: PathBuf) {
    let _ = HELPER.set(helper);
}

/// The helper set by [`isolate_decoders`], if any.
pub(super) fn helper() -> Option<&'static Path> {
    HELPER.get().map(PathBuf::as_path)
}

/// What a helper may spend on one data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Address-space limit of the helper, bytes.
    pub memory: u64,
    /// CPU-time limit of the helper, seconds.
    pub cpu_seconds: u64,
}

impl Budget {
    /// The budget for a file of `file_len` bytes whose frames decode to `decoded` bytes.
    pub fn for_frames(decoded: u64, file_len: u64) -> Self {
        let cpu = std::env::var(CPU_ENV)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(BASE_CPU_SECONDS + decoded / BYTES_PER_CPU_SECOND);
        Budget {
            memory: BASE_MEMORY
                .saturating_add(file_len.saturating_mul(2))
                .saturating_add(decoded.saturating_mul(PER_DECODED_BYTE)),
            cpu_seconds: cpu.max(1),
        }
    }

    /// The wall-clock deadline: the CPU budget twice over plus a margin for a loaded machine.
    fn wall(&self) -> Duration {
        Duration::from_secs(self.cpu_seconds.saturating_mul(2).saturating_add(10))
    }
}

/// Decodes `path`'s encapsulated pixel data in a helper process; `decoded` is the byte count the
/// frames must decode to, `codec` names the transfer syntax in messages.
pub(super) fn decode(helper: &Path, path: &Path, decoded: u64, codec: &str) -> Result<Vec<u8>> {
    let file_len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let budget = Budget::for_frames(decoded, file_len);
    let mut child = Command::new(helper)
        .arg(HELPER_COMMAND)
        .arg("--memory-bytes")
        .arg(budget.memory.to_string())
        .arg("--cpu-seconds")
        .arg(budget.cpu_seconds.to_string())
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "0")
        .spawn()
        .map_err(|e| {
            Error::unsupported(
                path,
                format!("cannot start the decoder process {}: {e}", helper.display()),
            )
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    // Read both pipes while waiting, so a helper that writes a lot cannot block on a full pipe; the
    // output is capped at what the frames need (the in-process path ignores any excess too).
    let out = spawn_reader("radpipe-decode-out", stdout, decoded, true);
    let err = spawn_reader("radpipe-decode-err", stderr, 64 * 1024, false);
    let (out, err) = match (
        out.map_err(|e| Error::io(path, e)),
        err.map_err(|e| Error::io(path, e)),
    ) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let deadline = Instant::now() + budget.wall();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::io(path, e));
            }
        }
    };
    let bytes = out.join().unwrap_or_default();
    let message = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    let Some(status) = status else {
        return Err(Error::unsupported(
            path,
            format!(
                "the {codec} decoder did not finish within {} s of wall-clock time; not decoded",
                budget.wall().as_secs()
            ),
        ));
    };
    if status.success() {
        return Ok(bytes);
    }
    Err(failure(path, codec, budget, status, &message))
}

/// Turns a helper's failure into radpipe's error for `path`.
fn failure(
    path: &Path,
    codec: &str,
    budget: Budget,
    status: std::process::ExitStatus,
    stderr: &str,
) -> Error {
    if let Some(reported) = stderr.lines().find_map(|l| l.strip_prefix(REPORT)) {
        return match reported.split_once('\t') {
            Some(("format", m)) => Error::format(path, m),
            Some((_, m)) => Error::unsupported(path, m),
            None => Error::unsupported(path, reported),
        };
    }
    let memory = format!("its memory budget of {} MiB", budget.memory / MIB);
    let cpu = format!("its CPU-time budget of {} s", budget.cpu_seconds);
    use std::os::unix::process::ExitStatusExt;
    // Rust's allocator reports a refused allocation with this text, then aborts.
    let why = if stderr.contains("memory allocation of") {
        format!("went over {memory}")
    } else {
        match status.signal() {
            // SIGXCPU: the soft RLIMIT_CPU.
            Some(24) => format!("went over {cpu}"),
            // SIGKILL: the hard RLIMIT_CPU, or the kernel's out-of-memory killer.
            Some(9) => format!("was killed (over {cpu}, or the system ran out of memory)"),
            Some(n) => format!("crashed (signal {n})"),
            None => format!("failed (exit status {})", status.code().unwrap_or(-1)),
        }
    };
    Error::unsupported(path, format!("the {codec} decoder {why}; not decoded"))
}

/// A thread reading [`read_capped`] from `pipe`.
fn spawn_reader<R: Read + Send + 'static>(
    name: &str,
    pipe: Option<R>,
    cap: u64,
    reserve: bool,
) -> std::io::Result<std::thread::JoinHandle<Vec<u8>>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || read_capped(pipe, cap, reserve))
}

/// Reads at most `cap` bytes of `pipe` (reserving them up front when `reserve`: the decoded size is
/// known and already checked, so the buffer is allocated once), then drains the rest.
fn read_capped(pipe: Option<impl Read>, cap: u64, reserve: bool) -> Vec<u8> {
    let mut buf = if reserve {
        Vec::with_capacity(usize::try_from(cap).unwrap_or(0))
    } else {
        Vec::new()
    };
    if let Some(pipe) = pipe {
        let mut pipe = pipe.take(cap);
        let _ = pipe.read_to_end(&mut buf);
        // Drain the rest so the helper is not blocked on a full pipe; it is discarded.
        let _ = std::io::copy(&mut pipe.into_inner(), &mut std::io::sink());
    }
    buf
}

/// The prefix of the line in which a helper reports an error of radpipe's own.
const REPORT: &str = "radpipe-decode-error\t";

/// The helper's side: sets the limits, decodes `path`'s encapsulated pixel data in this process and
/// writes the bytes to standard output. Returns the exit status: 0 when decoded, 3 on a reported
/// error, 4 when the limits cannot be set.
pub fn helper_main(path: &Path, budget: Budget) -> u8 {
    if let Err(e) = set_limits(budget) {
        let _ = writeln!(
            std::io::stderr(),
            "{REPORT}unsupported\tcannot set the decoder's limits: {e}"
        );
        return 4;
    }
    match std::env::var(FAULT_ENV).as_deref() {
        Ok("alloc") => runaway_allocation(),
        Ok("spin") => runaway_loop(),
        _ => {}
    }
    match super::decode_encapsulated_in_process(path) {
        Ok(bytes) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(&bytes).and_then(|()| out.flush()) {
                Ok(()) => 0,
                Err(_) => 3,
            }
        }
        Err(e) => {
            let (kind, message) = match &e {
                Error::Format { message, .. } => ("format", message.clone()),
                Error::Unsupported { message, .. } => ("unsupported", message.clone()),
                other => ("unsupported", other.to_string()),
            };
            let message = message.replace(['\n', '\t'], " ");
            let _ = writeln!(std::io::stderr(), "{REPORT}{kind}\t{message}");
            3
        }
    }
}

/// Lowers this process's limits to `budget`, never above a limit it inherited (a process may not
/// raise its hard limits).
fn set_limits(budget: Budget) -> std::io::Result<()> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lower = |resource, soft: u64, hard: u64| {
        let inherited = getrlimit(resource).maximum.unwrap_or(u64::MAX);
        setrlimit(
            resource,
            Rlimit {
                current: Some(soft.min(inherited)),
                maximum: Some(hard.min(inherited)),
            },
        )
    };
    lower(Resource::As, budget.memory, budget.memory)?;
    // The soft limit sends SIGXCPU, the hard one a second later SIGKILL.
    lower(
        Resource::Cpu,
        budget.cpu_seconds,
        budget.cpu_seconds.saturating_add(1),
    )?;
    Ok(())
}

/// A decoder that allocates as its input tells it, without end (fault injection).
fn runaway_allocation() {
    let mut held: Vec<Vec<u8>> = Vec::new();
    // Bounded: 1 TiB in 64 MiB steps is far past any budget.
    for _ in 0..16 * 1024 {
        held.push(vec![1u8; 64 * MIB as usize]);
    }
    std::hint::black_box(&held);
}

/// A decoder caught in a loop (fault injection); bounded in count, ended by the CPU limit first.
fn runaway_loop() {
    let mut x = 0u64;
    for i in 0..u64::MAX / 2 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    std::hint::black_box(x);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_grows_with_the_frames_and_the_file() {
        let small = Budget::for_frames(512 * 512 * 2, 100_000);
        let large = Budget::for_frames(4096 * 4096 * 2, 20 * MIB);
        assert!(small.memory >= BASE_MEMORY && small.memory < BASE_MEMORY + 5 * MIB);
        assert_eq!(large.memory, BASE_MEMORY + 40 * MIB + 8 * 32 * MIB);
        assert!(large.cpu_seconds > small.cpu_seconds);
        assert!(large.wall() > Duration::from_secs(large.cpu_seconds));
    }

    #[test]
    fn a_reported_error_keeps_its_kind_and_names_the_file() {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::ExitStatus::from_raw(3 << 8);
        let budget = Budget::for_frames(0, 0);
        let e = failure(
            Path::new("x.dcm"),
            "JPEG",
            budget,
            status,
            "noise\nradpipe-decode-error\tformat\tbad marker\n",
        );
        assert!(matches!(&e, Error::Format { message, .. } if message == "bad marker"));
        assert_eq!(e.to_string(), "x.dcm: bad marker");
    }

    #[test]
    fn an_allocator_abort_and_a_cpu_signal_name_the_budget_that_ran_out() {
        use std::os::unix::process::ExitStatusExt;
        let budget = Budget {
            memory: 300 * MIB,
            cpu_seconds: 20,
        };
        let say = |raw: i32, stderr: &str| {
            let status = std::process::ExitStatus::from_raw(raw);
            failure(Path::new("y.dcm"), "JPEG 2000", budget, status, stderr).to_string()
        };
        assert_eq!(
            say(6, "memory allocation of 67108864 bytes failed\n"),
            "y.dcm: unsupported: the JPEG 2000 decoder went over its memory budget of 300 MiB; not decoded"
        );
        assert!(say(24, "").contains("went over its CPU-time budget of 20 s"));
        assert!(say(9, "").contains("was killed (over its CPU-time budget of 20 s, or"));
        assert!(say(11, "").contains("crashed (signal 11)"));
        assert!(say(5 << 8, "").contains("failed (exit status 5)"));
    }
}
