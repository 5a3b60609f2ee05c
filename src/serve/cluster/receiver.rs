//! `radpipe serve` with a queue: a stateless receiver. It accepts associations as the single-process
//! node does (the same listener, SCP and spool: 0000 only once an instance is durably spooled), and
//! an uplink thread moves each released instance into the queue — object first, then the series
//! record — and deletes the local copy only after both are stored. It never computes.
//!
//! A series is queued by whichever receiver first finds it complete (the record's compare-and-set
//! decides), under the same deterministic job id the single-process node uses, and published with
//! that id as the message id, so a republish (after a crash between the two steps, found by the
//! periodic full scan) is dropped by JetStream's duplicate window.
//!
//! While the queue is unreachable instances stay in the local spool and the uplink retries; a
//! restart finds them there (the spool's own recovery) and uploads them again — object puts and
//! record additions are idempotent.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Queue;
use super::members::{HEARTBEAT, Member};
use super::message::{Job, JobRecord, SeriesJob};
use super::names;
use super::series::{self, Added, SeriesRecord, SeriesState};
use crate::serve::clock;
use crate::serve::config::Node;
use crate::serve::listen::Listener;
use crate::serve::listen::STOP_DEADLINE;
use crate::serve::log;
use crate::serve::receive::Arrivals;
use crate::serve::series::Rule;
use crate::serve::spool::{Instance, SeriesKey, Spool};
use crate::{Error, Result};

/// How often every series record is scanned (to queue series other receivers left, and republish
/// jobs lost between the record's change and the publish).
const FULL_SCAN: Duration = Duration::from_secs(30);
/// A queued series with no job status this long after it was queued is published again.
const REPUBLISH_AFTER_MS: u64 = 60_000;

/// Runs a receiver until `stop` is set.
pub fn serve(
    node: &Node,
    url: &str,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<()> {
    let (spool, recovered) = Spool::open_for(node)?;
    let name = node.member_name();
    let queue = Queue::connect(url, &name, Duration::from_secs(10))?;
    let mut listener = Listener::open(node)?;
    let bound = listener.bound;
    let mut waiting: VecDeque<(SeriesKey, Instance)> = recovered.into();
    for (key, instances) in spool
        .waiting_series()
        .map_err(|e| Error::io(spool.root(), e))?
    {
        waiting.extend(instances.into_iter().map(|i| (key.clone(), i)));
    }
    let (events, arrivals) = mpsc::channel::<Arrivals>();
    let uplink_stop = Arc::new(AtomicBool::new(false));
    let uplink = {
        let (node, spool, stop) = (node.clone(), spool.clone(), uplink_stop.clone());
        let member = Member::new("receiver", &name, bound.to_string());
        std::thread::Builder::new()
            .name("radpipe-uplink".into())
            .spawn(move || {
                Uplink {
                    queue,
                    node,
                    spool,
                    waiting,
                    touched: BTreeSet::new(),
                    member,
                    failing: false,
                }
                .run(&arrivals, &stop)
            })
            .map_err(|e| Error::InvalidParams(format!("cannot start the uplink thread: {e}")))?
    };
    log::line(&format!(
        "listening on {bound} as {}, routes {}, receiver {name} for queue {url}, spool {}",
        node.raw.ae_title.trim(),
        node.routes
            .iter()
            .map(|r| format!("{}={:?}", r.route.ae_title.trim(), r.route.job).to_lowercase())
            .collect::<Vec<_>>()
            .join(" "),
        spool.root().display()
    ));
    ready(bound);
    while !stop.load(Ordering::SeqCst) {
        listener.accept_waiting(&spool, node, &events);
        std::thread::sleep(Duration::from_millis(20));
    }
    log::line(&format!(
        "stopping: {} associations in progress",
        listener.active()
    ));
    listener.close(Duration::from_secs(10));
    drop(events);
    uplink_stop.store(true, Ordering::SeqCst);
    let end = Instant::now() + STOP_DEADLINE / 2;
    while !uplink.is_finished() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    log::line("stopped");
    Ok(())
}

struct Uplink {
    queue: Queue,
    node: Node,
    spool: Spool,
    waiting: VecDeque<(SeriesKey, Instance)>,
    /// Series this receiver added to and has not seen queued yet.
    touched: BTreeSet<String>,
    member: Member,
    /// The last upload failed (logged once until one succeeds).
    failing: bool,
}

impl Uplink {
    fn run(&mut self, arrivals: &mpsc::Receiver<Arrivals>, stop: &AtomicBool) {
        let mut last_scan = Instant::now() - FULL_SCAN;
        let mut last_beat = Instant::now() - HEARTBEAT;
        let mut last_sweep = Instant::now();
        loop {
            match arrivals.recv_timeout(Duration::from_millis(100)) {
                Ok(batch) => self.waiting.extend(batch),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if stop.load(Ordering::SeqCst) {
                        // Last round: what is still waiting stays in the spool for the next start.
                        self.upload_waiting();
                        self.sweep_touched();
                        self.member.leave(&self.queue);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            self.upload_waiting();
            if last_sweep.elapsed() >= Duration::from_millis(250) {
                self.sweep_touched();
                last_sweep = Instant::now();
            }
            if last_scan.elapsed() >= FULL_SCAN {
                self.full_scan();
                last_scan = Instant::now();
            }
            if last_beat.elapsed() >= HEARTBEAT {
                self.member.beat(&self.queue);
                last_beat = Instant::now();
            }
        }
    }

    /// Uploads waiting instances in arrival order; stops at the first failure (the queue is down:
    /// retried on the next round, the rest keep their order).
    fn upload_waiting(&mut self) {
        while let Some((key, instance)) = self.waiting.pop_front() {
            match self.upload(&key, &instance) {
                Ok(()) => {
                    if self.failing {
                        log::line("queue reachable again: uploading the spooled instances");
                        self.failing = false;
                    }
                }
                Err(e) => {
                    if !self.failing {
                        log::line(&format!(
                            "instance {} kept in the spool, retrying: {e}",
                            instance.sop_instance_uid
                        ));
                        self.failing = true;
                    }
                    self.waiting.push_front((key, instance));
                    return;
                }
            }
        }
    }

    fn upload(&mut self, key: &SeriesKey, instance: &Instance) -> Result<()> {
        let sop = &instance.sop_instance_uid;
        let file = self.spool.series_dir(key).join(format!("{sop}.dcm"));
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            // Uploaded and removed by an earlier round (a resend listed twice): nothing to do.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&file, e)),
        };
        let series_key = names::series_key(&key.route, &key.study, &key.series);
        let object = names::instance_object(&series_key, sop);
        self.queue.put_object(&object, &bytes)?;
        match series::add_instance(&self.queue, key, sop, &object, &self.member.name)? {
            Added::Open(_) => {
                self.touched.insert(series_key);
            }
            Added::Late(job) => {
                log::line(&format!(
                    "job {job}: late instance {sop} of series {} kept in the queue as {object}, \
                     not merged",
                    key.series
                ));
                let _ = self
                    .queue
                    .modify::<JobRecord, _>(&self.queue.jobs, &job, |current| {
                        let mut r = current?;
                        (!r.status.late_instances.iter().any(|u| u == sop)).then(|| {
                            r.status.late_instances.push(sop.clone());
                            r
                        })
                    });
            }
        }
        self.member.instances += 1;
        std::fs::remove_file(&file).map_err(|e| Error::io(&file, e))?;
        let _ = std::fs::remove_dir(self.spool.series_dir(key));
        Ok(())
    }

    /// Queues the series this receiver touched that are complete now.
    fn sweep_touched(&mut self) {
        let keys: Vec<String> = self.touched.iter().cloned().collect();
        for k in keys {
            match self.queue_if_complete(&k) {
                Ok(true) => {
                    self.touched.remove(&k);
                }
                Ok(false) => {}
                Err(e) => log::line(&format!("series {k}: {e}")),
            }
        }
    }

    /// Returns whether the series is no longer open (queued now or earlier, by anyone).
    fn queue_if_complete(&mut self, kv_key: &str) -> Result<bool> {
        let won = {
            let node = &self.node;
            series::try_queue(&self.queue, kv_key, &|route: &str| Rule::of(node, route))?
        };
        if let Some(record) = won {
            self.publish(kv_key, &record)?;
            return Ok(true);
        }
        Ok(self
            .queue
            .get_json::<SeriesRecord>(&self.queue.series, kv_key)?
            .is_none_or(|(r, _)| r.state != SeriesState::Open))
    }

    fn publish(&mut self, kv_key: &str, record: &SeriesRecord) -> Result<()> {
        let id = record.job.clone().unwrap_or_default();
        let job = Job::Series(SeriesJob {
            id: id.clone(),
            series_key: kv_key.to_string(),
            route: record.route.clone(),
            study: record.study.clone(),
            series: record.series.clone(),
            instances: record.instances.clone(),
            why: record
                .why
                .unwrap_or(crate::serve::series::Completion::Quiet),
            last_ms: record.last_ms,
            queued_ms: record
                .queued_ms
                .unwrap_or_else(|| clock::unix_ms(std::time::SystemTime::now())),
        });
        let payload =
            serde_json::to_vec(&job).map_err(|e| self.queue.error("cannot encode a job", e))?;
        self.queue
            .publish_dedup(names::SERIES_JOB_SUBJECT, &id, payload)?;
        self.member.jobs_done += 1;
        log::line(&format!(
            "job {id} queued: route {}, series {}, {} instances ({})",
            record.route,
            record.series,
            record.instances.len(),
            record
                .why
                .map(|w| format!("{w:?}").to_lowercase())
                .unwrap_or_default()
        ));
        Ok(())
    }

    /// Every record: open ones complete now are queued (whoever touched them), queued ones whose job
    /// never showed up are published again.
    fn full_scan(&mut self) {
        let all = match series::all(&self.queue) {
            Ok(v) => v,
            Err(e) => {
                log::line(&format!("series scan: {e}"));
                return;
            }
        };
        let now = clock::unix_ms(std::time::SystemTime::now());
        for (k, r) in all {
            let result = match r.state {
                SeriesState::Open => self.queue_if_complete(&k).map(|_| ()),
                SeriesState::Queued
                    if now.saturating_sub(r.queued_ms.unwrap_or(now)) > REPUBLISH_AFTER_MS =>
                {
                    let id = r.job.clone().unwrap_or_default();
                    match self.queue.get_json::<JobRecord>(&self.queue.jobs, &id) {
                        Ok(None) => self.publish(&k, &r),
                        Ok(Some(_)) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                log::line(&format!("series {k}: {e}"));
            }
        }
    }
}
