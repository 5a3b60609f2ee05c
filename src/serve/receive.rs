//! One thread per association: the node's cap on simultaneous associations (past it a caller gets
//! A-ASSOCIATE-RJ, transient), the store sink that puts each instance into the spool, and the one log
//! line per association. Instances go to `incoming/<association>/` and become arrivals — sent to the
//! scheduler — only when the association is released; an aborted one is deleted.

use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::time::Instant;

use super::config::Node;
use super::log;
use super::scp::{
    self, AssociationEnd, AssociationInfo, ScpConfig, StoreRequest, StoreSink, StoreStatus,
};
use super::spool::{Instance, Pending, Refusal, SeriesKey, Spool};

/// Instances arrived (a released association, or found at start).
pub type Arrivals = Vec<(SeriesKey, Instance)>;

/// Serves one accepted connection on its own thread (or rejects it when `max` are in progress).
#[allow(clippy::too_many_arguments)]
pub fn accept(
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
