//! The listening socket and its associations, shared by the single-process node ([`super::node`])
//! and the queue's receivers ([`super::cluster::receiver`]): bind, accept what is waiting (each
//! association on its own thread, up to `max_associations`), and on stop close the socket and give
//! the associations in progress a grace period.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::config::Node;
use super::log;
use super::receive::{Arrivals, accept};
use super::scp::ScpConfig;
use super::spool::Spool;
use crate::{Error, Result};

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

/// The node's listening socket.
pub struct Listener {
    listener: TcpListener,
    /// The address it is bound to (the port chosen by the system when the config says 0).
    pub bound: SocketAddr,
    scp: Arc<ScpConfig>,
    active: Arc<AtomicUsize>,
    next_id: u64,
}

impl Listener {
    /// Binds `node.listen` (non-blocking) with the node's association rules.
    pub fn open(node: &Node) -> Result<Listener> {
        let raw = &node.raw;
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
        let scp = Arc::new(ScpConfig {
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
        Ok(Listener {
            listener,
            bound,
            scp,
            active: Arc::default(),
            next_id: 0,
        })
    }

    /// Accepts every connection waiting now; released associations' instances come through `events`.
    pub fn accept_waiting(&mut self, spool: &Spool, node: &Node, events: &Sender<Arrivals>) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.next_id += 1;
                    accept(
                        stream,
                        peer,
                        self.next_id,
                        &self.active,
                        node.raw.max_associations,
                        &self.scp,
                        spool,
                        node,
                        events,
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log::line(&format!("accept failed: {e}"));
                    break;
                }
            }
        }
    }

    /// Associations in progress.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Closes the socket (no new associations) and waits up to `grace` for those in progress.
    pub fn close(self, grace: Duration) {
        let active = self.active.clone();
        drop(self.listener);
        let end = Instant::now() + grace;
        while active.load(Ordering::SeqCst) > 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
