//! What travels on the job stream: one JSON message per job, with everything a worker needs to do it
//! without asking anyone (the instances' object names, the route by name — each worker reads the
//! same routes from its own copy of the config — or the batch's pipeline file as text).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serve::series::Completion;

/// A complete series from a receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesJob {
    /// Job id (derived from route, series and instances: the same series gives the same id).
    pub id: String,
    /// The series' KV key.
    pub series_key: String,
    /// Route (called AE title).
    pub route: String,
    /// Study Instance UID.
    pub study: String,
    /// Series Instance UID.
    pub series: String,
    /// SOP Instance UID → object name.
    pub instances: BTreeMap<String, String>,
    /// Why it was complete.
    pub why: Completion,
    /// Its last instance's arrival (ms since the epoch).
    pub last_ms: u64,
    /// When it was queued.
    pub queued_ms: u64,
}

/// One file of a `radpipe run --queue` batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchJob {
    /// `<run id>.<index>`.
    pub id: String,
    /// The run.
    pub run: String,
    /// The input's path relative to the run's input folder (what the report names).
    pub input: String,
    /// Its object name.
    pub object: String,
    /// The pipeline file's text and name.
    pub pipeline: String,
    /// The pipeline file's name, for messages.
    pub pipeline_name: String,
}

/// A job message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Job {
    /// From a receiver.
    Series(SeriesJob),
    /// From `radpipe run --queue`.
    Batch(BatchJob),
}

impl Job {
    /// The job id.
    pub fn id(&self) -> &str {
        match self {
            Job::Series(s) => &s.id,
            Job::Batch(b) => &b.id,
        }
    }
}

/// A batch file's result, published by the worker on `radpipe.results.<run>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    /// The job.
    pub id: String,
    /// The input as in [`BatchJob::input`].
    pub input: String,
    /// Output file name → object name.
    pub outputs: BTreeMap<String, String>,
    /// Why it failed (then no outputs).
    pub error: Option<String>,
    /// Which worker did it.
    pub worker: String,
}

/// A dead letter: a job given up, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The job message as it was queued (kept as JSON: a message that is not a job is a dead
    /// letter too).
    pub job: serde_json::Value,
    /// The last error, or why the worker gave up.
    pub reason: String,
    /// Deliveries made.
    pub attempts: i64,
    /// The worker that gave up.
    pub worker: String,
    /// When (RFC 3339).
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_messages_round_trip_with_their_kind_named() {
        let job = Job::Batch(BatchJob {
            id: "r.1".into(),
            run: "r".into(),
            input: "a/b.dcm".into(),
            object: "batch/r/1".into(),
            pipeline: "[input]".into(),
            pipeline_name: "p.toml".into(),
        });
        let text = serde_json::to_string(&job).expect("json");
        assert!(text.contains("\"kind\":\"batch\""), "{text}");
        assert_eq!(serde_json::from_str::<Job>(&text).expect("back"), job);
        assert_eq!(job.id(), "r.1");
    }
}

/// A job's record in the `radpipe-jobs` bucket: the status file a single-process node would write,
/// plus which worker holds it and how often it was delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// As in `spool/jobs/<id>.json`.
    #[serde(flatten)]
    pub status: crate::serve::jobs::JobStatus,
    /// The worker that wrote it last.
    pub worker: String,
    /// Deliveries of its message so far.
    pub delivered: i64,
}
