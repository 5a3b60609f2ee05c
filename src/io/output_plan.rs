//! The output plan: every path a command will write, checked before any work starts.
//!
//! A command lists its inputs and every output it may write (the main output and each side output:
//! reports, JSON, display views, checkpoints) and calls [`OutputPlan::check`] before it reads a pixel.
//! The check resolves each path by file identity — device and inode where the file exists, the
//! canonical folder plus the name where it does not — so symbolic links, `./` spellings and hard links
//! cannot make an output overwrite an input or another output. Each output's folder must exist (or, for
//! an output folder, its nearest existing ancestor must be a folder) and accept a new file, which is
//! proved by creating and removing a probe file there. So a command either fails at once with one line
//! naming the argument and the problem, or it has somewhere to put everything it will produce: never
//! half the outputs and then an error.
//!
//! The check also removes the partial files that an earlier radpipe process left in those folders when
//! it was killed (`.radpipe-<pid>-*.partial`, written by [`super::atomic::write_atomic`], whose process
//! no longer runs). Files of any other name are never touched.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::file_identity::{Identity, folder_of, identity};
use crate::{Error, Result};

#[derive(Debug)]
struct Entry {
    path: PathBuf,
    what: String,
    /// For folders: the command writes into it but does not create it.
    must_exist: bool,
}

/// Inputs and outputs of one command; see the module docs.
#[derive(Debug, Default)]
pub struct OutputPlan {
    inputs: Vec<Entry>,
    files: Vec<Entry>,
    folders: Vec<Entry>,
}

fn bad(what: &str, path: &Path, problem: impl std::fmt::Display) -> Error {
    Error::InvalidParams(format!("{what} {}: {problem}", path.display()))
}

impl OutputPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// A file the command reads (`what` names it in errors: "input", "--model", "--reference").
    pub fn input(mut self, path: &Path, what: &str) -> Self {
        self.inputs.push(Entry {
            path: path.to_path_buf(),
            what: what.to_string(),
            must_exist: false,
        });
        self
    }

    /// Several inputs under one name.
    pub fn inputs<P: AsRef<Path>>(mut self, paths: &[P], what: &str) -> Self {
        for p in paths {
            self = self.input(p.as_ref(), what);
        }
        self
    }

    /// An optional input.
    pub fn input_opt(self, path: Option<&Path>, what: &str) -> Self {
        match path {
            Some(p) => self.input(p, what),
            None => self,
        }
    }

    /// A file the command writes (`what`: the argument that names it, "-o", "--json").
    pub fn output(mut self, path: &Path, what: &str) -> Self {
        self.files.push(Entry {
            path: path.to_path_buf(),
            what: what.to_string(),
            must_exist: false,
        });
        self
    }

    /// An optional output file.
    pub fn output_opt(self, path: Option<&Path>, what: &str) -> Self {
        match path {
            Some(p) => self.output(p, what),
            None => self,
        }
    }

    /// A folder the command creates if needed and writes files into.
    pub fn output_folder(mut self, path: &Path, what: &str) -> Self {
        self.folders.push(Entry {
            path: path.to_path_buf(),
            what: what.to_string(),
            must_exist: false,
        });
        self
    }

    /// A folder that must already exist, which the command writes files into.
    pub fn existing_folder(mut self, path: &Path, what: &str) -> Self {
        self.folders.push(Entry {
            path: path.to_path_buf(),
            what: what.to_string(),
            must_exist: true,
        });
        self
    }

    /// Checks the plan (see the module docs); nothing is created but the folders' probe files, which
    /// are removed again. Output folders are not created here: the command creates them when it
    /// writes, and the check has proved it can.
    pub fn check(self) -> Result<()> {
        let inputs: Vec<(&Entry, Identity)> = self
            .inputs
            .iter()
            .filter_map(|e| identity(&e.path).map(|id| (e, id)))
            .collect();
        let mut seen: Vec<(&Entry, Identity)> = Vec::new();
        let mut folders_checked = BTreeSet::new();
        for out in &self.files {
            let folder = folder_of(&out.path);
            check_folder_exists(&out.what, &out.path, &folder)?;
            if out.path.is_dir() {
                return Err(bad(&out.what, &out.path, "is a folder, not a file"));
            }
            let Some(id) = identity(&out.path) else {
                return Err(bad(&out.what, &out.path, "is not a file name"));
            };
            let clash = |among: &[(&Entry, Identity)], why: &str| -> Result<()> {
                match among.iter().find(|(_, i)| i.same(&id)) {
                    Some((e, _)) => Err(bad(
                        &out.what,
                        &out.path,
                        format!("is the same file as {} {}; {why}", e.what, e.path.display()),
                    )),
                    None => Ok(()),
                }
            };
            clash(&inputs, "inputs are never overwritten")?;
            clash(&seen, "each output needs its own file")?;
            seen.push((out, id));
            if folders_checked.insert(canonical_or(&folder)) {
                probe_writable(&out.what, &out.path, &folder)?;
            }
        }
        for out in &self.folders {
            if out.path.exists() {
                if !out.path.is_dir() {
                    return Err(bad(&out.what, &out.path, "exists and is not a folder"));
                }
                if let Some((f, _)) = seen
                    .iter()
                    .find(|(_, i)| identity(&out.path).is_some_and(|o| o.same(i)))
                {
                    return Err(bad(
                        &out.what,
                        &out.path,
                        format!("is also given as {} {}", f.what, f.path.display()),
                    ));
                }
                if folders_checked.insert(canonical_or(&out.path)) {
                    probe_writable(&out.what, &out.path, &out.path)?;
                }
            } else if out.must_exist {
                return Err(bad(&out.what, &out.path, "folder does not exist"));
            } else {
                let ancestor = nearest_existing(&out.path);
                if !ancestor.is_dir() {
                    return Err(bad(
                        &out.what,
                        &out.path,
                        format!("{} is a file, not a folder", ancestor.display()),
                    ));
                }
                probe_writable(&out.what, &out.path, &ancestor)?;
            }
        }
        Ok(())
    }
}

fn canonical_or(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn nearest_existing(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    loop {
        if std::fs::symlink_metadata(&p).is_ok() {
            return p;
        }
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent.to_path_buf(),
            _ => return PathBuf::from("."),
        }
    }
}

fn check_folder_exists(what: &str, path: &Path, folder: &Path) -> Result<()> {
    match std::fs::metadata(folder) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(bad(
            what,
            path,
            format!("{} is a file, not a folder", folder.display()),
        )),
        Err(_) => {
            let ancestor = nearest_existing(folder);
            if ancestor.exists() && !ancestor.is_dir() {
                Err(bad(
                    what,
                    path,
                    format!("{} is a file, not a folder", ancestor.display()),
                ))
            } else {
                Err(bad(
                    what,
                    path,
                    format!("folder {} does not exist", folder.display()),
                ))
            }
        }
    }
}

/// Proves that `folder` takes a new file (permissions, read-only mounts, a full inode table), and
/// removes radpipe's own stale partial files there.
fn probe_writable(what: &str, path: &Path, folder: &Path) -> Result<()> {
    tempfile::Builder::new()
        .prefix(".radpipe-probe-")
        .tempfile_in(folder)
        .map_err(|e| {
            bad(
                what,
                path,
                format!("cannot create files in {}: {e}", folder.display()),
            )
        })?;
    super::atomic::remove_stale_partials(folder);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_that_is_an_input_by_any_spelling_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in.png");
        std::fs::write(&input, b"x").expect("write");
        let dotted = dir.path().join(".").join("in.png");
        let e = OutputPlan::new()
            .input(&input, "input")
            .output(&dotted, "--json")
            .check()
            .expect_err("same file");
        assert!(e.to_string().contains("--json"), "{e}");
        assert!(e.to_string().contains("same file as input"), "{e}");
        let hard = dir.path().join("hard.png");
        std::fs::hard_link(&input, &hard).expect("hard link");
        assert!(
            OutputPlan::new()
                .input(&input, "input")
                .output(&hard, "-o")
                .check()
                .is_err()
        );
        #[cfg(unix)]
        {
            let link = dir.path().join("link.png");
            std::os::unix::fs::symlink(&input, &link).expect("symlink");
            assert!(
                OutputPlan::new()
                    .input(&link, "input")
                    .output(&input, "-o")
                    .check()
                    .is_err()
            );
        }
    }

    #[test]
    fn two_outputs_on_one_file_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("o.png");
        let b = dir.path().join("sub").join("..").join("o.png");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let e = OutputPlan::new()
            .output(&a, "-o")
            .output(&b, "--display")
            .check()
            .expect_err("same output");
        assert!(e.to_string().contains("--display"), "{e}");
    }

    #[test]
    fn missing_folders_and_folders_under_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = OutputPlan::new()
            .output(&dir.path().join("nodir").join("x.json"), "--report")
            .check()
            .expect_err("missing");
        assert!(e.to_string().contains("does not exist"), "{e}");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        let e = OutputPlan::new()
            .output(&file.join("x.json"), "--report")
            .check()
            .expect_err("under a file");
        assert!(e.to_string().contains("is a file, not a folder"), "{e}");
        let e = OutputPlan::new()
            .output_folder(&file.join("out"), "-o")
            .check()
            .expect_err("folder under a file");
        assert!(e.to_string().contains("is a file, not a folder"), "{e}");
        assert!(
            OutputPlan::new()
                .output_folder(&dir.path().join("new").join("deeper"), "-o")
                .check()
                .is_ok()
        );
        #[cfg(target_os = "linux")]
        {
            // Even root cannot create files in /proc.
            let e = OutputPlan::new()
                .output(Path::new("/proc/radpipe-test.json"), "--json")
                .check()
                .expect_err("unwritable");
            assert!(e.to_string().contains("cannot create files"), "{e}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
        assert_eq!(left.len(), 1, "the check left files behind: {left:?}");
    }
}
