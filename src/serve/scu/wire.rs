//! One client association as the sending side uses it: dicom-ul's `ClientAssociation` for
//! negotiation, release and abort, our fragmenter for outgoing commands and data sets, our
//! reassembler for incoming responses, and every dicom-ul error turned into a [`ScuError`] that
//! names the peer. Any failure after the association is up aborts it before the error is returned.

use std::net::TcpStream;
use std::time::Instant;

use dicom_ul::ClientAssociation;
use dicom_ul::association::Error as UlError;
use dicom_ul::pdu::{PDataValueType, Pdu};

use super::{Peer, ScuError, client_options};
use crate::serve::dimse::assemble::{Assembler, Piece};
use crate::serve::dimse::command::CommandSet;
use crate::serve::dimse::message::Response;
use crate::serve::dimse::pdata::{self, Pdv};
use crate::serve::dimse::trim_uid;

/// At most this many PDUs are read while waiting for one response (a peer dripping empty fragments
/// cannot keep us waiting past the timeout either).
const MAX_PDUS_PER_RESPONSE: usize = 4096;

/// An established association to a peer.
pub(super) struct Wire<'p> {
    peer: &'p Peer,
    assoc: Option<ClientAssociation<TcpStream>>,
    scratch: Vec<u8>,
    limit: u32,
}

impl<'p> Wire<'p> {
    /// Connects and negotiates `contexts` (abstract syntax, transfer syntaxes).
    pub(super) fn connect(
        peer: &'p Peer,
        contexts: Vec<(String, Vec<String>)>,
    ) -> Result<Wire<'p>, ScuError> {
        let assoc = client_options(peer, contexts)
            .establish(peer.address.as_str())
            .map_err(|e| map_error(peer, "establishing the association", e))?;
        let limit = pdata::send_limit(assoc.acceptor_max_pdu_length());
        Ok(Wire {
            peer,
            assoc: Some(assoc),
            scratch: Vec::new(),
            limit,
        })
    }

    /// The accepted context for an abstract syntax (and transfer syntax, when given).
    pub(super) fn context_for(&self, abstract_syntax: &str, ts: Option<&str>) -> Option<u8> {
        let assoc = self.assoc.as_ref()?;
        assoc
            .presentation_contexts()
            .iter()
            .find(|c| {
                trim_uid(&c.abstract_syntax) == trim_uid(abstract_syntax)
                    && ts.is_none_or(|t| trim_uid(&c.transfer_syntax) == trim_uid(t))
            })
            .map(|c| c.id)
    }

    /// The PDU size we send to.
    pub(super) fn send_limit(&self) -> u32 {
        self.limit
    }

    /// Sends a whole command set.
    pub(super) fn send_command(
        &mut self,
        context_id: u8,
        set: &CommandSet,
    ) -> Result<(), ScuError> {
        self.send(context_id, true, &set.encode(), true, "sending a command")
    }

    /// Sends data set bytes; `last` marks the data set's end.
    pub(super) fn send_data(
        &mut self,
        context_id: u8,
        bytes: &[u8],
        last: bool,
    ) -> Result<(), ScuError> {
        self.send(context_id, false, bytes, last, "sending a data set")
    }

    fn send(
        &mut self,
        context_id: u8,
        is_command: bool,
        bytes: &[u8],
        last: bool,
        during: &str,
    ) -> Result<(), ScuError> {
        let Some(assoc) = self.assoc.as_mut() else {
            return Err(self.gone());
        };
        let r = pdata::send_fragments(
            assoc.inner_stream(),
            &mut self.scratch,
            context_id,
            is_command,
            bytes,
            last,
            self.limit,
        );
        r.map_err(|e| {
            let err = map_io(self.peer, during, e);
            self.abort();
            err
        })
    }

    /// Waits for the response with this Command Field to request `message_id`.
    pub(super) fn await_response(
        &mut self,
        command_field: u16,
        message_id: u16,
        during: &str,
    ) -> Result<Response, ScuError> {
        let r = self.receive_command(during).and_then(|set| {
            let rsp = Response::read(&set).map_err(|d| self.protocol(d))?;
            if rsp.command_field != command_field || rsp.responding_to != message_id {
                return Err(self.protocol(format!(
                    "expected response {command_field:04X}H to message {message_id}, got {:04X}H to message {}",
                    rsp.command_field, rsp.responding_to
                )));
            }
            Ok(rsp)
        });
        if r.is_err() {
            self.abort();
        }
        r
    }

    fn receive_command(&mut self, during: &str) -> Result<CommandSet, ScuError> {
        let deadline = Instant::now() + self.peer.timeout;
        let mut asm = Assembler::new();
        for _ in 0..MAX_PDUS_PER_RESPONSE {
            if Instant::now() > deadline {
                break;
            }
            let Some(assoc) = self.assoc.as_mut() else {
                return Err(self.gone());
            };
            let pdu = assoc
                .receive()
                .map_err(|e| map_error(self.peer, during, e))?;
            let values = match pdu {
                Pdu::PData { data } => data,
                Pdu::AbortRQ { source } => {
                    return Err(ScuError::Aborted {
                        peer: self.peer.label(),
                        detail: format!("the peer sent A-ABORT ({source:?}) while {during}"),
                    });
                }
                other => {
                    return Err(self.protocol(format!(
                        "unexpected {} while {during}",
                        other.short_description()
                    )));
                }
            };
            for v in &values {
                let pdv = Pdv {
                    context_id: v.presentation_context_id,
                    is_command: v.value_type == PDataValueType::Command,
                    is_last: v.is_last,
                    data: &v.data,
                };
                match asm.push(pdv).map_err(|d| self.protocol(d))? {
                    None => {}
                    Some(Piece::Command { set, .. }) => return Ok(set),
                    Some(Piece::Data { .. }) => {
                        return Err(self.protocol(format!("a data set while {during}")));
                    }
                }
            }
        }
        Err(ScuError::Timeout {
            peer: self.peer.label(),
            timeout: self.peer.timeout,
            during: during.to_string(),
        })
    }

    /// Releases (best effort: every response has arrived by now).
    pub(super) fn release(mut self) {
        if let Some(assoc) = self.assoc.take() {
            let _ = assoc.release();
        }
    }

    /// Aborts (best effort); later calls fail with "association aborted".
    pub(super) fn abort(&mut self) {
        if let Some(assoc) = self.assoc.take() {
            let _ = assoc.abort();
        }
    }

    fn protocol(&self, detail: String) -> ScuError {
        ScuError::Protocol {
            peer: self.peer.label(),
            detail,
        }
    }

    fn gone(&self) -> ScuError {
        ScuError::Aborted {
            peer: self.peer.label(),
            detail: "the association was already aborted".into(),
        }
    }
}

/// The first I/O error in an error's source chain.
fn io_cause<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    for _ in 0..32 {
        let err = cur?;
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// An error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if parts.last() != Some(&s) && parts.len() < 8 {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}

fn map_io(peer: &Peer, during: &str, e: std::io::Error) -> ScuError {
    if is_timeout(&e) {
        return ScuError::Timeout {
            peer: peer.label(),
            timeout: peer.timeout,
            during: during.to_string(),
        };
    }
    ScuError::Aborted {
        peer: peer.label(),
        detail: format!("connection lost while {during}: {e}"),
    }
}

/// Maps a dicom-ul association error.
fn map_error(peer: &Peer, during: &str, e: UlError) -> ScuError {
    let label = peer.label();
    match &e {
        UlError::Connect { source, .. } | UlError::ToAddress { source, .. } => {
            if is_timeout(source) {
                return ScuError::Timeout {
                    peer: label,
                    timeout: peer.timeout,
                    during: "connecting".into(),
                };
            }
            return ScuError::Connect {
                peer: label,
                source: std::io::Error::new(source.kind(), source.to_string()),
            };
        }
        UlError::Rejected { association_rj, .. } => {
            return ScuError::Rejected {
                peer: label,
                reason: format!("{:?}, {}", association_rj.result, association_rj.source),
            };
        }
        UlError::NoAcceptedPresentationContexts { .. } => {
            return ScuError::NoContext {
                peer: label,
                detail: "any proposed SOP class and transfer syntax".into(),
            };
        }
        UlError::ConnectionClosed { .. } => {
            return ScuError::Aborted {
                peer: label,
                detail: format!("connection closed by the peer while {during}"),
            };
        }
        UlError::UnexpectedPdu { pdu, .. } => {
            if let Pdu::AbortRQ { source } = pdu.as_ref() {
                return ScuError::Aborted {
                    peer: label,
                    detail: format!("the peer sent A-ABORT ({source:?}) while {during}"),
                };
            }
        }
        _ => {}
    }
    if let Some(io) = io_cause(&e) {
        return map_io(peer, during, std::io::Error::new(io.kind(), io.to_string()));
    }
    ScuError::Protocol {
        peer: label,
        detail: format!("{during}: {}", chain(&e)),
    }
}
