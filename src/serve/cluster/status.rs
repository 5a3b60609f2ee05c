//! `radpipe status --queue nats://…`: the cluster at a glance — receivers, workers (adapter, jobs
//! done, in flight), the job queue's depth, the jobs by state, and the dead letters with their
//! reasons — read from the queue itself, so it works from any machine that reaches it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::members::{self, Member};
use super::message::{DeadLetter, JobRecord};
use super::{Queue, names};

/// The report.
#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    /// The server.
    pub queue: String,
    /// Live receivers.
    pub receivers: Vec<Member>,
    /// Live workers.
    pub workers: Vec<Member>,
    /// Jobs waiting to be taken.
    pub waiting: u64,
    /// Jobs taken and not yet acked.
    pub in_flight: u64,
    /// Series jobs by state, from their records.
    pub jobs: BTreeMap<String, usize>,
    /// Dead letters: count, and the last ones (newest last, at most 10).
    pub dead_letters: u64,
    /// The last dead letters.
    pub last_dead: Vec<DeadLetter>,
}

/// Reads the cluster's state.
pub fn read(url: &str) -> crate::Result<ClusterStatus> {
    let queue = Queue::connect(url, "radpipe-status", Duration::from_secs(10))?;
    let (receivers, workers): (Vec<Member>, Vec<Member>) = members::all(&queue)?
        .into_iter()
        .partition(|m| m.role == "receiver");
    let (waiting, in_flight) = queue.block(async {
        let consumer = names::workers_consumer(&queue.js, Duration::from_secs(30))
            .await
            .map_err(|e| queue.error("workers' consumer", e))?;
        let mut consumer = consumer;
        let info = consumer
            .info()
            .await
            .map_err(|e| queue.error("workers' consumer", e))?;
        Ok::<_, crate::Error>((info.num_pending, info.num_ack_pending as u64))
    })?;
    let mut jobs = BTreeMap::new();
    for (_, r) in queue.all_json::<JobRecord>(&queue.jobs, "jobs")? {
        let state = serde_json::to_value(r.status.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *jobs.entry(state).or_default() += 1;
    }
    // One read of the dead-letter stream's state: its count, and the last ten by sequence.
    let (dead_letters, last_dead) = queue.block(async {
        let stream = queue
            .js
            .get_stream(names::DEAD_STREAM)
            .await
            .map_err(|e| queue.error("dead-letter stream", e))?;
        let state = stream
            .get_info()
            .await
            .map_err(|e| queue.error("dead-letter stream", e))?
            .state;
        let mut last = Vec::new();
        if state.messages > 0 {
            let from = state
                .last_sequence
                .saturating_sub(9)
                .max(state.first_sequence);
            for seq in from..=state.last_sequence {
                if let Ok(m) = stream.get_raw_message(seq).await
                    && let Ok(d) = serde_json::from_slice::<DeadLetter>(&m.payload)
                {
                    last.push(d);
                }
            }
        }
        Ok::<_, crate::Error>((state.messages, last))
    })?;
    Ok(ClusterStatus {
        queue: url.to_string(),
        receivers,
        workers,
        waiting,
        in_flight,
        jobs,
        dead_letters,
        last_dead,
    })
}

impl std::fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "queue {}", self.queue)?;
        writeln!(f, "receivers: {}", self.receivers.len())?;
        for r in &self.receivers {
            writeln!(
                f,
                "  {} at {} (pid {}): {} instances, {} series queued, seen {}",
                r.name, r.detail, r.pid, r.instances, r.jobs_done, r.seen
            )?;
        }
        writeln!(f, "workers: {}", self.workers.len())?;
        for w in &self.workers {
            writeln!(
                f,
                "  {} on {} (pid {}): {} done, {} in flight, {} given up, seen {}",
                w.name, w.detail, w.pid, w.jobs_done, w.in_flight, w.failed, w.seen
            )?;
        }
        writeln!(
            f,
            "jobs: {} waiting, {} in flight; by state: {}",
            self.waiting,
            self.in_flight,
            if self.jobs.is_empty() {
                "none".to_string()
            } else {
                self.jobs
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )?;
        writeln!(f, "dead letters: {}", self.dead_letters)?;
        for d in &self.last_dead {
            writeln!(
                f,
                "  {} after {} deliveries ({}, {}): {}",
                d.job.get("id").and_then(|v| v.as_str()).unwrap_or("?"),
                d.attempts,
                d.worker,
                d.at,
                d.reason
            )?;
        }
        Ok(())
    }
}
