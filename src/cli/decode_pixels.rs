//! `radpipe decode-pixels` (hidden): the helper process in which the `radpipe` command and the DICOM
//! node decode encapsulated pixel data under a memory and CPU-time budget (see
//! `radpipe::io::dicom::isolate_decoders`). Not for people: its output is raw decoder bytes.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct DecodePixelsArgs {
    /// Address-space limit, bytes.
    #[arg(long)]
    pub memory_bytes: u64,
    /// CPU-time limit, seconds.
    #[arg(long)]
    pub cpu_seconds: u64,
    /// The DICOM file whose encapsulated pixel data to decode.
    pub file: PathBuf,
}

/// Runs the helper; its exit status is the process's.
pub fn run(a: &DecodePixelsArgs) -> u8 {
    radpipe::io::dicom::helper_main(
        &a.file,
        radpipe::io::dicom::Budget {
            memory: a.memory_bytes,
            cpu_seconds: a.cpu_seconds,
        },
    )
}

/// Turns isolation on for this process: encapsulated pixel data is decoded by this same executable,
/// as a budgeted helper. On Linux the helper is started through `/proc/self/exe`, which stays this
/// process's own binary even after the file on disk is replaced or deleted (a package upgrade under
/// a running node); elsewhere through the executable's path. When neither is known, decoders stay
/// in-process with a warning.
pub fn isolate() {
    let proc_exe = std::path::Path::new("/proc/self/exe");
    if proc_exe.exists() {
        radpipe::io::dicom::isolate_decoders(proc_exe.to_path_buf());
        return;
    }
    match std::env::current_exe() {
        Ok(exe) => radpipe::io::dicom::isolate_decoders(exe),
        Err(e) => eprintln!(
            "radpipe: warning: cannot find this executable ({e}); compressed DICOM pixel data is decoded without a memory budget"
        ),
    }
}
