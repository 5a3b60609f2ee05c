//! The engine worker: one thread holding the node's one [`Engine`], taking jobs from a bounded
//! in-memory queue (more wait on disk as `received` and are queued as room frees), running each
//! route's workflow ([`super::run`]), recording the outcome in the status file and handing the results
//! to the senders. A panic inside a job is contained and fails that job only.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{State, StatusFiles, run};
use crate::serve::config::Node;
use crate::serve::log;
use crate::{Engine, Error};

/// The compute queue: job ids in memory (bounded), and the ids queued or running.
#[derive(Default)]
pub struct ComputeQueue {
    ids: VecDeque<String>,
    known: HashSet<String>,
}

/// The queue with its condition variable, shared by the scheduler and the worker.
pub type Shared = (Mutex<ComputeQueue>, Condvar);

/// How the worker hands a computed job to the senders.
pub type Submit = Arc<dyn Fn(&str, &[usize]) + Send + Sync>;

/// Queues job `id` if the in-memory queue has room and it is not queued or running already.
pub fn push(queue: &Shared, id: &str, capacity: usize) {
    let mut q = queue.0.lock().unwrap_or_else(|p| p.into_inner());
    if q.ids.len() < capacity && q.known.insert(id.to_string()) {
        q.ids.push_back(id.to_string());
        queue.1.notify_all();
    }
}

/// Queues jobs waiting on disk (`received`, or `processing` from a run that stopped mid-job) while
/// the in-memory queue has room.
pub fn refill(queue: &Shared, files: &StatusFiles, capacity: usize) {
    let (all, _) = files.all();
    for s in all {
        if matches!(s.state, State::Received | State::Processing) {
            push(queue, &s.id, capacity);
        }
    }
}

/// The worker's loop; returns when `stop` is set (after the job in hand).
#[allow(clippy::too_many_arguments)]
pub fn engine_worker(
    engine: &Engine,
    node: &Node,
    queue: &Shared,
    files: &StatusFiles,
    stop: &AtomicBool,
    busy: &AtomicBool,
    submit: &Submit,
) {
    loop {
        let id = {
            let mut q = queue.0.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(id) = q.ids.pop_front() {
                    busy.store(true, Ordering::SeqCst);
                    break id;
                }
                q = queue
                    .1
                    .wait_timeout(q, Duration::from_millis(200))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        };
        compute(engine, node, files, &id, submit);
        queue
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .known
            .remove(&id);
        busy.store(false, Ordering::SeqCst);
    }
}

fn compute(engine: &Engine, node: &Node, files: &StatusFiles, id: &str, submit: &Submit) {
    let status = match files.update(id, |s| {
        if matches!(s.state, State::Received | State::Processing) {
            s.state = State::Processing;
            s.attempts += 1;
            s.stamp("started");
        }
    }) {
        Ok(s) if s.state == State::Processing => s,
        Ok(_) => return,
        Err(e) => {
            log::line(&format!("job {id}: cannot read its status: {e}"));
            return;
        }
    };
    log::line(&format!(
        "job {id} -> processing (attempt {})",
        status.attempts
    ));
    let work = node.spool.join("work").join(id);
    let result = match node.route(&status.route) {
        None => Err(Error::InvalidParams(format!(
            "route {} is no longer in the configuration",
            status.route
        ))),
        Some(route) => crate::io::contained::run(|| run::run(engine, route, &work))
            .unwrap_or_else(|| Err(Error::Gpu("the job panicked (contained)".into()))),
    };
    let route = node.route(&status.route);
    match result {
        Ok(outcome) => {
            let has_destinations = !status.destinations.is_empty();
            let updated = files.update(id, |s| {
                s.outputs = outcome.outputs.iter().map(|(_, uid)| uid.clone()).collect();
                s.output_files = outcome
                    .outputs
                    .iter()
                    .map(|(p, _)| {
                        p.file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect();
                s.result = Some(outcome.result.clone());
                s.engine = Some(outcome.engine.clone());
                s.stamp("computed");
                if has_destinations {
                    s.state = State::Sending;
                } else {
                    s.state = State::Sent;
                    s.stamp("finished");
                }
            });
            match updated {
                Ok(s) => {
                    log::line(&format!(
                        "job {id} -> {} ({} results{})",
                        if has_destinations {
                            "sending"
                        } else {
                            "sent (no destinations)"
                        },
                        s.outputs.len(),
                        outcome
                            .result
                            .get("angle_deg")
                            .map(|a| format!(", angle {a}"))
                            .unwrap_or_default()
                    ));
                    if let Some(r) = route {
                        submit(id, &r.forward);
                    }
                }
                Err(e) => log::line(&format!("job {id}: cannot update its status: {e}")),
            }
        }
        Err(e) => {
            let message = e.to_string();
            let _ = files.update(id, |s| {
                s.state = State::Failed;
                s.error = Some(message.clone());
                s.stamp("finished");
            });
            log::line(&format!("job {id} -> failed: {message}"));
        }
    }
}
