//! An accepted association's DIMSE traffic: P-DATA PDUs in, their PDVs reassembled into commands and
//! data set fragments, C-ECHO and C-STORE answered, until A-RELEASE-RQ, A-ABORT, a timeout or a
//! protocol error. Kept apart from `scp.rs`, whose job is the types and the negotiation.
//!
//! A C-STORE data set goes fragment by fragment into the sink's writer; once it passes
//! `max_instance_bytes` (or a write fails) the writer is discarded and the rest of the data set is
//! read and dropped, then the refusal is sent — the association stays usable. Requests other than
//! C-ECHO and C-STORE get status 0211H (unrecognized operation). Anything that breaks the message
//! order (a data fragment without a command announcing it, a command inside a data set, a PDV on a
//! context that was not accepted, a response from the requestor) is answered with A-ABORT.

use std::io::Write;

use dicom_ul::pdu::{AbortRQServiceProviderReason as Reason, Pdu};

use super::{AssociationEnd, AssociationInfo, AssociationSummary, ScpConfig, StoreRequest};
use super::{StoreSink, StoreStatus};
use crate::serve::dimse::assemble::{Assembler, Piece};
use crate::serve::dimse::command::CommandSet;
use crate::serve::dimse::link::{self, Link, LinkError, Transport};
use crate::serve::dimse::message::{self, Header, Response, StoreRq};
use crate::serve::dimse::negotiate::{Agreement, Context};
use crate::serve::dimse::pdata::{self, Pdv};
use crate::serve::dimse::status;

/// How the message loop ended.
enum Ending {
    Released,
    /// The peer sent A-ABORT or the connection ended: nothing to send.
    Lost(String),
    /// We abort: A-ABORT with this reason.
    Abort(Reason, String),
}

fn ending_for(e: LinkError) -> Ending {
    match e {
        LinkError::Idle(_) | LinkError::Deadline(_) => {
            Ending::Abort(Reason::ReasonNotSpecified, e.to_string())
        }
        LinkError::TooLong { .. } => Ending::Abort(Reason::InvalidPduParameter, e.to_string()),
        LinkError::Closed => Ending::Lost("connection closed by the peer without A-RELEASE".into()),
        LinkError::Truncated | LinkError::Io(_) => Ending::Lost(e.to_string()),
    }
}

/// What a counter a finished message adds to.
#[derive(Clone, Copy)]
enum Count {
    Echo,
    Stored,
    Refused,
    Other,
}

/// A message whose data set is still arriving.
enum InFlight<P> {
    /// A C-STORE: the sink's writer while it is wanted, else the refusal to send.
    Store {
        context_id: u8,
        command: CommandSet,
        req: StoreRequest,
        pending: Option<P>,
        refusal: Option<StoreStatus>,
        received: u64,
    },
    /// A data set nobody wants; `response` is sent once it has ended.
    Drop {
        context_id: u8,
        response: Response,
        count: Count,
    },
}

struct Session<'a, S: StoreSink> {
    cfg: &'a ScpConfig,
    sink: &'a mut S,
    info: AssociationInfo,
    contexts: Vec<Context>,
    limit: u32,
    asm: Assembler,
    inflight: Option<InFlight<S::Pending>>,
    summary: AssociationSummary,
}

/// Serves an accepted association (its A-ASSOCIATE-AC sent) to its end.
pub(super) fn run<T: Transport, S: StoreSink>(
    mut link: Link<T>,
    info: AssociationInfo,
    agreement: Agreement,
    cfg: &ScpConfig,
    sink: &mut S,
) -> AssociationSummary {
    let mut s = Session {
        cfg,
        sink,
        info: info.clone(),
        contexts: agreement.contexts,
        limit: pdata::send_limit(agreement.peer_max_pdu),
        asm: Assembler::new(),
        inflight: None,
        summary: AssociationSummary::ended(Some(info), AssociationEnd::Released),
    };
    let ending = s.serve(&mut link);
    if let Some(InFlight::Store {
        pending: Some(p), ..
    }) = s.inflight.take()
    {
        s.sink.discard(&s.info, p);
    }
    s.summary.end = match ending {
        Ending::Released => {
            link.close();
            s.sink.released(&s.info);
            AssociationEnd::Released
        }
        Ending::Lost(why) => {
            link.close();
            s.sink.aborted(&s.info, &why);
            AssociationEnd::Aborted(why)
        }
        Ending::Abort(reason, why) => {
            link.abort(reason);
            s.sink.aborted(&s.info, &why);
            AssociationEnd::Aborted(why)
        }
    };
    s.summary
}

impl<S: StoreSink> Session<'_, S> {
    fn serve<T: Transport>(&mut self, link: &mut Link<T>) -> Ending {
        let cap = self.cfg.effective_max_pdu();
        let mut body = Vec::new();
        loop {
            let kind = match link.read_pdu(&mut body, cap) {
                Ok(kind) => kind,
                Err(e) => return ending_for(e),
            };
            if kind == pdata::PDATA_TF {
                let pdvs = match pdata::values(&body) {
                    Ok(pdvs) => pdvs,
                    Err(why) => return Ending::Abort(Reason::InvalidPduParameter, why),
                };
                for pdv in pdvs {
                    if let Err(ending) = self.on_pdv(link, pdv) {
                        return ending;
                    }
                }
                continue;
            }
            return match link::decode_pdu(kind, &body) {
                Ok(Pdu::ReleaseRQ) if self.inflight.is_some() || self.asm.mid_command() => {
                    Ending::Abort(
                        Reason::UnexpectedPdu,
                        "A-RELEASE-RQ inside a message".into(),
                    )
                }
                Ok(Pdu::ReleaseRQ) => match link.send_pdu(&Pdu::ReleaseRP) {
                    Ok(()) => Ending::Released,
                    Err(e) => Ending::Lost(format!("cannot send A-RELEASE-RP: {e}")),
                },
                Ok(Pdu::AbortRQ { source }) => {
                    Ending::Lost(format!("peer sent A-ABORT ({source:?})"))
                }
                Ok(other) => Ending::Abort(
                    Reason::UnexpectedPdu,
                    format!(
                        "unexpected {} during the association",
                        link::pdu_name(&other)
                    ),
                ),
                Err(why) => Ending::Abort(Reason::UnrecognizedPdu, why),
            };
        }
    }

    fn on_pdv<T: Transport>(&mut self, link: &mut Link<T>, pdv: Pdv<'_>) -> Result<(), Ending> {
        let violation = |why: String| Ending::Abort(Reason::UnexpectedPduParameter, why);
        if !self.contexts.iter().any(|c| c.id == pdv.context_id) {
            return Err(Ending::Abort(
                Reason::InvalidPduParameter,
                format!(
                    "PDV on presentation context {}, which was not accepted",
                    pdv.context_id
                ),
            ));
        }
        match self.asm.push(pdv).map_err(violation)? {
            None => Ok(()),
            Some(Piece::Command { context_id, set }) => self.on_command(link, context_id, set),
            Some(Piece::Data {
                context_id,
                bytes,
                last,
            }) => self.on_data(link, context_id, bytes, last),
        }
    }

    fn on_command<T: Transport>(
        &mut self,
        link: &mut Link<T>,
        context_id: u8,
        set: CommandSet,
    ) -> Result<(), Ending> {
        let violation = |why: String| Ending::Abort(Reason::UnexpectedPduParameter, why);
        if self.inflight.is_some() {
            return Err(violation(
                "a command before the previous data set ended".into(),
            ));
        }
        let header = Header::read(&set).map_err(violation)?;
        if header.is_response() {
            return Err(violation(format!(
                "response command {:04X}H from the requestor",
                header.command_field
            )));
        }
        if header.message_id.is_none() {
            return Err(violation("request without Message ID".into()));
        }
        let (response, count) = match header.command_field {
            message::C_STORE_RQ => {
                return self.begin_store(link, context_id, set, header.has_data_set);
            }
            message::C_ECHO_RQ => (Response::to(&set, status::SUCCESS, None), Count::Echo),
            other => (
                Response::to(
                    &set,
                    status::UNRECOGNIZED_OPERATION,
                    Some(format!(
                        "command {other:04X}H not served; only C-ECHO and C-STORE"
                    )),
                ),
                Count::Other,
            ),
        };
        if header.has_data_set {
            self.inflight = Some(InFlight::Drop {
                context_id,
                response,
                count,
            });
            return Ok(());
        }
        self.respond(link, context_id, &response, count)
    }

    fn begin_store<T: Transport>(
        &mut self,
        link: &mut Link<T>,
        context_id: u8,
        set: CommandSet,
        has_data_set: bool,
    ) -> Result<(), Ending> {
        let context = self.contexts.iter().find(|c| c.id == context_id);
        let checked = StoreRq::read(&set).and_then(|rq| match context {
            Some(c) if c.abstract_syntax == rq.sop_class_uid => Ok((rq, c.transfer_syntax.clone())),
            Some(c) => Err(format!(
                "Affected SOP Class {} is not the context's {}",
                rq.sop_class_uid, c.abstract_syntax
            )),
            None => Err("no such presentation context".into()),
        });
        let refuse = |why: String, code: u16| Response::to(&set, code, Some(why));
        let (rq, transfer_syntax) = match checked {
            Ok(ok) if has_data_set => ok,
            Ok(_) => {
                let rsp = refuse(
                    "C-STORE-RQ without a data set".into(),
                    status::CANNOT_UNDERSTAND,
                );
                return self.respond(link, context_id, &rsp, Count::Refused);
            }
            Err(why) => {
                let code = if why.starts_with("Affected") {
                    status::SOP_CLASS_NOT_SUPPORTED
                } else {
                    status::CANNOT_UNDERSTAND
                };
                let response = refuse(why, code);
                if !has_data_set {
                    return self.respond(link, context_id, &response, Count::Refused);
                }
                self.inflight = Some(InFlight::Drop {
                    context_id,
                    response,
                    count: Count::Refused,
                });
                return Ok(());
            }
        };
        let req = StoreRequest {
            message_id: rq.message_id,
            sop_class_uid: rq.sop_class_uid,
            sop_instance_uid: rq.sop_instance_uid,
            transfer_syntax,
            priority: rq.priority,
            move_originator: rq.move_originator_ae,
        };
        let (pending, refusal) = match self.sink.begin(&self.info, &req) {
            Ok(p) => (Some(p), None),
            Err(st) => (None, Some(st)),
        };
        self.inflight = Some(InFlight::Store {
            context_id,
            command: set,
            req,
            pending,
            refusal,
            received: 0,
        });
        Ok(())
    }

    fn on_data<T: Transport>(
        &mut self,
        link: &mut Link<T>,
        context_id: u8,
        bytes: &[u8],
        last: bool,
    ) -> Result<(), Ending> {
        let violation = |why: String| Ending::Abort(Reason::UnexpectedPduParameter, why);
        let expected = match &self.inflight {
            None => {
                return Err(violation(
                    "data set fragment without a command announcing one".into(),
                ));
            }
            Some(InFlight::Store { context_id, .. } | InFlight::Drop { context_id, .. }) => {
                *context_id
            }
        };
        if expected != context_id {
            return Err(violation(format!(
                "data set fragment on context {context_id}; its command came on {expected}"
            )));
        }
        if let Some(InFlight::Store {
            pending,
            refusal,
            received,
            ..
        }) = &mut self.inflight
        {
            let n = bytes.len() as u64;
            *received += n;
            self.summary.bytes += n;
            let max = self.cfg.max_instance_bytes;
            let problem = match pending.as_mut() {
                None => None,
                Some(_) if *received > max => Some(format!("data set larger than {max} bytes")),
                Some(w) => w
                    .write_all(bytes)
                    .err()
                    .map(|e| format!("cannot write the data set: {e}")),
            };
            if let Some(why) = problem {
                if let Some(p) = pending.take() {
                    self.sink.discard(&self.info, p);
                }
                *refusal = Some(StoreStatus::out_of_resources(why));
            }
        }
        if !last {
            return Ok(());
        }
        match self.inflight.take() {
            Some(InFlight::Store {
                command,
                req,
                pending,
                refusal,
                ..
            }) => {
                let st = match (pending, refusal) {
                    (_, Some(st)) => st,
                    (Some(p), None) => self.sink.finish(&self.info, &req, p),
                    (None, None) => StoreStatus::out_of_resources("data set dropped"),
                };
                let count = if status::is_stored(st.status) {
                    Count::Stored
                } else {
                    Count::Refused
                };
                let response = Response::to(&command, st.status, st.error_comment);
                self.respond(link, context_id, &response, count)
            }
            Some(InFlight::Drop {
                response, count, ..
            }) => self.respond(link, context_id, &response, count),
            None => Ok(()),
        }
    }

    fn respond<T: Transport>(
        &mut self,
        link: &mut Link<T>,
        context_id: u8,
        response: &Response,
        count: Count,
    ) -> Result<(), Ending> {
        let bytes = response.encode().encode();
        link.send_fragments(context_id, true, &bytes, true, self.limit)
            .map_err(|e| Ending::Lost(format!("cannot send a response: {e}")))?;
        match count {
            Count::Echo => self.summary.echoes += 1,
            Count::Stored => self.summary.stored += 1,
            Count::Refused => self.summary.refused += 1,
            Count::Other => {}
        }
        Ok(())
    }
}
