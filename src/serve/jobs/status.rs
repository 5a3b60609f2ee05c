//! One status file per job, `spool/jobs/<job id>.json`, rewritten atomically (temporary file, fsync,
//! rename, folder fsync) at every state change. It is what an operator reads, and what a restart
//! resumes from: `received` and `processing` jobs are (re)computed — their result UIDs are derived from
//! the inputs, so a recomputation gives the same instances — `sending` jobs send what is in
//! `work/<job>/out/` to the destinations not yet done; `sent` and `failed` jobs are finished.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::serve::clock;
use crate::serve::config::JobKind;
use crate::serve::spool::sync_dir;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The series is complete and waits for the engine.
    Received,
    /// The engine is working on it.
    Processing,
    /// Results are written; sending them to the destinations.
    Sending,
    /// Every destination acknowledged every result.
    Sent,
    /// Given up, with the reason in `error`.
    Failed,
}

/// One destination's delivery of a job's results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// `pending`, `sent` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error.
    pub error: Option<String>,
    /// When it was acknowledged.
    pub sent_at: Option<String>,
}

/// Timestamps (RFC 3339, UTC) of the job's steps; with them the node's latency splits into
/// receive, queue, compute and send.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Times {
    /// The series' first instance (of this run of the node) was stored.
    pub first_received: Option<String>,
    /// Its last instance was stored.
    pub last_received: Option<String>,
    /// The series was declared complete and the job created.
    pub queued: Option<String>,
    /// The engine started on it.
    pub started: Option<String>,
    /// The results were written.
    pub computed: Option<String>,
    /// The last destination acknowledged (or the job failed).
    pub finished: Option<String>,
    /// The same instants as milliseconds since the Unix epoch, for arithmetic.
    pub unix_ms: BTreeMap<String, u64>,
}

/// The status file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// Job id (the file's stem; derived from the route, the series and its instances).
    pub id: String,
    /// Where it is.
    pub state: State,
    /// The route's called AE title.
    pub route: String,
    /// What it runs.
    pub job: JobKind,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// SOP Instance UIDs of the inputs.
    pub instances: Vec<String>,
    /// Why the series was complete (`expected`, `quiet`, `max_age`).
    pub completion: String,
    /// SOP Instance UIDs of the results.
    pub outputs: Vec<String>,
    /// The results' file names in `work/<id>/out/`.
    pub output_files: Vec<String>,
    /// Per destination name.
    pub destinations: BTreeMap<String, Delivery>,
    /// Why it failed.
    pub error: Option<String>,
    /// Instances of this series that arrived after the job was created (kept in `work/<id>/late/`,
    /// not merged into the result).
    pub late_instances: Vec<String>,
    /// Compute attempts (a restart mid-compute makes a second).
    pub attempts: u32,
    /// What computed it (adapter or backend).
    pub engine: Option<String>,
    /// Job-specific numbers: the stitch layout, the segment job's centre and angles.
    pub result: Option<serde_json::Value>,
    /// Timestamps.
    pub times: Times,
}

impl JobStatus {
    /// Marks `step` (one of the [`Times`] fields) as now.
    pub fn stamp(&mut self, step: &str) {
        self.stamp_at(step, std::time::SystemTime::now());
    }

    /// Marks `step` at `t`.
    pub fn stamp_at(&mut self, step: &str, t: std::time::SystemTime) {
        let text = Some(clock::rfc3339(t));
        let t_ms = clock::unix_ms(t);
        let times = &mut self.times;
        match step {
            "first_received" => times.first_received = text,
            "last_received" => times.last_received = text,
            "queued" => times.queued = text,
            "started" => times.started = text,
            "computed" => times.computed = text,
            _ => times.finished = text,
        }
        times.unix_ms.insert(step.to_string(), t_ms);
    }
}

/// The `jobs/` folder. Clones share one lock, so threads updating the same job (the engine, the
/// forwarders of its destinations) never lose each other's changes.
#[derive(Debug, Clone)]
pub struct StatusFiles {
    dir: PathBuf,
    lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl StatusFiles {
    /// Status files in `dir`.
    pub fn new(dir: &Path) -> Self {
        StatusFiles {
            dir: dir.to_path_buf(),
            lock: Default::default(),
        }
    }

    /// Reads job `id`, applies `change` and writes it back, all under the lock; returns the result.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut JobStatus),
    ) -> crate::Result<JobStatus> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut status = self.read(id)?;
        change(&mut status);
        self.write_unlocked(&status)?;
        Ok(status)
    }

    /// `jobs/<id>.json`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes `status` durably.
    pub fn write(&self, status: &JobStatus) -> crate::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.write_unlocked(status)
    }

    fn write_unlocked(&self, status: &JobStatus) -> crate::Result<()> {
        let path = self.path(&status.id);
        let text = serde_json::to_vec_pretty(status)
            .map_err(|e| crate::Error::format(&path, format!("cannot encode: {e}")))?;
        crate::io::atomic::write_atomic(&path, |w| {
            use std::io::Write;
            w.write_all(&text)
                .and_then(|()| w.write_all(b"\n"))
                .map_err(|e| crate::Error::io(&path, e))
        })?;
        sync_dir(&self.dir).map_err(|e| crate::Error::io(&self.dir, e))
    }

    /// Reads `jobs/<id>.json`.
    pub fn read(&self, id: &str) -> crate::Result<JobStatus> {
        let path = self.path(id);
        let text = std::fs::read(&path).map_err(|e| crate::Error::io(&path, e))?;
        serde_json::from_slice(&text).map_err(|e| crate::Error::format(&path, e.to_string()))
    }

    /// Every status file, oldest job first (by queue time), unreadable ones reported by name.
    pub fn all(&self) -> (Vec<JobStatus>, Vec<String>) {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return (ok, bad);
        };
        for e in entries.flatten() {
            let p = e.path();
            let Some(stem) = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            match self.read(stem) {
                Ok(s) => ok.push(s),
                Err(e) => bad.push(e.to_string()),
            }
        }
        ok.sort_by_key(|s: &JobStatus| {
            (
                s.times.unix_ms.get("queued").copied().unwrap_or(0),
                s.id.clone(),
            )
        });
        (ok, bad)
    }
}
