//! `radpipe worker --config NODE.toml`: one per GPU. It pulls jobs from the shared durable consumer
//! with explicit acks, at most `max_in_flight` at a time, runs them on its one [`Engine`] with the
//! single-process node's own code (job folder, status file, engine thread, senders), and acks only
//! after the results are acknowledged by every destination and the job's record is written.
//!
//! Failure handling, each decided here and not by a timer alone:
//! - a job that fails is handed back (nak with a growing delay) until its `attempts` are used, then
//!   sent to the dead-letter stream with the error and acked;
//! - a worker that dies holds no lock: its jobs are redelivered after `ack_wait_seconds` (a live
//!   worker reports progress every third of it, so a long job is not taken away); a job delivered
//!   more than `attempts` times without an answer (it kills the workers that take it) is a dead
//!   letter too;
//! - delivered once: the record lists each destination as its results are acknowledged, and a
//!   worker taking over a job skips those destinations; results carry UIDs derived from the inputs,
//!   so even a resend after a crash at the worst moment is a duplicate a PACS recognises.
//!
//! The local folder (`<spool>/workers/<name>/`) is scratch: the queue is the truth, and it is wiped
//! at start.
//!
//! Fault injection for tests: `RADPIPE_FAULT_STALL_MS=N` makes the worker wait N ms between
//! computing a job and sending its results (the moment a crash costs the most).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;

use super::members::{HEARTBEAT, Member};
use super::message::{BatchJob, DeadLetter, Job, JobRecord, SeriesJob};
use super::{Queue, batch, names, series};
use crate::serve::clock;
use crate::serve::config::Node;
use crate::serve::forward::{self, Forwarder};
use crate::serve::jobs::worker::{Shared, Submit, engine_worker, push};
use crate::serve::jobs::{self, State, StatusFiles};
use crate::serve::log;
use crate::serve::series::Complete;
use crate::serve::spool::{SeriesKey, Spool, sync_dir};
use crate::{Engine, EngineOptions, Error, Result};

/// The longest a stop waits for the jobs in hand before handing them back.
const STOP_WAIT: Duration = Duration::from_secs(15);

/// A job this worker holds.
struct Held {
    msg: jetstream::Message,
    job: Job,
    delivered: i64,
    last_progress: Instant,
    /// Destinations' states last written to the record.
    mirrored: String,
    /// Batch jobs: the result, once the thread is done.
    batch: Option<Arc<Mutex<Option<batch::Done>>>>,
    /// The job is finished; its record or its ack did not reach the server (it was away): both
    /// are retried, the record first (it is what a redelivery checks).
    acking: Option<Instant>,
    /// Whether the finished job's record is written.
    recorded: bool,
}

/// Runs a worker until `stop` is set. `name` overrides the config's.
pub fn run(node: &Node, name: Option<String>, stop: Arc<AtomicBool>) -> Result<()> {
    let raw = &node.raw;
    let Some(url) = raw.queue.as_deref() else {
        return Err(Error::InvalidParams(format!(
            "{}: a worker needs queue = \"nats://host:port\" in the configuration",
            node.path.display()
        )));
    };
    let name = name.unwrap_or_else(|| node.member_name());
    let queue = Queue::connect(url, &name, Duration::from_secs(10))?;
    let w = &raw.worker;
    let ack_wait = Duration::from_secs_f64(w.ack_wait_seconds);
    let consumer = queue
        .block(names::workers_consumer(&queue.js, ack_wait))
        .map_err(|e| queue.error("cannot open the workers' consumer", e))?;
    let scratch = node.spool.join("workers").join(safe(&name));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(|e| Error::io(&scratch, e))?;
    }
    let (spool, _) = Spool::open(&scratch, raw.min_free_mb << 20, raw.max_instance_mb << 20)
        .map_err(|e| Error::io(&scratch, e))?;
    let files = StatusFiles::new(&spool.jobs_dir());
    let engine = Engine::with_options(EngineOptions {
        adapter_name: w.adapter.clone().or_else(|| raw.adapter.clone()),
        pci_bus_id: w.pci_bus_id.clone(),
        ..EngineOptions::default()
    })?;
    let adapter = engine.summary();
    let detail = format!(
        "{} ({}, {})",
        adapter.name, adapter.backend, adapter.device_type
    );
    // The node as the job code sees it: its work folders in the scratch spool.
    let local = Node {
        spool: scratch.clone(),
        ..node.clone()
    };
    let forwarder = Forwarder::start(forward::Context::for_node(
        node,
        files.clone(),
        spool.root().join("work"),
    ));
    let compute: Arc<Shared> = Arc::default();
    let engine_stop = Arc::new(AtomicBool::new(false));
    let engine_busy = Arc::new(AtomicBool::new(false));
    let engine_thread = {
        let (compute, files, stop, busy) = (
            compute.clone(),
            files.clone(),
            engine_stop.clone(),
            engine_busy.clone(),
        );
        let (engine, local) = (engine.clone(), local.clone());
        let submit = submitter(&forwarder);
        std::thread::Builder::new()
            .name("radpipe-engine".into())
            .spawn(move || engine_worker(&engine, &local, &compute, &files, &stop, &busy, &submit))
            .map_err(|e| Error::Gpu(format!("cannot start the engine thread: {e}")))?
    };
    let mut worker = Worker {
        queue,
        node: local,
        spool,
        files,
        compute,
        engine: engine.clone(),
        held: HashMap::new(),
        member: Member::new("worker", &name, detail.clone()),
        attempts: i64::from(w.attempts),
        max_in_flight: w.max_in_flight,
        ack_wait,
        failing: false,
    };
    log::line(&format!(
        "worker {name} on {detail} taking jobs from {url} (at most {} at a time, ack wait {:.0} s, \
         {} attempts)",
        w.max_in_flight, w.ack_wait_seconds, w.attempts
    ));
    let mut last_beat = Instant::now() - HEARTBEAT;
    while !stop.load(Ordering::SeqCst) {
        if last_beat.elapsed() >= HEARTBEAT {
            worker.member.in_flight = worker.held.len() as u64;
            worker.member.beat(&worker.queue);
            last_beat = Instant::now();
        }
        let room = worker.max_in_flight.saturating_sub(worker.held.len());
        if room > 0 {
            worker.fetch(&consumer, room);
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        worker.poll_all();
    }
    // Stop: take nothing new; finish what is in hand within the limit; hand back the rest.
    log::line(&format!("stopping: {} jobs in hand", worker.held.len()));
    let end = Instant::now() + STOP_WAIT;
    while !worker.held.is_empty() && Instant::now() < end {
        worker.poll_all();
        std::thread::sleep(Duration::from_millis(100));
    }
    for (id, h) in worker.held.drain() {
        let _ = worker.queue.block(h.msg.ack_with(AckKind::Nak(None)));
        log::line(&format!("job {id} handed back"));
    }
    engine_stop.store(true, Ordering::SeqCst);
    worker.compute.1.notify_all();
    let end = Instant::now() + Duration::from_secs(5);
    while engine_busy.load(Ordering::SeqCst) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    if !engine_busy.load(Ordering::SeqCst) {
        let _ = engine_thread.join();
    }
    forwarder.stop(Instant::now() + Duration::from_secs(2));
    worker.member.leave(&worker.queue);
    log::line("stopped");
    Ok(())
}

/// The senders' submit, behind the fault-injection stall.
fn submitter(forwarder: &Forwarder) -> Submit {
    let f = forwarder.submitter();
    let stall = std::env::var("RADPIPE_FAULT_STALL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    Arc::new(move |job: &str, dests: &[usize]| {
        if let Some(ms) = stall {
            log::line(&format!(
                "job {job}: fault injection: stalling {ms} ms before sending"
            ));
            std::thread::sleep(Duration::from_millis(ms));
        }
        f(job, dests)
    })
}

/// A name as a folder name.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct Worker {
    queue: Queue,
    node: Node,
    spool: Spool,
    files: StatusFiles,
    compute: Arc<Shared>,
    engine: Engine,
    held: HashMap<String, Held>,
    member: Member,
    attempts: i64,
    max_in_flight: usize,
    ack_wait: Duration,
    /// The last fetch failed (logged once until one succeeds).
    failing: bool,
}

impl Worker {
    fn fetch(&mut self, consumer: &jetstream::consumer::PullConsumer, room: usize) {
        let fetched: std::result::Result<Vec<jetstream::Message>, String> =
            self.queue.block(async {
                let mut batch = consumer
                    .fetch()
                    .max_messages(room)
                    .expires(Duration::from_millis(500))
                    .messages()
                    .await
                    .map_err(|e| e.to_string())?;
                let mut v = Vec::new();
                while let Some(m) = batch.next().await {
                    v.push(m.map_err(|e| e.to_string())?);
                }
                Ok(v)
            });
        match fetched {
            Ok(messages) => {
                if self.failing {
                    log::line("queue reachable again");
                    self.failing = false;
                }
                for m in messages {
                    self.take(m);
                }
            }
            Err(e) => {
                if !self.failing {
                    log::line(&format!("cannot fetch jobs, retrying: {e}"));
                    self.failing = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }

    fn take(&mut self, msg: jetstream::Message) {
        let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
        let job: Job = match serde_json::from_slice(&msg.payload) {
            Ok(j) => j,
            Err(e) => {
                let value = serde_json::from_slice(&msg.payload)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&msg.payload).into());
                self.dead_letter(&msg, value, delivered, &format!("not a radpipe job: {e}"));
                return;
            }
        };
        let id = job.id().to_string();
        if self.held.contains_key(&id) {
            // A redelivery of a job this worker is still doing (it outlived the ack wait): keep
            // the first, drop this copy's claim.
            let _ = self.queue.block(msg.ack_with(AckKind::Progress));
            return;
        }
        // The record of a series job: what an earlier worker already delivered.
        let record = match &job {
            Job::Series(s) => match self.queue.get_json::<JobRecord>(&self.queue.jobs, &s.id) {
                Ok(r) => r.map(|(r, _)| r),
                Err(e) => {
                    log::line(&format!(
                        "job {id}: cannot read its record, handed back: {e}"
                    ));
                    let _ = self
                        .queue
                        .block(msg.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))));
                    return;
                }
            },
            Job::Batch(_) => None,
        };
        // Done before (its ack was lost): acked now, whatever the delivery count says.
        if let (Job::Series(s), Some(r)) = (&job, &record)
            && r.status.state == State::Sent
        {
            let _ = series::mark_done(&self.queue, &s.series_key);
            log::line(&format!("job {id}: already delivered, acked"));
            let _ = self.queue.block(msg.double_ack());
            return;
        }
        if delivered > self.attempts {
            let value = serde_json::to_value(&job).unwrap_or_default();
            self.dead_letter(
                &msg,
                value,
                delivered,
                &format!(
                    "delivered {delivered} times without an answer: the workers that took it \
                     stopped or died before finishing it"
                ),
            );
            self.record_failed(&job, delivered, "given up: see the dead-letter stream");
            return;
        }
        log::line(&format!("job {id} taken (delivery {delivered})"));
        let prepared = match &job {
            Job::Series(s) => self
                .prepare_series(s, record.as_ref(), delivered)
                .map(|()| None),
            Job::Batch(b) => batch::start(&self.queue, &self.engine, &self.spool, b).map(Some),
        };
        match prepared {
            Ok(batch) => {
                self.held.insert(
                    id,
                    Held {
                        msg,
                        job,
                        delivered,
                        last_progress: Instant::now(),
                        mirrored: String::new(),
                        batch,
                        acking: None,
                        recorded: false,
                    },
                );
            }
            Err(e) => {
                // The inputs could not be fetched (the queue is away): hand it back soon.
                log::line(&format!("job {id}: cannot start, handed back: {e}"));
                let _ = self
                    .queue
                    .block(msg.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))));
            }
        }
    }

    /// Fetches a series job's instances and makes it a local job for the engine thread; `record`
    /// is the job's record, when an earlier delivery wrote one.
    fn prepare_series(
        &mut self,
        s: &SeriesJob,
        record: Option<&JobRecord>,
        delivered: i64,
    ) -> Result<()> {
        let key = SeriesKey {
            route: s.route.clone(),
            study: s.study.clone(),
            series: s.series.clone(),
        };
        // A previous attempt of this worker (handed back) left its folders: start clean.
        let _ = std::fs::remove_file(self.files.path(&s.id));
        let _ = std::fs::remove_dir_all(self.spool.work_dir(&s.id));
        let dir = self.spool.series_dir(&key);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (sop, object) in &s.instances {
            crate::serve::spool::check_uid(sop)
                .map_err(|e| Error::InvalidParams(format!("job {}: {e}", s.id)))?;
            let bytes = self.queue.get_object(object)?;
            let path = dir.join(format!("{sop}.dcm"));
            let temp = dir.join(format!(".{sop}.partial"));
            std::fs::write(&temp, &bytes).map_err(|e| Error::io(&temp, e))?;
            std::fs::rename(&temp, &path).map_err(|e| Error::io(&path, e))?;
        }
        sync_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let (kind, dest_names) = self.node.job_of(&s.route);
        let done = Complete {
            key,
            instances: s.instances.keys().cloned().collect(),
            why: s.why,
            last_received: SystemTime::UNIX_EPOCH + Duration::from_millis(s.last_ms),
        };
        let status = jobs::create(&self.spool, &self.files, &done, kind, &dest_names)?;
        if status.id != s.id {
            return Err(Error::InvalidParams(format!(
                "job {}: its instances give job id {}: the message is not what its receiver queued",
                s.id, status.id
            )));
        }
        // Destinations a previous worker already delivered to are not sent to again.
        if let Some(r) = record {
            let _ = self.files.update(&s.id, |local| {
                for (name, d) in &r.status.destinations {
                    if d.state == "sent" {
                        local.destinations.insert(name.clone(), d.clone());
                    }
                }
                local.attempts = r.status.attempts;
            });
        }
        let _ = self.write_record(&s.id, delivered);
        push(&self.compute, &s.id, self.max_in_flight.max(1) * 4);
        Ok(())
    }

    /// Writes the job's record from the local status file; whether it was written.
    fn write_record(&self, id: &str, delivered: i64) -> bool {
        let Ok(status) = self.files.read(id) else {
            return false;
        };
        let worker = self.member.name.clone();
        if let Err(e) = self
            .queue
            .modify::<JobRecord, _>(&self.queue.jobs, id, |current| {
                let mut status = status.clone();
                if let Some(c) = current {
                    // Late instances are recorded by receivers; keep them.
                    for u in c.status.late_instances {
                        if !status.late_instances.contains(&u) {
                            status.late_instances.push(u);
                        }
                    }
                }
                Some(JobRecord {
                    status,
                    worker: worker.clone(),
                    delivered,
                })
            })
        {
            log::line(&format!("job {id}: cannot write its record: {e}"));
            return false;
        }
        true
    }

    fn record_failed(&self, job: &Job, delivered: i64, why: &str) {
        let Job::Series(s) = job else {
            return;
        };
        let worker = self.member.name.clone();
        let _ = self
            .queue
            .modify::<JobRecord, _>(&self.queue.jobs, &s.id, |current| {
                let mut r = current?;
                r.status.state = State::Failed;
                r.status.error = Some(why.to_string());
                r.worker = worker.clone();
                r.delivered = delivered;
                Some(r)
            });
        let _ = series::mark_done(&self.queue, &s.series_key);
    }

    fn dead_letter(
        &mut self,
        msg: &jetstream::Message,
        job: serde_json::Value,
        delivered: i64,
        reason: &str,
    ) {
        let id = job
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string();
        let letter = DeadLetter {
            job,
            reason: reason.to_string(),
            attempts: delivered,
            worker: self.member.name.clone(),
            at: clock::now(),
        };
        let payload = serde_json::to_vec(&letter).unwrap_or_default();
        let subject = format!("{}.{}", names::DEAD_SUBJECT, safe(&id));
        match self
            .queue
            .publish_dedup(&subject, &format!("dead.{id}.{delivered}"), payload)
        {
            Ok(()) => {
                let _ = self.queue.block(msg.double_ack());
                self.member.failed += 1;
                log::line(&format!(
                    "job {id} -> dead letter after {delivered} deliveries: {reason}"
                ));
            }
            // Not acked: it comes back and is dead-lettered then.
            Err(e) => log::line(&format!("job {id}: cannot write its dead letter: {e}")),
        }
    }

    fn poll_all(&mut self) {
        let ids: Vec<String> = self.held.keys().cloned().collect();
        for id in ids {
            self.poll(&id);
        }
    }

    fn poll(&mut self, id: &str) {
        let Some(h) = self.held.get_mut(id) else {
            return;
        };
        if let Some(since) = h.acking {
            // Finished; the record or the ack did not reach the server. Retry for a while; after
            // that a redelivery finds the record done and acks (or, with no record, redoes it —
            // to the same UIDs).
            let delivered = h.delivered;
            let batch = matches!(h.job, Job::Batch(_));
            if !h.recorded && !batch && !self.write_record(id, delivered) {
                return;
            }
            let Some(h) = self.held.get_mut(id) else {
                return;
            };
            h.recorded = true;
            let acked = self.queue.block(h.msg.double_ack()).is_ok();
            if acked || since.elapsed() > Duration::from_secs(120) {
                if acked {
                    log::line(&format!("job {id} acked (sent)"));
                }
                self.held.remove(id);
                self.forget_local(id);
            }
            return;
        }
        if h.last_progress.elapsed() >= self.ack_wait / 3 {
            let _ = self.queue.block(h.msg.ack_with(AckKind::Progress));
            h.last_progress = Instant::now();
        }
        let delivered = h.delivered;
        match h.job.clone() {
            Job::Batch(b) => {
                let done = h.batch.as_ref().and_then(|d| d.lock().ok()?.take());
                if let Some(done) = done {
                    self.finish_batch(id, &b, done, delivered);
                }
            }
            Job::Series(s) => {
                let Ok(status) = self.files.read(id) else {
                    return;
                };
                match status.state {
                    State::Sent => {
                        let recorded = self.write_record(id, delivered);
                        let _ = series::mark_done(&self.queue, &s.series_key);
                        if recorded {
                            // Sent and recorded: nothing needs the instances any more.
                            for object in s.instances.values() {
                                let _ = self.queue.block(self.queue.data.delete(object));
                            }
                        }
                        self.member.jobs_done += 1;
                        if let Some(h) = self.held.get_mut(id) {
                            h.recorded = recorded;
                        }
                        if recorded {
                            self.finish(id, "sent");
                        } else if let Some(h) = self.held.get_mut(id) {
                            h.acking = Some(Instant::now());
                        }
                    }
                    State::Failed => {
                        let error = status.error.clone().unwrap_or_default();
                        let _ = self.write_record(id, delivered);
                        if delivered < self.attempts {
                            self.hand_back(id, delivered, &error);
                        } else {
                            let Some(h) = self.held.remove(id) else {
                                return;
                            };
                            let value = serde_json::to_value(&h.job).unwrap_or_default();
                            self.dead_letter(&h.msg, value, delivered, &error);
                            let _ = series::mark_done(&self.queue, &s.series_key);
                            self.forget_local(id);
                        }
                    }
                    State::Sending => {
                        let now = serde_json::to_string(&status.destinations).unwrap_or_default();
                        if self.held.get(id).is_some_and(|h| h.mirrored != now)
                            && self.write_record(id, delivered)
                            && let Some(h) = self.held.get_mut(id)
                        {
                            h.mirrored = now;
                        }
                    }
                    State::Received | State::Processing => {}
                }
            }
        }
    }

    fn finish_batch(&mut self, id: &str, b: &BatchJob, done: batch::Done, delivered: i64) {
        match batch::publish_result(&self.queue, b, &done, &self.member.name) {
            Ok(()) => {
                if let Some(e) = &done.error {
                    log::line(&format!("job {id}: {} skipped: {e}", b.input));
                    self.member.failed += 1;
                } else {
                    self.member.jobs_done += 1;
                }
                self.finish(id, "done");
            }
            Err(e) if delivered < self.attempts => {
                self.hand_back(id, delivered, &e.to_string());
            }
            Err(e) => {
                if let Some(h) = self.held.remove(id) {
                    let value = serde_json::to_value(&h.job).unwrap_or_default();
                    self.dead_letter(&h.msg, value, delivered, &e.to_string());
                }
            }
        }
        batch::clean(&self.spool, b);
    }

    /// Acks a finished job (keeps it in hand while the ack does not get through).
    fn finish(&mut self, id: &str, how: &str) {
        let Some(h) = self.held.get_mut(id) else {
            return;
        };
        match self.queue.block(h.msg.double_ack()) {
            Ok(()) => {
                log::line(&format!("job {id} acked ({how})"));
                self.held.remove(id);
                self.forget_local(id);
            }
            Err(e) => {
                log::line(&format!("job {id} {how}, the ack is retried: {e}"));
                h.recorded = true;
                h.acking = Some(Instant::now());
            }
        }
    }

    /// Removes a job's local status file and folder: the queue holds its record, and a worker
    /// that runs for months must not fill its disk with finished jobs.
    fn forget_local(&self, id: &str) {
        let _ = std::fs::remove_file(self.files.path(id));
        let _ = std::fs::remove_dir_all(self.spool.work_dir(id));
    }

    /// Gives a failed job back to the queue for another attempt, after a growing delay.
    fn hand_back(&mut self, id: &str, delivered: i64, error: &str) {
        let Some(h) = self.held.remove(id) else {
            return;
        };
        let delay = Duration::from_secs(1u64 << delivered.clamp(0, 5));
        let _ = self.queue.block(h.msg.ack_with(AckKind::Nak(Some(delay))));
        self.forget_local(id);
        log::line(&format!(
            "job {id} failed (attempt {delivered} of {}), handed back for {} s: {error}",
            self.attempts,
            delay.as_secs()
        ));
    }
}
