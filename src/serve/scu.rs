//! The sending side: C-ECHO and C-STORE to a peer over one association each, on dicom-ul's client
//! association (its A-ASSOCIATE-RQ/AC handling, release and abort), with the DIMSE messages of
//! [`dimse`](super::dimse) on top.
//!
//! [`store`] reads every file's meta group first ([`part10`]) and proposes one presentation context
//! per distinct (SOP class, transfer syntax) — plus, for a natively uncompressed file not already in
//! Explicit VR Little Endian, a second context in Explicit VR Little Endian, used (the data set
//! re-encoded by dicom-object) only if the peer refused the file's own. The data set bytes after
//! the meta group are streamed from the file in fragments of the peer's maximum PDU length, so a
//! file is never held in memory unless it must be re-encoded.
//!
//! Every failure names the peer (name, AE title, address) and what went wrong. A connection,
//! association or protocol failure is an `Err`; a file the peer refused, or that could not be sent
//! (unreadable, or no accepted context for its class and syntax), is a [`Sent`] with a failure
//! status and a comment saying why.

mod wire;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_ul::ClientAssociationOptions;

use super::dimse::message::{self, StoreRq};
use super::dimse::part10::{self, Head};
use super::dimse::{EXPLICIT_VR_LE, IMPLICIT_VR_LE, VERIFICATION, is_native_uncompressed, pdata};
use super::dimse::{status, trim_uid};
use wire::Wire;

/// At most this many presentation contexts fit one association (IDs 1, 3, …, 255).
pub const MAX_CONTEXTS: usize = 128;

/// A DICOM peer to send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The node's name for it (route or destination name), for messages.
    pub name: String,
    /// Its AE title (the called AE title).
    pub ae_title: String,
    /// `host:port`.
    pub address: String,
    /// Our AE title (the calling AE title).
    pub calling_ae: String,
    /// Connect, read and write timeout (each operation).
    pub timeout: Duration,
    /// The maximum PDU length we announce for receiving (0 = dicom-ul's default).
    pub max_pdu_length: u32,
}

impl Peer {
    /// "name (AE@address)", how errors name the peer.
    pub fn label(&self) -> String {
        format!("{} ({}@{})", self.name, self.ae_title, self.address)
    }
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The file.
    pub file: PathBuf,
    /// Its SOP Instance UID (empty when the file could not be read).
    pub sop_instance_uid: String,
    /// The peer's C-STORE-RSP status; for a file that was not sent, 0122H (no accepted context for
    /// its SOP class and transfer syntax) or C000H (unreadable), with the comment saying so.
    pub status: u16,
    /// The peer's Error Comment, or why the file was not sent.
    pub error_comment: Option<String>,
}

/// A failed echo or store. Display names the peer and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ScuError {
    /// The TCP connection could not be made (refused, unreachable, unresolvable).
    #[error("{peer}: cannot connect: {source}")]
    Connect {
        /// The peer's label.
        peer: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The peer answered A-ASSOCIATE-RJ.
    #[error("{peer}: association rejected ({reason})")]
    Rejected {
        /// The peer's label.
        peer: String,
        /// Result, source and reason as the peer gave them.
        reason: String,
    },
    /// The peer did not answer in time.
    #[error("{peer}: no answer within {timeout:?} while {during}")]
    Timeout {
        /// The peer's label.
        peer: String,
        /// The timeout.
        timeout: Duration,
        /// What we were doing.
        during: String,
    },
    /// The peer aborted or dropped the association.
    #[error("{peer}: association aborted ({detail})")]
    Aborted {
        /// The peer's label.
        peer: String,
        /// What happened.
        detail: String,
    },
    /// The peer accepted none of the proposed presentation contexts.
    #[error("{peer}: no presentation context accepted for {detail}")]
    NoContext {
        /// The peer's label.
        peer: String,
        /// What was proposed.
        detail: String,
    },
    /// C-ECHO answered with a failure status.
    #[error("{peer}: C-ECHO answered with status {status:04X}H{}", comment.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    EchoFailed {
        /// The peer's label.
        peer: String,
        /// The status.
        status: u16,
        /// Its Error Comment.
        comment: Option<String>,
    },
    /// The peer broke the protocol (or something else failed on the wire).
    #[error("{peer}: protocol error: {detail}")]
    Protocol {
        /// The peer's label.
        peer: String,
        /// What was wrong.
        detail: String,
    },
    /// The request could not even be prepared (too many contexts, a file changed while sending).
    #[error("{peer}: {detail}")]
    Local {
        /// The peer's label.
        peer: String,
        /// What was wrong.
        detail: String,
    },
}

/// C-ECHO over one association.
pub fn echo(peer: &Peer) -> Result<(), ScuError> {
    let contexts = vec![(
        VERIFICATION.to_string(),
        vec![IMPLICIT_VR_LE.to_string(), EXPLICIT_VR_LE.to_string()],
    )];
    let mut wire = Wire::connect(peer, contexts)?;
    let Some(context_id) = wire.context_for(VERIFICATION, None) else {
        return Err(ScuError::NoContext {
            peer: peer.label(),
            detail: "Verification".into(),
        });
    };
    let rq = message::echo_rq(1);
    wire.send_command(context_id, &rq)?;
    let rsp = wire.await_response(message::C_ECHO_RSP, 1, "waiting for C-ECHO-RSP")?;
    wire.release();
    if status::outcome(rsp.status) == status::Outcome::Success {
        Ok(())
    } else {
        Err(ScuError::EchoFailed {
            peer: peer.label(),
            status: rsp.status,
            comment: rsp.error_comment,
        })
    }
}

/// One association proposing each file's SOP class with its own transfer syntax (plus Explicit VR LE
/// as a fallback the file is converted to only if it is natively uncompressed), C-STORE of every file in
/// order, release. Per-file statuses returned; warnings (Bxxx) count as sent; connection/association
/// failure = Err. A failed release after every response has arrived is not an error (the peer has
/// acknowledged every instance). No files: nothing is sent.
pub fn store(peer: &Peer, files: &[PathBuf]) -> Result<Vec<Sent>, ScuError> {
    let heads: Vec<Result<Head, String>> = files.iter().map(|f| part10::read_head(f)).collect();
    let mut proposals: Vec<(String, String)> = Vec::new();
    for head in heads.iter().flatten() {
        let own = (
            head.sop_class_uid.clone(),
            trim_uid(&head.transfer_syntax).to_string(),
        );
        let fallback = (head.sop_class_uid.clone(), EXPLICIT_VR_LE.to_string());
        let wants_fallback = is_native_uncompressed(&own.1) && own.1 != EXPLICIT_VR_LE;
        for p in [Some(own), wants_fallback.then_some(fallback)]
            .into_iter()
            .flatten()
        {
            if !proposals.contains(&p) {
                proposals.push(p);
            }
        }
    }
    if proposals.len() > MAX_CONTEXTS {
        return Err(ScuError::Local {
            peer: peer.label(),
            detail: format!(
                "{} presentation contexts needed (SOP class × transfer syntax), more than the {MAX_CONTEXTS} one association can carry",
                proposals.len()
            ),
        });
    }
    let not_sent = |file: &Path, head: Option<&Head>, code: u16, why: String| Sent {
        file: file.to_path_buf(),
        sop_instance_uid: head.map(|h| h.sop_instance_uid.clone()).unwrap_or_default(),
        status: code,
        error_comment: Some(format!("not sent: {why}")),
    };
    if proposals.is_empty() {
        return Ok(files
            .iter()
            .zip(&heads)
            .map(|(f, h)| {
                let why = h.as_ref().err().cloned().unwrap_or_default();
                not_sent(f, None, status::CANNOT_UNDERSTAND, why)
            })
            .collect());
    }
    let contexts = proposals.into_iter().map(|(a, t)| (a, vec![t])).collect();
    let mut wire = match Wire::connect(peer, contexts) {
        Err(ScuError::NoContext { detail, .. }) => {
            let why = format!("the peer accepted no presentation context ({detail})");
            return Ok(files
                .iter()
                .zip(&heads)
                .map(|(f, h)| match h {
                    Ok(h) => not_sent(f, Some(h), status::SOP_CLASS_NOT_SUPPORTED, why.clone()),
                    Err(e) => not_sent(f, None, status::CANNOT_UNDERSTAND, e.clone()),
                })
                .collect());
        }
        other => other?,
    };
    let mut out = Vec::with_capacity(files.len());
    let mut message_id: u16 = 0;
    for (file, head) in files.iter().zip(&heads) {
        let head = match head {
            Ok(h) => h,
            Err(e) => {
                out.push(not_sent(file, None, status::CANNOT_UNDERSTAND, e.clone()));
                continue;
            }
        };
        let ts = trim_uid(&head.transfer_syntax);
        let exact = wire.context_for(&head.sop_class_uid, Some(ts));
        let converted = is_native_uncompressed(ts)
            .then(|| wire.context_for(&head.sop_class_uid, Some(EXPLICIT_VR_LE)))
            .flatten();
        let (context_id, body) = match (exact, converted) {
            (Some(id), _) => (id, Body::File),
            (None, Some(id)) => match part10::reencode_explicit_le(file) {
                Ok(bytes) => (id, Body::Bytes(bytes)),
                Err(e) => {
                    out.push(not_sent(file, Some(head), status::CANNOT_UNDERSTAND, e));
                    continue;
                }
            },
            (None, None) => {
                let why = format!(
                    "the peer accepted no presentation context for SOP class {} in {ts}",
                    head.sop_class_uid
                );
                out.push(not_sent(
                    file,
                    Some(head),
                    status::SOP_CLASS_NOT_SUPPORTED,
                    why,
                ));
                continue;
            }
        };
        message_id = message_id.wrapping_add(1).max(1);
        let rq = StoreRq {
            message_id,
            sop_class_uid: head.sop_class_uid.clone(),
            sop_instance_uid: head.sop_instance_uid.clone(),
            priority: 0,
            move_originator_ae: None,
            move_originator_message_id: None,
        };
        wire.send_command(context_id, &rq.encode())?;
        match body {
            Body::File => send_file(&mut wire, peer, context_id, file, head)?,
            Body::Bytes(bytes) => wire.send_data(context_id, &bytes, true)?,
        }
        let rsp =
            wire.await_response(message::C_STORE_RSP, message_id, "waiting for C-STORE-RSP")?;
        out.push(Sent {
            file: file.clone(),
            sop_instance_uid: head.sop_instance_uid.clone(),
            status: rsp.status,
            error_comment: rsp.error_comment,
        });
    }
    wire.release();
    Ok(out)
}

/// Where a data set's bytes come from.
enum Body {
    /// The file itself, after its meta group.
    File,
    /// Re-encoded in memory.
    Bytes(Vec<u8>),
}

/// Streams the data set bytes of `file` (after its meta group) in fragments of the peer's size.
fn send_file(
    wire: &mut Wire,
    peer: &Peer,
    context_id: u8,
    file: &Path,
    head: &Head,
) -> Result<(), ScuError> {
    let broken = |what: String| ScuError::Local {
        peer: peer.label(),
        detail: format!("{}: {what} (association aborted)", file.display()),
    };
    let mut f = File::open(file).map_err(|e| broken(format!("cannot reopen: {e}")))?;
    f.seek(SeekFrom::Start(head.data_set_offset))
        .map_err(|e| broken(format!("cannot seek: {e}")))?;
    let capacity = pdata::fragment_capacity(wire.send_limit()) as u64;
    let mut left = head.data_set_len;
    let mut chunk = Vec::new();
    loop {
        let n = left.min(capacity);
        chunk.resize(n as usize, 0);
        if let Err(e) = f.read_exact(&mut chunk) {
            wire.abort();
            return Err(broken(format!("changed while sending: {e}")));
        }
        left -= n;
        wire.send_data(context_id, &chunk, left == 0)?;
        if left == 0 {
            return Ok(());
        }
    }
}

/// The options dicom-ul's client is given (our AE titles, PDU size, timeouts, contexts).
fn client_options(
    peer: &Peer,
    contexts: Vec<(String, Vec<String>)>,
) -> ClientAssociationOptions<'static> {
    let timeout = peer.timeout.max(Duration::from_millis(1));
    let max_pdu = match peer.max_pdu_length {
        0 => dicom_ul::pdu::DEFAULT_MAX_PDU,
        n => n.clamp(dicom_ul::pdu::MINIMUM_PDU_SIZE, pdata::MAX_RECEIVE_PDU),
    };
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(peer.calling_ae.clone())
        .called_ae_title(peer.ae_title.clone())
        .max_pdu_length(max_pdu)
        .connection_timeout(timeout)
        .read_timeout(timeout)
        .write_timeout(timeout);
    for (abstract_syntax, syntaxes) in contexts {
        opts = opts.with_presentation_context(abstract_syntax, syntaxes);
    }
    opts
}
