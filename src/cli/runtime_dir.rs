//! A private `XDG_RUNTIME_DIR` for the process when the environment has none.
//!
//! Mesa's Vulkan device-select layer (shipped with lavapipe) asks libwayland for a display while wgpu
//! creates its instance, and libwayland prints `error: XDG_RUNTIME_DIR is invalid or not set in the
//! environment.` to stderr when the variable is missing — twice per run, on a successful run, in every
//! container and CI job. Setting an environment variable of the running process needs `unsafe` in Rust
//! 2024 (the crate forbids it), so when the variable is unset the binary re-executes itself once with
//! it pointing at a per-user 0700 folder under the temporary directory. The folder holds nothing; its
//! existence is all libwayland checks before it finds no socket there and gives up quietly.

use std::ffi::OsString;
#[cfg(unix)]
use std::path::PathBuf;

/// Set in the re-executed child so it never loops.
const GUARD: &str = "RADPIPE_RUNTIME_DIR_SET";

/// Re-executes the binary with a private `XDG_RUNTIME_DIR` when none is set. Returns only when no
/// re-execution happened (the variable was set, the folder could not be made safely, or exec failed),
/// and then the run goes on as before — the only cost of any failure here is the stderr noise.
pub fn ensure() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|v| !v.is_empty())
        || std::env::var_os(GUARD).is_some()
    {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let Some(dir) = private_dir() else { return };
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        // `exec` only returns on failure; then carry on without the variable.
        let _ = std::process::Command::new(exe)
            .args(args)
            .env("XDG_RUNTIME_DIR", dir)
            .env(GUARD, "1")
            .exec();
    }
}

/// `$TMPDIR/radpipe-runtime-<uid>`, created 0700, or `None` when it exists but is not a folder of
/// ours with mode 0700 (someone else's, or a symlink): then it is not used.
#[cfg(unix)]
fn private_dir() -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let dir = std::env::temp_dir().join(format!("radpipe-runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    let ours = meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o777 == 0o700;
    ours.then_some(dir)
}
