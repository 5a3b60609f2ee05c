//! The node itself: the listener, one thread per association (up to `max_associations`), the
//! scheduler that groups released instances into series and makes complete ones into jobs, one engine
//! worker (one [`Engine`] for every route: jobs share the GPU in turn), and the sender pool.
//!
//! Shutdown (SIGINT/SIGTERM set the flag): the listener stops accepting at once; associations in
//! progress get a grace period, then are left to be cut (their instances, never released, are parked
//! in `orphaned/` at the next start); the job being computed is finished if it ends within the
//! deadline, else it stays `processing` and is recomputed — to the same UIDs — at the next start;
//! queued deliveries stay `sending` and resume. The whole stop takes at most [`STOP_DEADLINE`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::config::Node;
use super::forward::{self, Forwarder};
use super::jobs::worker::{Shared, Submit, engine_worker, push, refill};
use super::jobs::{self, State, StatusFiles};
use super::listen::Listener;
use super::log;
use super::receive::Arrivals;
use super::series::{Assembler, Rule};
use super::spool::{Instance, SeriesKey, Spool};
use crate::{Engine, EngineOptions, Error, Result};

pub use super::listen::{STOP_DEADLINE, STORAGE_CLASSES, TRANSFER_SYNTAXES};

/// Runs the node until `stop` is set; returns once it has stopped (within [`STOP_DEADLINE`]).
/// `ready` is called with the bound address once the node accepts associations.
pub fn serve(
    node: &Node,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<()> {
    let raw = &node.raw;
    let (spool, recovered) = Spool::open_for(node)?;
    let files = StatusFiles::new(&spool.jobs_dir());
    let mut listener = Listener::open(node)?;
    let bound = listener.bound;
    let engine = Engine::with_options(EngineOptions {
        adapter_name: raw.adapter.clone(),
        ..EngineOptions::default()
    })?;
    let adapter = engine.summary();

    let forwarder = Forwarder::start(forward::Context::for_node(
        node,
        files.clone(),
        spool.root().join("work"),
    ));
    let queue: Arc<Shared> = Arc::default();
    let worker_stop = Arc::new(AtomicBool::new(false));
    let worker_busy = Arc::new(AtomicBool::new(false));

    // What a previous run left: jobs to compute or send, series still waiting, released arrivals.
    let mut index: HashMap<SeriesKey, String> = HashMap::new();
    let (known, unreadable) = files.all();
    for e in unreadable {
        log::line(&format!("status file skipped: {e}"));
    }
    for s in &known {
        let key = SeriesKey {
            route: s.route.clone(),
            study: s.study_instance_uid.clone(),
            series: s.series_instance_uid.clone(),
        };
        index.insert(key, s.id.clone());
        if s.state == State::Sending {
            let pending: Vec<usize> = s
                .destinations
                .iter()
                .filter(|(_, d)| d.state == "pending")
                .filter_map(|(n, _)| raw.destinations.iter().position(|d| &d.name == n))
                .collect();
            log::line(&format!(
                "job {} resumed: sending to {} destinations",
                s.id,
                pending.len()
            ));
            forwarder.submit(&s.id, &pending);
        }
    }
    let mut assembler = Assembler::default();
    let start = Instant::now();
    let mut waiting: Arrivals = recovered;
    for (key, instances) in spool
        .waiting_series()
        .map_err(|e| Error::io(spool.root(), e))?
    {
        waiting.extend(instances.into_iter().map(|i| (key.clone(), i)));
    }
    refill(&queue, &files, raw.queue_capacity);

    let (events, arrivals) = mpsc::channel::<Arrivals>();
    let worker = {
        let (queue, files, stop, busy) = (
            queue.clone(),
            files.clone(),
            worker_stop.clone(),
            worker_busy.clone(),
        );
        let (engine, node, forwarder_submit) =
            (engine.clone(), node.clone(), forwarder_handle(&forwarder));
        std::thread::Builder::new()
            .name("radpipe-engine".into())
            .spawn(move || {
                engine_worker(
                    &engine,
                    &node,
                    &queue,
                    &files,
                    &stop,
                    &busy,
                    &forwarder_submit,
                )
            })
            .map_err(|e| Error::Gpu(format!("cannot start the engine thread: {e}")))?
    };
    log::line(&format!(
        "listening on {bound} as {}, routes {}, engine {} ({}, {}), spool {}",
        raw.ae_title.trim(),
        node.routes
            .iter()
            .map(|r| format!("{}={:?}", r.route.ae_title.trim(), r.route.job).to_lowercase())
            .collect::<Vec<_>>()
            .join(" "),
        adapter.name,
        adapter.backend,
        adapter.device_type,
        spool.root().display()
    ));
    ready(bound);

    let mut last_refill = Instant::now();
    let rule_of = |route: &str| Rule::of(node, route);
    while !stop.load(Ordering::SeqCst) {
        listener.accept_waiting(&spool, node, &events);
        // Arrivals into series (or into the job of a series already made into one: a late instance).
        let now = Instant::now();
        waiting.extend(arrivals.try_iter().flatten());
        for (key, instance) in waiting.drain(..) {
            match index.get(&key) {
                Some(job) => late(&spool, &files, job, &key, &instance),
                None => assembler.add(key, &instance, now.max(start)),
            }
        }
        for done in assembler.take_complete(now, rule_of) {
            let (kind, dest_names) = node.job_of(&done.key.route);
            match jobs::create(&spool, &files, &done, kind, &dest_names) {
                Ok(status) => {
                    index.insert(done.key.clone(), status.id.clone());
                    log::line(&format!(
                        "job {} received: route {}, series {}, {} instances ({:?})",
                        status.id,
                        status.route,
                        status.series_instance_uid,
                        status.instances.len(),
                        done.why
                    ));
                    if status.state == State::Received {
                        push(&queue, &status.id, raw.queue_capacity);
                    }
                }
                Err(e) => log::line(&format!(
                    "series {} cannot become a job: {e}",
                    done.key.series
                )),
            }
        }
        if last_refill.elapsed() > Duration::from_secs(2) {
            refill(&queue, &files, raw.queue_capacity);
            last_refill = Instant::now();
        }
        // Nothing to do: sleep briefly (accept is non-blocking; arrivals come through the channel).
        if let Ok(batch) = arrivals.recv_timeout(Duration::from_millis(50)) {
            waiting.extend(batch);
        }
    }

    // Stop: no new associations; grace for those in progress; the engine's job; the senders.
    let deadline = Instant::now() + STOP_DEADLINE;
    log::line(&format!(
        "stopping: {} associations in progress, {} deliveries pending",
        listener.active(),
        forwarder.pending()
    ));
    listener.close(Duration::from_secs(10));
    worker_stop.store(true, Ordering::SeqCst);
    queue.1.notify_all();
    while worker_busy.load(Ordering::SeqCst) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if !worker_busy.load(Ordering::SeqCst) {
        let _ = worker.join();
    }
    forwarder.stop(deadline);
    log::line("stopped");
    Ok(())
}

fn forwarder_handle(f: &Forwarder) -> Submit {
    let f = f.submitter();
    Arc::new(move |job: &str, dests: &[usize]| f(job, dests))
}

#[allow(clippy::too_many_arguments)]
fn late(spool: &Spool, files: &StatusFiles, job: &str, key: &SeriesKey, instance: &Instance) {
    match jobs::add_late(spool, files, job, key, &instance.sop_instance_uid) {
        Ok(_) => log::line(&format!(
            "job {job}: late instance {} of series {} kept in work/{job}/late/, not merged",
            instance.sop_instance_uid, key.series
        )),
        Err(e) => log::line(&format!(
            "job {job}: late instance {}: {e}",
            instance.sop_instance_uid
        )),
    }
}
