//! The node itself: the listener, one thread per association (up to `max_associations`), the
//! scheduler that groups released instances into series and makes complete ones into jobs, one engine
//! worker (one [`Engine`] for every route: jobs share the GPU in turn), and the sender pool.
//!
//! Shutdown (SIGINT/SIGTERM set the flag): the listener stops accepting at once; associations in
//! progress get a grace period, then are left to be cut (their instances, never released, are parked
//! in `orphaned/` at the next start); the job being computed is finished if it ends within the
//! deadline, else it stays `processing` and is recomputed — to the same UIDs — at the next start;
//! queued deliveries stay `sending` and resume. The whole stop takes at most [`STOP_DEADLINE`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::config::{JobKind, Node};
use super::forward::{self, Forwarder};
use super::jobs::{self, State, StatusFiles, run};
use super::log;
use super::scp::{
    self, AssociationEnd, AssociationInfo, ScpConfig, StoreRequest, StoreSink, StoreStatus,
};
use super::series::{Assembler, Rule};
use super::spool::{Instance, Pending, Refusal, SeriesKey, Spool};
use crate::{Engine, EngineOptions, Error, Result};

/// The longest a stop takes after the signal.
pub const STOP_DEADLINE: Duration = Duration::from_secs(25);

/// SOP classes the node stores: CR, DX for presentation and for processing, MR, CT, Secondary
/// Capture (the image classes radpipe's workflows read).
pub const STORAGE_CLASSES: [&str; 6] = [
    "1.2.840.10008.5.1.4.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.4",
    "1.2.840.10008.5.1.4.1.1.2",
    "1.2.840.10008.5.1.4.1.1.7",
];

/// Transfer syntaxes radpipe decodes: native (implicit, explicit little endian), deflated, RLE,
/// JPEG baseline and lossless (process 14, SV1), JPEG 2000. JPEG-LS and 12-bit JPEG Extended are
/// not offered, so a peer compresses to them only if it has no other choice and is told so in
/// negotiation.
pub const TRANSFER_SYNTAXES: [&str; 9] = [
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
];

/// Instances arrived (a released association, or found at start).
type Arrivals = Vec<(SeriesKey, Instance)>;

/// The compute queue: job ids in memory (bounded), and the ids queued or running.
#[derive(Default)]
struct ComputeQueue {
    ids: VecDeque<String>,
    known: HashSet<String>,
}

/// Runs the node until `stop` is set; returns once it has stopped (within [`STOP_DEADLINE`]).
/// `ready` is called with the bound address once the node accepts associations.
pub fn serve(
    node: &Node,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<()> {
    let raw = &node.raw;
    let (spool, recovered) = Spool::open(
        &node.spool,
        raw.min_free_mb << 20,
        raw.max_instance_mb << 20,
    )
    .map_err(|e| Error::io(&node.spool, e))?;
    let files = StatusFiles::new(&spool.jobs_dir());
    let engine = Engine::with_options(EngineOptions {
        adapter_name: raw.adapter.clone(),
        ..EngineOptions::default()
    })?;
    let adapter = engine.summary();
    let tls = match &node.tls {
        Some((cert, key)) => Some(super::tls::server_config(cert, key)?),
        None => None,
    };
    let listener = TcpListener::bind(node.listen).map_err(|e| {
        Error::InvalidParams(format!(
            "{}: cannot listen on {}: {e}",
            node.path.display(),
            node.listen
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::InvalidParams(format!("listen socket: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::InvalidParams(format!("listen socket: {e}")))?;

    let forwarder = Forwarder::start(forward::Context {
        files: files.clone(),
        work: spool.root().join("work"),
        destinations: raw.destinations.clone(),
        calling_ae: raw.ae_title.trim().to_string(),
        max_pdu_length: raw.max_pdu_length,
    });
    let queue: Arc<(Mutex<ComputeQueue>, Condvar)> = Arc::default();
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
    let scp_config = Arc::new(ScpConfig {
        accepted_called: node.called_titles(),
        allowed_callers: raw
            .allowed_callers
            .iter()
            .map(|c| c.trim().to_string())
            .collect(),
        storage_classes: STORAGE_CLASSES.iter().map(|s| s.to_string()).collect(),
        transfer_syntaxes: TRANSFER_SYNTAXES.iter().map(|s| s.to_string()).collect(),
        max_pdu_length: raw.max_pdu_length,
        idle_timeout: node.idle_timeout(),
        association_timeout: node.association_timeout(),
        max_instance_bytes: raw.max_instance_mb << 20,
        tls,
    });
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

    let active = Arc::new(AtomicUsize::new(0));
    let mut next_id: u64 = 0;
    let mut last_refill = Instant::now();
    let rule_of = |route: &str| {
        node.route(route).map(|r| Rule {
            expected: r.route.expected,
            quiet: Duration::from_secs_f64(r.route.quiet_seconds),
            max_age: Duration::from_secs_f64(raw.max_series_age_seconds),
        })
    };
    while !stop.load(Ordering::SeqCst) {
        // Accept what is waiting.
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    next_id += 1;
                    accept(
                        stream,
                        peer,
                        next_id,
                        &active,
                        raw.max_associations,
                        &scp_config,
                        &spool,
                        node,
                        &events,
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::line(&format!("accept failed: {e}"));
                    break;
                }
            }
        }
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
            let route = node.route(&done.key.route);
            let kind = route.map_or(JobKind::Pipeline, |r| r.route.job);
            let dest_names: Vec<String> = route
                .map(|r| {
                    r.forward
                        .iter()
                        .map(|&i| raw.destinations[i].name.clone())
                        .collect()
                })
                .unwrap_or_default();
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
    drop(listener);
    let deadline = Instant::now() + STOP_DEADLINE;
    log::line(&format!(
        "stopping: {} associations in progress, {} deliveries pending",
        active.load(Ordering::SeqCst),
        forwarder.pending()
    ));
    let grace = Instant::now() + Duration::from_secs(10);
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(50));
    }
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

/// What the engine worker needs of the forwarder: a way to submit.
type Submit = Arc<dyn Fn(&str, &[usize]) + Send + Sync>;

fn forwarder_handle(f: &Forwarder) -> Submit {
    let f = f.submitter();
    Arc::new(move |job: &str, dests: &[usize]| f(job, dests))
}

#[allow(clippy::too_many_arguments)]
fn accept(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    id: u64,
    active: &Arc<AtomicUsize>,
    max: usize,
    config: &Arc<ScpConfig>,
    spool: &Spool,
    node: &Node,
    events: &Sender<Arrivals>,
) {
    let _ = stream.set_nonblocking(false);
    let config = config.clone();
    if active.load(Ordering::SeqCst) >= max {
        log::line(&format!(
            "association {id} from {peer} rejected: {max} associations in progress"
        ));
        let _ = std::thread::Builder::new()
            .name("radpipe-busy".into())
            .spawn(move || scp::reject_busy(stream, &config));
        return;
    }
    active.fetch_add(1, Ordering::SeqCst);
    let mut receiver = Receiver {
        spool: spool.clone(),
        name: format!(
            "{}-{}-{id}",
            super::clock::unix_ms(std::time::SystemTime::now()),
            std::process::id()
        ),
        dir: None,
        routes: node
            .routes
            .iter()
            .map(|r| r.route.ae_title.trim().to_string())
            .collect(),
        events: events.clone(),
    };
    let active = active.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("radpipe-assoc-{id}"))
        .spawn(move || {
            let started = Instant::now();
            let summary = crate::io::contained::run(|| {
                scp::serve_association(stream, id, &config, &mut receiver)
            });
            active.fetch_sub(1, Ordering::SeqCst);
            let Some(s) = summary else {
                log::line(&format!("association {id} from {peer}: internal error (contained)"));
                return;
            };
            let (calling, called) = s
                .info
                .as_ref()
                .map_or(("?".to_string(), "?".to_string()), |i| (i.calling_ae.clone(), i.called_ae.clone()));
            let end = match &s.end {
                AssociationEnd::Released => "released".to_string(),
                AssociationEnd::Aborted(why) => format!("aborted ({why})"),
                AssociationEnd::Rejected(why) => format!("rejected ({why})"),
            };
            log::line(&format!(
                "association {id} {calling} -> {called} from {peer} {end}: {} stored, {} refused, {} echoes, {:.1} MB in {:.2} s",
                s.stored,
                s.refused,
                s.echoes,
                s.bytes as f64 / 1e6,
                started.elapsed().as_secs_f64()
            ));
        });
    if spawned.is_err() {
        log::line(&format!(
            "association {id} from {peer}: cannot start a thread"
        ));
    }
}

/// The store sink of one association: instances into `incoming/<name>/`, on release into series.
struct Receiver {
    spool: Spool,
    name: String,
    dir: Option<PathBuf>,
    routes: Vec<String>,
    events: Sender<Arrivals>,
}

impl StoreSink for Receiver {
    type Pending = Pending;

    fn begin(
        &mut self,
        assoc: &AssociationInfo,
        req: &StoreRequest,
    ) -> std::result::Result<Pending, StoreStatus> {
        if !self.routes.iter().any(|r| r == assoc.called_ae.trim()) {
            return Err(StoreStatus::cannot_understand(format!(
                "{} is the node's own AE title, which answers C-ECHO only; send images to a route's title ({})",
                assoc.called_ae.trim(),
                self.routes.join(", ")
            )));
        }
        let dir = match &self.dir {
            Some(d) => d.clone(),
            None => {
                let d = self
                    .spool
                    .association_dir(&self.name)
                    .map_err(|e| StoreStatus::out_of_resources(format!("spool: {e}")))?;
                self.dir = Some(d.clone());
                d
            }
        };
        self.spool
            .begin(
                &dir,
                &req.sop_class_uid,
                &req.sop_instance_uid,
                &req.transfer_syntax,
            )
            .map_err(refusal)
    }

    fn finish(
        &mut self,
        _assoc: &AssociationInfo,
        req: &StoreRequest,
        pending: Pending,
    ) -> StoreStatus {
        match self.spool.finish(pending, &req.sop_instance_uid) {
            Ok(_) => StoreStatus::success(),
            Err(r) => refusal(r),
        }
    }

    fn discard(&mut self, _assoc: &AssociationInfo, pending: Pending) {
        self.spool.discard(pending);
    }

    fn released(&mut self, assoc: &AssociationInfo) {
        let Some(dir) = self.dir.take() else { return };
        match self.spool.release(&dir, assoc.called_ae.trim()) {
            Ok(arrived) => {
                let _ = self.events.send(arrived);
            }
            Err(e) => log::line(&format!(
                "association {}: moving its instances out of {} failed: {e} (they stay there and are retried at the next start)",
                assoc.id,
                dir.display()
            )),
        }
    }

    fn aborted(&mut self, _assoc: &AssociationInfo, _why: &str) {
        if let Some(dir) = self.dir.take() {
            self.spool.abort(&dir);
        }
    }
}

fn refusal(r: Refusal) -> StoreStatus {
    match r {
        Refusal::Resources(m) => StoreStatus::out_of_resources(m),
        Refusal::Unreadable(m) => StoreStatus::cannot_understand(m),
    }
}

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

fn push(queue: &(Mutex<ComputeQueue>, Condvar), id: &str, capacity: usize) {
    let mut q = queue.0.lock().unwrap_or_else(|p| p.into_inner());
    if q.ids.len() < capacity && q.known.insert(id.to_string()) {
        q.ids.push_back(id.to_string());
        queue.1.notify_all();
    }
}

/// Queues jobs waiting on disk (`received`, or `processing` from a run that stopped mid-job) while
/// the in-memory queue has room.
fn refill(queue: &(Mutex<ComputeQueue>, Condvar), files: &StatusFiles, capacity: usize) {
    let (all, _) = files.all();
    for s in all {
        if matches!(s.state, State::Received | State::Processing) {
            push(queue, &s.id, capacity);
        }
    }
}

fn engine_worker(
    engine: &Engine,
    node: &Node,
    queue: &(Mutex<ComputeQueue>, Condvar),
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
