//! Nothing lost: every output is written to a temporary file in the target directory and renamed over
//! the destination only once it is complete, so a crash or an error never leaves a partial file, and an
//! output path that names one of the inputs is refused before anything is written.

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Writes an output file atomically: `fill` writes the whole content into the temporary file; on success
/// it is flushed, synced and renamed to `path`; on failure the temporary file is removed.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> Result<()>,
{
    let dir = super::file_identity::folder_of(path);
    if !dir.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("output directory {} does not exist", dir.display()),
            ),
        ));
    }
    let mut builder = tempfile::Builder::new();
    let prefix = partial_prefix(std::process::id());
    builder.prefix(&prefix).suffix(PARTIAL_SUFFIX);
    // Temporary files are private (0600) by default; an output gets the permissions any new file
    // gets here (0666 less the umask), as if it had been created directly.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(&dir).map_err(|e| Error::io(path, e))?;
    {
        let file = tmp.as_file_mut();
        let mut writer = std::io::BufWriter::new(file);
        fill(&mut writer)?;
        writer.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

const PARTIAL_SUFFIX: &str = ".partial";

/// `.radpipe-<pid>-`: the writer's process id in the name lets a later run tell a partial file whose
/// writer was killed from one another radpipe process is still writing.
fn partial_prefix(pid: u32) -> String {
    format!(".radpipe-{pid}-")
}

/// The writer's process id of one of radpipe's partial files, from its name; `None` for any other name.
fn partial_writer(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix(".radpipe-")?
        .strip_suffix(PARTIAL_SUFFIX)?;
    let (pid, random) = rest.split_once('-')?;
    if random.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Removes the partial files in `folder` that radpipe processes no longer running left behind (killed
/// mid-write). Only regular files named `.radpipe-<pid>-*.partial` whose process is gone are removed;
/// on systems without `/proc` nothing is. Errors are ignored: this is housekeeping.
pub fn remove_stale_partials(folder: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten().take(100_000) {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(partial_writer) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if !alive && regular {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Refuses an output path that is one of the inputs (by file identity: links, `./` and hard links
/// seen through), so an input is never overwritten.
pub fn ensure_not_input(output: &Path, inputs: &[&Path]) -> Result<()> {
    for input in inputs {
        if super::file_identity::same_file(output, input) {
            return Err(Error::InvalidParams(format!(
                "output {} is the same file as input {}; inputs are never overwritten",
                output.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_partials_of_dead_writers_go_and_nothing_else_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A pid above the kernel's maximum (4 194 304) never runs.
        let dead = dir.path().join(".radpipe-999999999-abc123.partial");
        let alive = dir
            .path()
            .join(format!(".radpipe-{}-abc123.partial", std::process::id()));
        let others = [
            ".radpipe-abc123.partial",
            ".radpipe-999999999-.partial",
            "radpipe-999999999-x.partial",
            ".radpipe-999999999-x.png",
            "image.partial",
        ];
        for p in [&dead, &alive] {
            std::fs::write(p, b"x").expect("write");
        }
        for o in others {
            std::fs::write(dir.path().join(o), b"x").expect("write");
        }
        remove_stale_partials(dir.path());
        if Path::new("/proc/self").exists() {
            assert!(!dead.exists(), "a dead writer's partial file stayed");
        }
        assert!(
            alive.exists(),
            "a running writer's partial file was removed"
        );
        for o in others {
            assert!(dir.path().join(o).exists(), "{o} was removed");
        }
    }

    #[cfg(unix)]
    #[test]
    fn outputs_get_ordinary_file_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("plain.bin");
        std::fs::File::create(&plain).expect("create");
        let target = dir.path().join("out.bin");
        write_atomic(&target, |w| {
            w.write_all(b"data").map_err(|e| Error::io("x", e))
        })
        .expect("write");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&target), mode(&plain));
    }

    #[test]
    fn failed_fill_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.bin");
        let result = write_atomic(&target, |w| {
            w.write_all(b"half").map_err(|e| Error::io("x", e))?;
            Err(Error::InvalidParams("boom".into()))
        });
        assert!(result.is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read_dir").collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn successful_write_replaces_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.bin");
        std::fs::write(&target, b"old").expect("write");
        write_atomic(&target, |w| {
            w.write_all(b"new").map_err(|e| Error::io("x", e))
        })
        .expect("atomic write");
        assert_eq!(std::fs::read(&target).expect("read"), b"new");
    }

    #[test]
    fn output_equal_to_input_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.dcm");
        std::fs::write(&a, b"x").expect("write");
        let same = dir.path().join(".").join("a.dcm");
        assert!(ensure_not_input(&same, &[&a]).is_err());
        assert!(ensure_not_input(&dir.path().join("b.png"), &[&a]).is_ok());
    }
}
