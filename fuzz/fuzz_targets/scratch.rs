//! A per-process scratch file: the readers take paths (as the CLI does), so each input is written to
//! the same file in the system temp folder and read back through the public API.

use std::path::PathBuf;

/// Writes `data` to this process's scratch file with extension `ext` and returns its path.
pub fn write(data: &[u8], ext: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("radpipe-fuzz-{}.{ext}", std::process::id()));
    std::fs::write(&path, data).expect("scratch file");
    path
}
