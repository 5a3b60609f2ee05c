//! Whether two paths name the same file, seen through symbolic links, `./` spellings and hard links:
//! device and inode where the file exists, the canonical folder plus the name where it does not yet.
//! Shared by the output plan (every output against every input and each other) and the per-file
//! check of the atomic writer, so both refuse exactly the same paths.

use std::path::{Path, PathBuf};

/// Where a path leads: the same identity means the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// An existing file: (device, inode) on Unix, the canonical path elsewhere.
    Existing(u64, u64, PathBuf),
    /// A file still to be created: the canonical folder joined with the name.
    New(PathBuf),
}

impl Identity {
    pub(crate) fn same(&self, other: &Identity) -> bool {
        match (self, other) {
            (Identity::Existing(d1, i1, p1), Identity::Existing(d2, i2, p2)) => {
                if cfg!(unix) {
                    d1 == d2 && i1 == i2
                } else {
                    p1 == p2
                }
            }
            (Identity::New(a), Identity::New(b)) => a == b,
            (Identity::Existing(_, _, p), Identity::New(n))
            | (Identity::New(n), Identity::Existing(_, _, p)) => p == n,
        }
    }
}

pub(crate) fn identity(path: &Path) -> Option<Identity> {
    if let Ok(meta) = std::fs::metadata(path) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            return Some(Identity::Existing(meta.dev(), meta.ino(), canonical));
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            return Some(Identity::Existing(0, 0, canonical));
        }
    }
    let name = path.file_name()?;
    let folder = folder_of(path);
    let folder = std::fs::canonicalize(&folder).ok()?;
    Some(Identity::New(folder.join(name)))
}

/// The folder a file `path` goes in: its parent, or `.` for a bare name.
pub(crate) fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// True when `a` and `b` name the same file (see the module docs); a path that cannot be resolved
/// is compared as written.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (identity(a), identity(b)) {
        (Some(x), Some(y)) => x.same(&y),
        _ => a == b,
    }
}
