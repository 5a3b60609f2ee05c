//! The receiving side: one association on an accepted connection, from the A-ASSOCIATE-RQ to
//! release or abort, serving C-ECHO and C-STORE (the node owns the listener and the threads).
//!
//! What it guarantees whatever the peer sends: no panic; no allocation beyond one PDU of at most the
//! announced maximum length (the A-ASSOCIATE-RQ may take up to [`ASSOCIATE_RQ_MAX`]), checked from
//! the PDU header before the body is read; no wait longer than the idle timeout for a byte, nor past
//! the association deadline; a data set streamed fragment by fragment into the sink's writer and cut
//! off at `max_instance_bytes`; every response carrying the request's Message ID. Rejections happen
//! in negotiation: unknown called titles and callers outside the allowed list get A-ASSOCIATE-RJ, and
//! presentation contexts we cannot take get a per-context rejection in the A-ASSOCIATE-AC.
//!
//! The sink sees an association only once it is accepted: then every `begin` is followed by exactly
//! one `finish` or `discard`, and the association by exactly one `released` or `aborted`. Nothing is
//! printed; the summary says what happened.

mod session;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use dicom_ul::pdu::{AbortRQServiceProviderReason as Reason, Pdu};

use super::dimse::link::{Link, LinkError, TimedSocket, TlsStream, Transport};
use super::dimse::negotiate::{self, Policy};
use super::dimse::status;

/// The longest A-ASSOCIATE-RQ accepted (128 presentation contexts with a few transfer syntaxes each
/// are some 20 KB).
pub const ASSOCIATE_RQ_MAX: u32 = 256 * 1024;
/// The largest maximum PDU length we announce, whatever the configuration says (one PDU is buffered).
pub const MAX_PDU_CAP: u32 = super::dimse::pdata::MAX_RECEIVE_PDU;

/// How the SCP negotiates and what it allows.
#[derive(Debug, Clone)]
pub struct ScpConfig {
    /// Called AE titles accepted (node title + every route title).
    pub accepted_called: Vec<String>,
    /// Calling AE titles let in; empty = any.
    pub allowed_callers: Vec<String>,
    /// SOP class UIDs accepted for C-STORE (Verification is always accepted).
    pub storage_classes: Vec<String>,
    /// Transfer syntax UIDs accepted for storage contexts, in order of preference.
    pub transfer_syntaxes: Vec<String>,
    /// The maximum PDU length we announce; longer PDUs from the peer get A-ABORT. Clamped to
    /// 1018..=[`MAX_PDU_CAP`]; 0 means dicom-ul's default (32762).
    pub max_pdu_length: u32,
    /// Nothing received for this long → A-ABORT.
    pub idle_timeout: Duration,
    /// The whole association longer than this → A-ABORT.
    pub association_timeout: Duration,
    /// A data set larger than this is refused (A700) and dropped.
    pub max_instance_bytes: u64,
    /// TLS (PS3.15 B.1): when set, the connection must begin with a TLS handshake.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ScpConfig {
    /// The maximum PDU length actually announced and enforced.
    pub fn effective_max_pdu(&self) -> u32 {
        match self.max_pdu_length {
            0 => dicom_ul::pdu::DEFAULT_MAX_PDU,
            n => n.clamp(dicom_ul::pdu::MINIMUM_PDU_SIZE, MAX_PDU_CAP),
        }
    }
}

/// Who is on the other end of an association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationInfo {
    /// The node's number for this association.
    pub id: u64,
    /// The peer's address (0.0.0.0:0 when the socket could not say).
    pub peer: SocketAddr,
    /// The requestor's AE title.
    pub calling_ae: String,
    /// The AE title it called (the node's or a route's).
    pub called_ae: String,
}

/// A C-STORE request, as the sink sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRequest {
    /// The request's Message ID.
    pub message_id: u16,
    /// Affected SOP Class UID.
    pub sop_class_uid: String,
    /// Affected SOP Instance UID.
    pub sop_instance_uid: String,
    /// The presentation context's transfer syntax: the encoding of the data set bytes.
    pub transfer_syntax: String,
    /// Priority: 0 medium, 1 high, 2 low.
    pub priority: u16,
    /// Move Originator AE Title, when the store is a C-MOVE sub-operation.
    pub move_originator: Option<String>,
}

/// The status a C-STORE-RSP carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    /// The DIMSE status (PS3.4 B.2.3).
    pub status: u16,
    /// Error Comment (up to 64 characters are sent).
    pub error_comment: Option<String>,
}

impl StoreStatus {
    /// 0000H.
    pub fn success() -> Self {
        StoreStatus {
            status: status::SUCCESS,
            error_comment: None,
        }
    }

    /// A700H, refused: out of resources.
    pub fn out_of_resources(msg: impl Into<String>) -> Self {
        StoreStatus {
            status: status::OUT_OF_RESOURCES,
            error_comment: Some(msg.into()),
        }
    }

    /// C000H, error: cannot understand.
    pub fn cannot_understand(msg: impl Into<String>) -> Self {
        StoreStatus {
            status: status::CANNOT_UNDERSTAND,
            error_comment: Some(msg.into()),
        }
    }

    /// Any status with an optional comment (a warning such as B000H, say).
    pub fn new(status: u16, error_comment: Option<String>) -> Self {
        StoreStatus {
            status,
            error_comment,
        }
    }
}

/// Where received instances go.
pub trait StoreSink {
    /// Where one data set's bytes are written.
    type Pending: std::io::Write;
    /// A C-STORE request's command has arrived; return where its data set bytes go
    /// (exactly the bytes the peer sends, in `req.transfer_syntax`, no preamble/meta) or refuse.
    /// A refusal's status is sent after the data set has been read and dropped.
    fn begin(
        &mut self,
        assoc: &AssociationInfo,
        req: &StoreRequest,
    ) -> Result<Self::Pending, StoreStatus>;
    /// The last data set fragment arrived: make it durable / validate it; the returned status is sent.
    fn finish(
        &mut self,
        assoc: &AssociationInfo,
        req: &StoreRequest,
        pending: Self::Pending,
    ) -> StoreStatus;
    /// The data set was broken off (abort, timeout, size cap, write error): drop what `begin` made.
    fn discard(&mut self, assoc: &AssociationInfo, pending: Self::Pending);
    /// The peer released the association normally (A-RELEASE-RQ answered).
    fn released(&mut self, assoc: &AssociationInfo);
    /// The association ended any other way (A-ABORT either side, timeout, protocol error, connection lost).
    fn aborted(&mut self, assoc: &AssociationInfo, why: &str);
}

/// How an association ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssociationEnd {
    /// A-RELEASE-RQ answered with A-RELEASE-RP.
    Released,
    /// Aborted by either side, timed out, broke the protocol or lost the connection; why.
    Aborted(String),
    /// Answered with A-ASSOCIATE-RJ; why.
    Rejected(String),
}

/// What one association did, for the node's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationSummary {
    /// Who it was; `None` when no A-ASSOCIATE-RQ was read.
    pub info: Option<AssociationInfo>,
    /// How it ended.
    pub end: AssociationEnd,
    /// C-ECHO requests answered.
    pub echoes: u32,
    /// C-STORE requests answered with success or a warning.
    pub stored: u32,
    /// C-STORE requests answered with a failure status.
    pub refused: u32,
    /// C-STORE data set bytes received (stored or not).
    pub bytes: u64,
}

impl AssociationSummary {
    fn ended(info: Option<AssociationInfo>, end: AssociationEnd) -> Self {
        AssociationSummary {
            info,
            end,
            echoes: 0,
            stored: 0,
            refused: 0,
            bytes: 0,
        }
    }
}

/// Negotiates (rejecting unknown called titles / callers with A-ASSOCIATE-RJ, rejecting presentation
/// contexts whose abstract syntax or every transfer syntax we cannot take), then serves C-ECHO and
/// C-STORE until release/abort. Never panics, never allocates more than max_pdu_length + a small
/// constant per PDU whatever the peer claims. Every response carries the request's Message ID.
pub fn serve_association<S: StoreSink>(
    stream: TcpStream,
    id: u64,
    cfg: &ScpConfig,
    sink: &mut S,
) -> AssociationSummary {
    let peer = peer_of(&stream);
    let timeouts = (cfg.idle_timeout, cfg.association_timeout);
    match cfg.tls.clone() {
        None => match plain(stream, timeouts) {
            Ok(link) => accept(link, id, peer, cfg, sink),
            Err(why) => AssociationSummary::ended(None, AssociationEnd::Aborted(why)),
        },
        Some(tls) => match secure(stream, tls, timeouts) {
            Ok(link) => accept(link, id, peer, cfg, sink),
            Err(why) => AssociationSummary::ended(None, AssociationEnd::Aborted(why)),
        },
    }
}

/// Answers an association request with A-ASSOCIATE-RJ (transient, local limit exceeded) — used by the
/// node when it is at its cap of simultaneous associations. Waits at most 5 s for the request.
pub fn reject_busy(stream: TcpStream, cfg: &ScpConfig) {
    let short = cfg.idle_timeout.min(Duration::from_secs(5));
    let timeouts = (short, short.saturating_mul(2));
    match cfg.tls.clone() {
        None => {
            if let Ok(link) = plain(stream, timeouts) {
                refuse_busy(link);
            }
        }
        Some(tls) => {
            if let Ok(link) = secure(stream, tls, timeouts) {
                refuse_busy(link);
            }
        }
    }
}

fn refuse_busy<T: Transport>(mut link: Link<T>) {
    let mut body = Vec::new();
    match link.read_pdu(&mut body, ASSOCIATE_RQ_MAX) {
        Ok(0x01) => {
            let _ = link.send_pdu(&negotiate::busy());
            link.close();
        }
        Ok(_) => link.abort(Reason::UnexpectedPdu),
        Err(_) => link.close(),
    }
}

fn peer_of(stream: &TcpStream) -> SocketAddr {
    stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

fn plain(stream: TcpStream, (idle, life): (Duration, Duration)) -> Result<Link<TcpStream>, String> {
    let socket = stream
        .try_clone()
        .map_err(|e| format!("cannot use the socket: {e}"))?;
    Ok(Link::new(stream, socket, idle, life))
}

fn secure(
    stream: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    (idle, life): (Duration, Duration),
) -> Result<Link<TlsStream>, String> {
    let socket = stream
        .try_clone()
        .map_err(|e| format!("cannot use the socket: {e}"))?;
    let conn = rustls::ServerConnection::new(tls).map_err(|e| format!("TLS setup failed: {e}"))?;
    let timed = TimedSocket::new(stream, idle, life);
    Ok(Link::new(
        rustls::StreamOwned::new(conn, timed),
        socket,
        idle,
        life,
    ))
}

/// Reads and answers the A-ASSOCIATE-RQ, then hands an accepted association to the session.
fn accept<T: Transport, S: StoreSink>(
    mut link: Link<T>,
    id: u64,
    peer: SocketAddr,
    cfg: &ScpConfig,
    sink: &mut S,
) -> AssociationSummary {
    let aborted = |why: String| AssociationSummary::ended(None, AssociationEnd::Aborted(why));
    let max_pdu = cfg.effective_max_pdu();
    let mut body = Vec::new();
    let kind = match link.read_pdu(&mut body, ASSOCIATE_RQ_MAX.max(max_pdu)) {
        Ok(kind) => kind,
        Err(e) => {
            let why = format!("before association: {e}");
            match e {
                LinkError::Closed | LinkError::Truncated => link.close(),
                _ => link.abort(Reason::InvalidPduParameter),
            }
            return aborted(why);
        }
    };
    let rq = match super::dimse::link::decode_pdu(kind, &body) {
        Ok(Pdu::AssociationRQ(rq)) => rq,
        Ok(other) => {
            link.abort(Reason::UnexpectedPdu);
            return aborted(format!(
                "expected A-ASSOCIATE-RQ, got {}",
                super::dimse::link::pdu_name(&other)
            ));
        }
        Err(why) => {
            link.abort(Reason::UnrecognizedPdu);
            return aborted(format!("before association: {why}"));
        }
    };
    let policy = Policy {
        accepted_called: &cfg.accepted_called,
        allowed_callers: &cfg.allowed_callers,
        storage_classes: &cfg.storage_classes,
        transfer_syntaxes: &cfg.transfer_syntaxes,
        max_pdu_length: max_pdu,
    };
    let info = |calling_ae: &str, called_ae: &str| AssociationInfo {
        id,
        peer,
        calling_ae: calling_ae.to_string(),
        called_ae: called_ae.to_string(),
    };
    match negotiate::answer(rq, &policy) {
        Err(refusal) => {
            let _ = link.send_pdu(&Pdu::AssociationRJ(refusal.reply));
            link.close();
            AssociationSummary::ended(
                Some(info(&refusal.calling_ae, &refusal.called_ae)),
                AssociationEnd::Rejected(refusal.why),
            )
        }
        Ok(agreement) => {
            let info = info(&agreement.calling_ae, &agreement.called_ae);
            if let Err(e) = link.send_pdu(&agreement.reply) {
                let why = format!("cannot send A-ASSOCIATE-AC: {e}");
                link.close();
                sink.aborted(&info, &why);
                return AssociationSummary::ended(Some(info), AssociationEnd::Aborted(why));
            }
            session::run(link, info, agreement, cfg, sink)
        }
    }
}
