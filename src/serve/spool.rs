//! The spool: where every instance the node has acknowledged lives until its job is done, laid out
//! so that a `kill -9` at any moment leaves a state the next start can finish.
//!
//! ```text
//! spool/incoming/<association>/<sop uid>.dcm   received on an association not yet released
//! spool/incoming/<association>/RELEASED        the association ended with A-RELEASE (then the files move on)
//! spool/series/<route>/<study>/<series>/*.dcm  released instances, grouped, waiting for the series to complete
//! spool/work/<job>/in/*.dcm                    a complete series (moved there by one directory rename)
//! spool/work/<job>/out/*                       the job's results, written before anything is sent
//! spool/jobs/<job>.json                        the job's status, atomically rewritten
//! spool/orphaned/<association>/                instances of associations that never released (kept, never processed)
//! ```
//!
//! An instance is answered 0000 only after its bytes are in a file that has been fsynced and renamed
//! to its final name, and the folder fsynced. An association's instances start a job only once it is
//! released: one that is aborted is deleted; one cut off by a crash is moved to `orphaned/` on the next
//! start (acknowledged data is never deleted, but neither is it processed as if complete).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, OpenFileOptions};

/// Name of the marker that says an association was released.
const RELEASED: &str = "RELEASED";

/// The spool folder and its rules.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
    min_free_bytes: u64,
    max_instance_bytes: u64,
}

/// A received instance, as the series grouping needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    /// SOP Instance UID (also the file's stem).
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
}

/// What the series grouping is keyed by.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SeriesKey {
    /// The route's called AE title.
    pub route: String,
    /// Study Instance UID.
    pub study: String,
    /// Series Instance UID.
    pub series: String,
}

/// An instance being received: its data set bytes go to a temporary file behind a file meta group.
pub struct Pending {
    file: BufWriter<File>,
    temp: PathBuf,
    target: PathBuf,
    written: u64,
    cap: u64,
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len() as u64;
        if self.written > self.cap {
            return Err(std::io::Error::other(format!(
                "the data set is larger than the node's limit of {} MB",
                self.cap >> 20
            )));
        }
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Why an instance was not stored: the DIMSE status class it maps to and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A700: out of resources (disk nearly full, write failed).
    Resources(String),
    /// C000 class: the data cannot be understood (bad UID, unparsable data set).
    Unreadable(String),
}

impl Spool {
    /// Opens (creating) the spool at `root` and recovers what a previous run left: released
    /// associations are finished (their instances moved into `series/`), unreleased ones moved to
    /// `orphaned/`, stray temporary files removed. Returns the spool and the recovered arrivals.
    pub fn open(
        root: &Path,
        min_free_bytes: u64,
        max_instance_bytes: u64,
    ) -> std::io::Result<(Spool, Vec<(SeriesKey, Instance)>)> {
        for sub in ["incoming", "series", "work", "jobs", "orphaned"] {
            fs::create_dir_all(root.join(sub))?;
        }
        let spool = Spool {
            root: root.to_path_buf(),
            min_free_bytes,
            max_instance_bytes,
        };
        let mut recovered = Vec::new();
        for entry in fs::read_dir(root.join("incoming"))? {
            let dir = entry?.path();
            if !dir.is_dir() {
                continue;
            }
            remove_partials(&dir);
            if dir.join(RELEASED).is_file() {
                recovered.extend(spool.finish_release(&dir)?);
            } else {
                let name = dir.file_name().unwrap_or_default().to_owned();
                fs::rename(&dir, root.join("orphaned").join(name))?;
            }
        }
        Ok((spool, recovered))
    }

    /// Opens the spool a node's configuration names, with its free-space floor and instance cap;
    /// also returns what an earlier run left released but not yet grouped.
    pub fn open_for(
        node: &crate::serve::config::Node,
    ) -> crate::Result<(Spool, Vec<(SeriesKey, Instance)>)> {
        Spool::open(
            &node.spool,
            node.raw.min_free_mb << 20,
            node.raw.max_instance_mb << 20,
        )
        .map_err(|e| crate::Error::io(&node.spool, e))
    }

    /// The spool folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `jobs/` (status files).
    pub fn jobs_dir(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// `work/<job>/`.
    pub fn work_dir(&self, job: &str) -> PathBuf {
        self.root.join("work").join(job)
    }

    /// The folder an association's instances are received into (created).
    pub fn association_dir(&self, association: &str) -> std::io::Result<PathBuf> {
        let dir = self.root.join("incoming").join(association);
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Bytes free on the spool's file system for an unprivileged writer.
    pub fn free_bytes(&self) -> std::io::Result<u64> {
        let st = rustix::fs::statvfs(&self.root).map_err(std::io::Error::from)?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Starts receiving one instance into `dir` (an association folder): checks the UIDs and the free
    /// space, writes the preamble and file meta group to a temporary file.
    pub fn begin(
        &self,
        dir: &Path,
        sop_class_uid: &str,
        sop_instance_uid: &str,
        transfer_syntax: &str,
    ) -> Result<Pending, Refusal> {
        for (uid, what) in [
            (sop_class_uid, "Affected SOP Class UID"),
            (sop_instance_uid, "Affected SOP Instance UID"),
            (transfer_syntax, "transfer syntax"),
        ] {
            check_uid(uid).map_err(|e| Refusal::Unreadable(format!("{what} {e}")))?;
        }
        let free = self
            .free_bytes()
            .map_err(|e| Refusal::Resources(format!("spool: {e}")))?;
        if free < self.min_free_bytes {
            return Err(Refusal::Resources(format!(
                "spool disk nearly full: {} MB free, the floor is {} MB",
                free >> 20,
                self.min_free_bytes >> 20
            )));
        }
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(sop_class_uid)
            .media_storage_sop_instance_uid(sop_instance_uid)
            .transfer_syntax(transfer_syntax)
            .build()
            .map_err(|e| Refusal::Unreadable(format!("file meta: {e}")))?;
        let target = dir.join(format!("{sop_instance_uid}.dcm"));
        let temp = dir.join(format!(".{sop_instance_uid}.partial"));
        let io = |e: std::io::Error| Refusal::Resources(format!("spool: {e}"));
        let mut file = BufWriter::new(File::create(&temp).map_err(io)?);
        file.write_all(&[0u8; 128]).map_err(io)?;
        file.write_all(b"DICM").map_err(io)?;
        meta.write(&mut file)
            .map_err(|e| Refusal::Resources(format!("spool: file meta: {e}")))?;
        Ok(Pending {
            file,
            temp,
            target,
            written: 0,
            cap: self.max_instance_bytes,
        })
    }

    /// Finishes an instance: fsync, parse its header (refusing what cannot be read or has bad
    /// UIDs), rename to its final name, fsync the folder.
    pub fn finish(&self, pending: Pending, sop_instance_uid: &str) -> Result<Instance, Refusal> {
        let Pending {
            file, temp, target, ..
        } = pending;
        let io = |e: std::io::Error| Refusal::Resources(format!("spool: {e}"));
        let file = file.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        let instance = match read_instance(&temp) {
            Ok(i) if i.sop_instance_uid == sop_instance_uid => i,
            Ok(i) => {
                let _ = fs::remove_file(&temp);
                return Err(Refusal::Unreadable(format!(
                    "the data set's SOP Instance UID {} differs from the command's {sop_instance_uid}",
                    i.sop_instance_uid
                )));
            }
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(Refusal::Unreadable(e));
            }
        };
        fs::rename(&temp, &target).map_err(io)?;
        sync_dir(target.parent().unwrap_or(Path::new("."))).map_err(io)?;
        Ok(instance)
    }

    /// Drops an instance being received.
    pub fn discard(&self, pending: Pending) {
        let temp = pending.temp.clone();
        drop(pending);
        let _ = fs::remove_file(temp);
    }

    /// The association of `dir` was released: marks it (durably), then moves its instances into
    /// `series/`. Returns what arrived.
    pub fn release(&self, dir: &Path, route: &str) -> std::io::Result<Vec<(SeriesKey, Instance)>> {
        let marker = dir.join(RELEASED);
        let mut f = File::create(&marker)?;
        f.write_all(route.as_bytes())?;
        f.sync_all()?;
        sync_dir(dir)?;
        self.finish_release(dir)
    }

    /// The association of `dir` was aborted: everything it brought is deleted.
    pub fn abort(&self, dir: &Path) {
        let _ = fs::remove_dir_all(dir);
    }

    fn finish_release(&self, dir: &Path) -> std::io::Result<Vec<(SeriesKey, Instance)>> {
        let route = fs::read_to_string(dir.join(RELEASED))?;
        let mut out = Vec::new();
        let mut files: Vec<PathBuf> = fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
            .collect();
        files.sort();
        for file in files {
            // Read back (it was checked on arrival; a file that fails now is moved aside, not lost).
            let Ok(instance) = read_instance(&file) else {
                let aside = self.root.join("orphaned").join("unreadable");
                fs::create_dir_all(&aside)?;
                fs::rename(&file, aside.join(file.file_name().unwrap_or_default()))?;
                continue;
            };
            let key = SeriesKey {
                route: route.clone(),
                study: instance.study_instance_uid.clone(),
                series: instance.series_instance_uid.clone(),
            };
            let target = self.series_dir(&key);
            fs::create_dir_all(&target)?;
            fs::rename(
                &file,
                target.join(format!("{}.dcm", instance.sop_instance_uid)),
            )?;
            sync_dir(&target)?;
            out.push((key, instance));
        }
        fs::remove_dir_all(dir)?;
        sync_dir(&self.root.join("incoming"))?;
        Ok(out)
    }

    /// `series/<route>/<study>/<series>/`.
    pub fn series_dir(&self, key: &SeriesKey) -> PathBuf {
        self.root
            .join("series")
            .join(path_safe(&key.route))
            .join(&key.study)
            .join(&key.series)
    }

    /// Every series folder waiting in `series/` (after a restart), with its instances.
    pub fn waiting_series(&self) -> std::io::Result<Vec<(SeriesKey, Vec<Instance>)>> {
        let mut out = Vec::new();
        for route in subdirs(&self.root.join("series"))? {
            let Some(route_name) = route.file_name().and_then(|n| n.to_str()).map(path_unsafe)
            else {
                continue;
            };
            for study in subdirs(&route)? {
                for series in subdirs(&study)? {
                    let mut instances = Vec::new();
                    for f in fs::read_dir(&series)? {
                        let p = f?.path();
                        if p.extension().is_some_and(|x| x == "dcm")
                            && let Ok(i) = read_instance(&p)
                        {
                            instances.push(i);
                        }
                    }
                    let name = |p: &Path| {
                        p.file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned()
                    };
                    out.push((
                        SeriesKey {
                            route: route_name.clone(),
                            study: name(&study),
                            series: name(&series),
                        },
                        instances,
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Reads the identifying attributes of a spooled file (header only, never the pixel data).
pub fn read_instance(path: &Path) -> Result<Instance, String> {
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| format!("the data set cannot be parsed: {}", chain(&e)))?;
    let get = |tag, what: &str| -> Result<String, String> {
        let v = obj
            .element(tag)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{what} is missing"))?;
        check_uid(&v).map_err(|e| format!("{what} {e}"))?;
        Ok(v)
    };
    Ok(Instance {
        sop_instance_uid: get(tags::SOP_INSTANCE_UID, "SOP Instance UID")?,
        sop_class_uid: get(tags::SOP_CLASS_UID, "SOP Class UID")?,
        study_instance_uid: get(tags::STUDY_INSTANCE_UID, "Study Instance UID")?,
        series_instance_uid: get(tags::SERIES_INSTANCE_UID, "Series Instance UID")?,
    })
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// PS3.5 9.1: a UID is 1–64 characters, components of digits separated by single dots, no
/// component with a leading zero (other than "0" itself). Anything else never becomes a path.
pub fn check_uid(uid: &str) -> Result<(), String> {
    let ok = !uid.is_empty()
        && uid.len() <= 64
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        });
    if ok {
        Ok(())
    } else {
        let shown: String = uid.chars().take(70).collect();
        Err(format!("{shown:?} is not a valid UID (PS3.5 9.1)"))
    }
}

/// fsync a folder, so renames inside it are durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An AE title as a folder name: letters, digits, `-` and `_` kept, every other byte `%XX`.
fn path_safe(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn path_unsafe(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn subdirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

fn remove_partials(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "partial") {
                let _ = fs::remove_file(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_follow_ps3_5() {
        for good in ["1.2.840.10008.1.2", "0.1", "2.25.123456789"] {
            assert!(check_uid(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1..2",
            "1.02",
            "../etc",
            "1.2/3",
            "1.2.",
            &"1.".repeat(40),
        ] {
            assert!(check_uid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn route_names_survive_the_folder_encoding() {
        for t in ["STITCH", "A B/C%", "x.y"] {
            let safe = path_safe(t);
            assert!(!safe.contains('/') && !safe.contains('.'));
            assert_eq!(path_unsafe(&safe), t);
        }
    }
}
