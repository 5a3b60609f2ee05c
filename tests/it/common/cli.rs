//! Running the `radpipe` binary from tests: the command, path arguments and stderr as radpipe wrote it.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `radpipe ARGS` and waits for it.
pub fn radpipe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_radpipe"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("run radpipe")
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// stderr without the line libwayland prints when Mesa's Vulkan WSI probes for a Wayland session
/// (`XDG_RUNTIME_DIR is invalid or not set`): environment noise from the driver, not radpipe's output.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| !l.contains("XDG_RUNTIME_DIR"))
        .map(|l| format!("{l}\n"))
        .collect()
}
