//! The input gate: every file radpipe reads passes here first, so that no input can hang the process,
//! exhaust its memory before being looked at, or fail with a confusing error.
//!
//! - Only regular files are read (after following symbolic links): a FIFO or a character device such
//!   as `/dev/zero` would block forever or never end; a directory or socket is refused with what it is.
//! - Each kind of input has a size cap, checked from the file's metadata before a byte is read, so a
//!   2 GB sparse file fails in microseconds. `RADPIPE_MAX_INPUT_MB` raises or lowers the caps of image
//!   and model files for a site that needs it.
//! - Files are opened non-blocking on Linux and checked again through the open handle, so a file
//!   swapped for a FIFO between the check and the open cannot block either.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// What a file is read as; each has its own size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A DICOM, PNG, TIFF, JPEG or raw image.
    Image,
    /// Network weights, checkpoints, pickles.
    Model,
    /// A pipeline or configuration file (TOML, JSON).
    Text,
}

const MIB: u64 = 1024 * 1024;

impl InputKind {
    /// The largest file of this kind radpipe reads.
    pub fn max_bytes(self) -> u64 {
        let override_mb = std::env::var("RADPIPE_MAX_INPUT_MB")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&v| v > 0);
        match self {
            // A full-spine station is 20–60 MB, a multi-frame localizer a few MB: 1 GiB is generous
            // and still bounded (DICOM and raster decoders hold the whole file in memory).
            InputKind::Image | InputKind::Model => override_mb.map_or(1024 * MIB, |m| m * MIB),
            InputKind::Text => 16 * MIB,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            InputKind::Image => "image",
            InputKind::Model => "model",
            InputKind::Text => "text",
        }
    }
}

fn refused(path: &Path, message: String) -> Error {
    Error::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
    )
}

/// What a non-regular file is, in words.
fn what_it_is(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

fn check_metadata(path: &Path, meta: &Metadata, kind: InputKind) -> Result<u64> {
    if !meta.is_file() {
        return Err(refused(
            path,
            format!(
                "is {}, not a regular file; radpipe reads regular files only",
                what_it_is(meta)
            ),
        ));
    }
    let max = kind.max_bytes();
    if meta.len() > max {
        return Err(refused(
            path,
            format!(
                "is {} bytes, over the {} MiB radpipe reads as an {} file (RADPIPE_MAX_INPUT_MB sets it)",
                meta.len(),
                max / MIB,
                kind.noun()
            ),
        ));
    }
    Ok(meta.len())
}

/// Checks that `path` is a regular file (links followed) within `kind`'s size cap, without opening it.
/// Returns its size.
pub fn check(path: &Path, kind: InputKind) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(meta) => check_metadata(path, &meta, kind),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                Err(refused(
                    path,
                    "is a symbolic link to nothing (dangling)".into(),
                ))
            } else {
                Err(Error::io(path, e))
            }
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Opens `path` for reading after [`check`], never blocking on a special file.
pub fn open(path: &Path, kind: InputKind) -> Result<File> {
    check(path, kind)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO swapped in after the check returns at once instead of waiting
        // for a writer. On a regular file it changes nothing.
        const O_NONBLOCK: i32 = 0o4000;
        options.custom_flags(O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    check_metadata(path, &meta, kind)?;
    Ok(file)
}

/// Reads the whole of `path` (see [`open`]).
pub fn read(path: &Path, kind: InputKind) -> Result<Vec<u8>> {
    let mut file = open(path, kind)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let max = kind.max_bytes();
    let mut bytes = Vec::with_capacity(size.min(max) as usize);
    // `take` bounds the read even if the file grows while it is read.
    file.by_ref()
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(refused(
            path,
            format!("grew past {} MiB while being read", max / MIB),
        ));
    }
    Ok(bytes)
}

/// Reads `path` as UTF-8 text (see [`open`]).
pub fn read_to_string(path: &Path, kind: InputKind) -> Result<String> {
    let bytes = read(path, kind)?;
    String::from_utf8(bytes).map_err(|_| Error::format(path, "is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_pass_and_report_their_size() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.bin");
        std::fs::write(&p, b"12345").expect("write");
        assert_eq!(check(&p, InputKind::Image).expect("check"), 5);
        assert_eq!(read(&p, InputKind::Image).expect("read"), b"12345");
    }

    #[test]
    fn folders_devices_and_dangling_links_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = check(dir.path(), InputKind::Image).expect_err("folder");
        assert!(e.to_string().contains("is a folder"), "{e}");
        #[cfg(unix)]
        {
            let e = check(Path::new("/dev/zero"), InputKind::Image).expect_err("device");
            assert!(e.to_string().contains("character device"), "{e}");
            let link = dir.path().join("dangling");
            std::os::unix::fs::symlink(dir.path().join("nothing"), &link).expect("symlink");
            let e = check(&link, InputKind::Image).expect_err("dangling");
            assert!(e.to_string().contains("dangling"), "{e}");
        }
        let e = check(&dir.path().join("missing"), InputKind::Image).expect_err("missing");
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("big.toml");
        let f = File::create(&p).expect("create");
        f.set_len(InputKind::Text.max_bytes() + 1).expect("sparse");
        let e = read(&p, InputKind::Text).expect_err("too big");
        assert!(e.to_string().contains("MiB"), "{e}");
    }
}
