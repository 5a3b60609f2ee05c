//! Forwarding results: every result of a job goes to every destination of its route by C-STORE, each
//! destination on its own, with retries and a doubling backoff (from `retry_seconds`, capped at ten
//! times it). After the last retry the delivery — and so the job — is marked failed with the reason:
//! never retried forever, never dropped silently. A destination that is down holds up only its own
//! deliveries: a small pool of sender threads takes whichever delivery is due next, so other jobs go on.
//!
//! The status file records each destination's delivery as it is acknowledged, so after a crash only
//! the destinations not yet done are sent to — with the same files, hence the same SOP Instance UIDs.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::clock;
use super::config::Destination;
use super::jobs::{State, StatusFiles};
use super::log;
use super::scu::{self, Peer};

/// Threads sending at once.
const SENDERS: usize = 4;

/// One delivery waiting: job × destination.
#[derive(Debug, Clone)]
struct Task {
    job: String,
    destination: usize,
    attempt: u32,
    due: Instant,
}

#[derive(Default)]
struct Queue {
    tasks: VecDeque<Task>,
    busy: usize,
}

/// The sender pool.
pub struct Forwarder {
    shared: Arc<(Mutex<Queue>, Condvar)>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

/// What the senders need.
#[derive(Clone)]
pub struct Context {
    /// Status files.
    pub files: StatusFiles,
    /// `work/` folder.
    pub work: PathBuf,
    /// All destinations of the config.
    pub destinations: Vec<Destination>,
    /// Our calling AE title.
    pub calling_ae: String,
    /// Max PDU length we announce.
    pub max_pdu_length: u32,
}

impl Context {
    /// The senders' context of a node whose status files are `files` and job folders `work`.
    pub fn for_node(node: &super::config::Node, files: StatusFiles, work: PathBuf) -> Context {
        Context {
            files,
            work,
            destinations: node.raw.destinations.clone(),
            calling_ae: node.raw.ae_title.trim().to_string(),
            max_pdu_length: node.raw.max_pdu_length,
        }
    }
}

impl Forwarder {
    /// Starts the pool.
    pub fn start(context: Context) -> Forwarder {
        let shared: Arc<(Mutex<Queue>, Condvar)> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..SENDERS)
            .map(|i| {
                let (shared, stop, context) = (shared.clone(), stop.clone(), context.clone());
                std::thread::Builder::new()
                    .name(format!("radpipe-send-{i}"))
                    .spawn(move || sender(&shared, &stop, &context))
                    .expect("spawning a sender thread")
            })
            .collect();
        Forwarder {
            shared,
            threads,
            stop,
        }
    }

    /// Queues the deliveries of `job` to the destinations (indexes into the config's list).
    pub fn submit(&self, job: &str, destinations: &[usize]) {
        enqueue(&self.shared, job, destinations);
    }

    /// A handle other threads submit through.
    pub fn submitter(&self) -> impl Fn(&str, &[usize]) + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |job: &str, destinations: &[usize]| enqueue(&shared, job, destinations)
    }

    /// Deliveries queued or being sent.
    pub fn pending(&self) -> usize {
        let q = self.shared.0.lock().unwrap_or_else(|p| p.into_inner());
        q.tasks.len() + q.busy
    }

    /// Waits until nothing is being sent right now or `deadline`, then stops the senders; queued
    /// retries stay `sending` in their status files and resume at the next start.
    pub fn stop(self, deadline: Instant) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.1.notify_all();
        while Instant::now() < deadline && self.shared.0.lock().map(|q| q.busy).unwrap_or(0) > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.shared.0.lock().map(|q| q.busy).unwrap_or(0) == 0 {
            for t in self.threads {
                let _ = t.join();
            }
        }
    }
}

fn enqueue(shared: &(Mutex<Queue>, Condvar), job: &str, destinations: &[usize]) {
    let (lock, cv) = shared;
    let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
    for &destination in destinations {
        q.tasks.push_back(Task {
            job: job.to_string(),
            destination,
            attempt: 0,
            due: Instant::now(),
        });
    }
    cv.notify_all();
}

fn sender(shared: &(Mutex<Queue>, Condvar), stop: &AtomicBool, context: &Context) {
    let (lock, cv) = shared;
    loop {
        let task = {
            let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let now = Instant::now();
                let next = q
                    .tasks
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, t)| t.due)
                    .map(|(i, t)| (i, t.due));
                match next {
                    Some((i, due)) if due <= now => {
                        q.busy += 1;
                        break q.tasks.remove(i).expect("index from the queue");
                    }
                    Some((_, due)) => {
                        let wait = (due - now).min(Duration::from_millis(500));
                        q = cv
                            .wait_timeout(q, wait)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                    None => {
                        q = cv
                            .wait_timeout(q, Duration::from_millis(500))
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                }
            }
        };
        let retry = deliver(context, &task);
        let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
        q.busy -= 1;
        if let Some(t) = retry {
            q.tasks.push_back(t);
        }
        cv.notify_all();
    }
}

/// One attempt; returns the next attempt when one is due.
fn deliver(context: &Context, task: &Task) -> Option<Task> {
    let dest = &context.destinations[task.destination];
    let status = match context.files.read(&task.job) {
        Ok(s) => s,
        Err(e) => {
            log::line(&format!("job {}: cannot read its status: {e}", task.job));
            return None;
        }
    };
    if status
        .destinations
        .get(&dest.name)
        .is_some_and(|d| d.state != "pending")
    {
        return None;
    }
    let out = context.work.join(&task.job).join("out");
    let files: Vec<PathBuf> = status.output_files.iter().map(|f| out.join(f)).collect();
    let peer = Peer {
        name: dest.name.clone(),
        ae_title: dest.ae_title.clone(),
        address: dest.address.clone(),
        calling_ae: context.calling_ae.clone(),
        timeout: Duration::from_secs_f64(dest.timeout_seconds),
        max_pdu_length: context.max_pdu_length,
    };
    let result = scu::store(&peer, &files)
        .map_err(|e| e.to_string())
        .and_then(|sent| {
            let failed: Vec<String> = sent
                .iter()
                .filter(|s| !(s.status == 0 || (0xB000..=0xBFFF).contains(&s.status)))
                .map(|s| {
                    format!(
                        "{} status {:04X}{}",
                        s.sop_instance_uid,
                        s.status,
                        s.error_comment
                            .as_deref()
                            .map(|c| format!(" ({c})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                Err(format!("{} refused {}", dest.name, failed.join(", ")))
            }
        });
    let attempt = task.attempt + 1;
    let give_up = result.is_err() && attempt > dest.retries;
    let updated = context.files.update(&task.job, |s| {
        let d = s.destinations.entry(dest.name.clone()).or_default();
        d.attempts = attempt;
        match &result {
            Ok(()) => {
                d.state = "sent".into();
                d.error = None;
                d.sent_at = Some(clock::now());
            }
            Err(e) => {
                d.error = Some(e.clone());
                if give_up {
                    d.state = "failed".into();
                }
            }
        }
        let all_done = s.destinations.values().all(|d| d.state != "pending");
        if all_done {
            let failed: Vec<String> = s
                .destinations
                .iter()
                .filter(|(_, d)| d.state == "failed")
                .map(|(n, d)| {
                    format!(
                        "destination {n}: {} after {} attempts",
                        d.error.as_deref().unwrap_or("failed"),
                        d.attempts
                    )
                })
                .collect();
            if failed.is_empty() {
                s.state = State::Sent;
            } else {
                s.state = State::Failed;
                s.error = Some(failed.join("; "));
            }
            s.stamp("finished");
        }
    });
    match (&result, updated) {
        (_, Err(e)) => {
            log::line(&format!("job {}: cannot update its status: {e}", task.job));
            None
        }
        (Ok(()), Ok(s)) => {
            log::line(&format!(
                "job {} sent to {} ({} instances, attempt {attempt}){}",
                task.job,
                dest.name,
                files.len(),
                if s.state == State::Sent {
                    " -> sent"
                } else {
                    ""
                }
            ));
            if s.state == State::Failed {
                log::line(&format!(
                    "job {} -> failed: {}",
                    task.job,
                    s.error.unwrap_or_default()
                ));
            }
            None
        }
        (Err(e), Ok(s)) if give_up => {
            log::line(&format!(
                "job {}: {} gave up after {attempt} attempts: {e}{}",
                task.job,
                dest.name,
                if s.state == State::Failed {
                    " -> failed"
                } else {
                    ""
                }
            ));
            None
        }
        (Err(e), Ok(_)) => {
            let base = dest.retry_seconds;
            let wait = (base * 2f64.powi(task.attempt.min(20) as i32)).min(base * 10.0);
            log::line(&format!(
                "job {}: {} attempt {attempt} failed, retrying in {wait:.1} s: {e}",
                task.job, dest.name
            ));
            Some(Task {
                attempt,
                due: Instant::now() + Duration::from_secs_f64(wait),
                ..task.clone()
            })
        }
    }
}
