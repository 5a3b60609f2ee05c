//! The acceptor's answer to an A-ASSOCIATE-RQ (PS3.8 §7.1.1, §9.3.3): A-ASSOCIATE-RJ for a called
//! AE title we do not serve or a caller we do not let in, else an A-ASSOCIATE-AC with a result for
//! every proposed presentation context — accepted with one transfer syntax, or rejected as
//! abstract-syntax-not-supported (3) or transfer-syntaxes-not-supported (4).
//!
//! Why not dicom-ul's `ServerAssociationOptions`: its [`AccessControl`] hook does fit (it sees both AE
//! titles, and [`AeGate`] implements it), but it offers one transfer syntax list for every abstract
//! syntax, so Verification could not accept Implicit VR Little Endian while storage contexts accept
//! only the configured syntaxes; and its `establish` reads the request from the socket itself (a
//! plain `TcpStream`, with no hook for our bounded reads or deadline). So the request is read by
//! [`link`](super::link), decoded by dicom-ul's PDU reader, and answered here.

use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{
    AssociationAC, AssociationRJ, AssociationRJResult, AssociationRJServiceProviderASCEReason,
    AssociationRJServiceProviderPresentationReason, AssociationRJServiceUserReason,
    AssociationRJSource, AssociationRQ, Pdu, PresentationContextResult,
    PresentationContextResultReason, UserIdentity, UserVariableItem,
};

use super::{APPLICATION_CONTEXT, EXPLICIT_VR_LE, IMPLICIT_VR_LE, VERIFICATION, trim_uid};

/// radpipe's Implementation Class UID (PS3.7 D.3.3.2): `2.25.` and 128 bits of a SHA-256 of
/// "radpipe implementation class uid".
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.59606690100124626758931625854543970620";
/// radpipe's Implementation Version Name (at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("RADPIPE_", env!("CARGO_PKG_VERSION"));

/// What the acceptor allows.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// Called AE titles served.
    pub accepted_called: &'a [String],
    /// Calling AE titles let in; empty = any.
    pub allowed_callers: &'a [String],
    /// SOP classes accepted for storage.
    pub storage_classes: &'a [String],
    /// Transfer syntaxes accepted for storage, in order of preference.
    pub transfer_syntaxes: &'a [String],
    /// The maximum PDU length we announce.
    pub max_pdu_length: u32,
}

/// An accepted presentation context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Presentation context ID.
    pub id: u8,
    /// Abstract syntax (SOP class).
    pub abstract_syntax: String,
    /// The one transfer syntax accepted.
    pub transfer_syntax: String,
}

/// An accepted association.
#[derive(Debug, Clone)]
pub struct Agreement {
    /// The requestor's AE title.
    pub calling_ae: String,
    /// The AE title it called.
    pub called_ae: String,
    /// The accepted contexts (the rejected ones are only in `reply`).
    pub contexts: Vec<Context>,
    /// The requestor's maximum PDU length (0 = unlimited).
    pub peer_max_pdu: u32,
    /// The A-ASSOCIATE-AC to send.
    pub reply: Pdu,
}

/// A rejected association.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The requestor's AE title.
    pub calling_ae: String,
    /// The AE title it called.
    pub called_ae: String,
    /// The A-ASSOCIATE-RJ to send.
    pub reply: AssociationRJ,
    /// Why, for the log.
    pub why: String,
}

/// Access control on AE titles, as dicom-ul's trait describes it.
#[derive(Debug, Clone, Copy)]
pub struct AeGate<'a> {
    /// Called AE titles served.
    pub accepted_called: &'a [String],
    /// Calling AE titles let in; empty = any.
    pub allowed_callers: &'a [String],
}

impl AccessControl for AeGate<'_> {
    fn check_access(
        &self,
        _this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        let called = called_ae_title.trim();
        if !self.accepted_called.iter().any(|t| t.trim() == called) {
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        let calling = calling_ae_title.trim();
        if !self.allowed_callers.is_empty()
            && !self.allowed_callers.iter().any(|t| t.trim() == calling)
        {
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// Answers an association request.
pub fn answer(rq: AssociationRQ, policy: &Policy<'_>) -> Result<Agreement, Refusal> {
    let calling_ae = rq.calling_ae_title.trim().to_string();
    let called_ae = rq.called_ae_title.trim().to_string();
    let refuse = |source: AssociationRJSource, why: String| Refusal {
        calling_ae: calling_ae.clone(),
        called_ae: called_ae.clone(),
        reply: AssociationRJ {
            result: AssociationRJResult::Permanent,
            source,
        },
        why,
    };
    // PS3.8 9.3.2: only bit 0 (version 1) is to be tested.
    if rq.protocol_version & 1 == 0 {
        return Err(refuse(
            AssociationRJSource::ServiceProviderASCE(
                AssociationRJServiceProviderASCEReason::ProtocolVersionNotSupported,
            ),
            format!(
                "protocol version {:#06x} not supported",
                rq.protocol_version
            ),
        ));
    }
    if trim_uid(&rq.application_context_name) != APPLICATION_CONTEXT {
        return Err(refuse(
            AssociationRJSource::ServiceUser(
                AssociationRJServiceUserReason::ApplicationContextNameNotSupported,
            ),
            format!(
                "application context {:?} not supported",
                rq.application_context_name
            ),
        ));
    }
    let gate = AeGate {
        accepted_called: policy.accepted_called,
        allowed_callers: policy.allowed_callers,
    };
    if let Err(reason) = gate.check_access("", &calling_ae, &called_ae, None) {
        let why = match reason {
            AssociationRJServiceUserReason::CalledAETitleNotRecognized => {
                format!("called AE title {called_ae:?} is not served here")
            }
            _ => format!("calling AE title {calling_ae:?} is not allowed"),
        };
        return Err(refuse(AssociationRJSource::ServiceUser(reason), why));
    }

    let mut peer_max_pdu = dicom_ul::pdu::DEFAULT_MAX_PDU;
    for item in &rq.user_variables {
        if let UserVariableItem::MaxLength(len) = item {
            peer_max_pdu = *len;
        }
    }
    let mut results = Vec::with_capacity(rq.presentation_contexts.len());
    let mut contexts = Vec::new();
    for pc in &rq.presentation_contexts {
        let abstract_syntax = trim_uid(&pc.abstract_syntax);
        let proposed: Vec<&str> = pc.transfer_syntaxes.iter().map(|t| trim_uid(t)).collect();
        let choice = if abstract_syntax == VERIFICATION {
            let ours = policy.transfer_syntaxes.iter().map(|t| trim_uid(t));
            pick(ours.chain([EXPLICIT_VR_LE, IMPLICIT_VR_LE]), &proposed)
                .ok_or(PresentationContextResultReason::TransferSyntaxesNotSupported)
        } else if policy
            .storage_classes
            .iter()
            .any(|c| trim_uid(c) == abstract_syntax)
        {
            pick(
                policy.transfer_syntaxes.iter().map(|t| trim_uid(t)),
                &proposed,
            )
            .ok_or(PresentationContextResultReason::TransferSyntaxesNotSupported)
        } else {
            Err(PresentationContextResultReason::AbstractSyntaxNotSupported)
        };
        let duplicate = contexts.iter().any(|c: &Context| c.id == pc.id);
        match choice {
            Ok(ts) if !duplicate => {
                results.push(PresentationContextResult {
                    id: pc.id,
                    reason: PresentationContextResultReason::Acceptance,
                    transfer_syntax: ts.to_string(),
                });
                contexts.push(Context {
                    id: pc.id,
                    abstract_syntax: abstract_syntax.to_string(),
                    transfer_syntax: ts.to_string(),
                });
            }
            other => results.push(PresentationContextResult {
                id: pc.id,
                reason: other
                    .err()
                    .unwrap_or(PresentationContextResultReason::NoReason),
                transfer_syntax: IMPLICIT_VR_LE.to_string(),
            }),
        }
    }
    let reply = Pdu::AssociationAC(AssociationAC {
        protocol_version: 1,
        calling_ae_title: rq.calling_ae_title.clone(),
        called_ae_title: rq.called_ae_title.clone(),
        application_context_name: APPLICATION_CONTEXT.to_string(),
        presentation_contexts: results,
        user_variables: vec![
            UserVariableItem::MaxLength(policy.max_pdu_length),
            UserVariableItem::ImplementationClassUID(IMPLEMENTATION_CLASS_UID.to_string()),
            UserVariableItem::ImplementationVersionName(IMPLEMENTATION_VERSION_NAME.to_string()),
        ],
    });
    Ok(Agreement {
        calling_ae,
        called_ae,
        contexts,
        peer_max_pdu,
        reply,
    })
}

/// The first of `ours` (our order of preference) that the peer proposed.
fn pick<'a>(ours: impl Iterator<Item = &'a str>, proposed: &[&str]) -> Option<&'a str> {
    ours.into_iter().find(|t| proposed.contains(t))
}

/// The A-ASSOCIATE-RJ for a node at its association cap: rejected-transient, service provider
/// (presentation), local limit exceeded.
pub fn busy() -> Pdu {
    Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_ul::pdu::PresentationContextProposed;

    const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
    const MR: &str = "1.2.840.10008.5.1.4.1.1.4";
    const JPEG: &str = "1.2.840.10008.1.2.4.50";

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn rq(calling: &str, called: &str, contexts: &[(u8, &str, &[&str])]) -> AssociationRQ {
        AssociationRQ {
            protocol_version: 1,
            calling_ae_title: calling.into(),
            called_ae_title: called.into(),
            application_context_name: APPLICATION_CONTEXT.into(),
            presentation_contexts: contexts
                .iter()
                .map(|(id, a, ts)| PresentationContextProposed {
                    id: *id,
                    abstract_syntax: format!("{a}\0"),
                    transfer_syntaxes: s(ts),
                })
                .collect(),
            user_variables: vec![UserVariableItem::MaxLength(4096)],
        }
    }

    fn with<T>(f: impl FnOnce(&Policy<'_>) -> T) -> T {
        let called = s(&["RADPIPE", "ROUTE1"]);
        let callers = s(&["MODALITY"]);
        let classes = s(&[CT]);
        let syntaxes = s(&[EXPLICIT_VR_LE, JPEG]);
        f(&Policy {
            accepted_called: &called,
            allowed_callers: &callers,
            storage_classes: &classes,
            transfer_syntaxes: &syntaxes,
            max_pdu_length: 16384,
        })
    }

    fn rejection(r: Result<Agreement, Refusal>) -> (AssociationRJSource, String) {
        match r {
            Err(Refusal { reply, why, .. }) => (reply.source, why),
            other => panic!("not rejected: {other:?}"),
        }
    }

    #[test]
    fn unknown_called_title_and_foreign_caller_are_rejected() {
        let (src, why) = with(|p| rejection(answer(rq("MODALITY", "OTHER", &[]), p)));
        assert_eq!(
            src,
            AssociationRJSource::ServiceUser(
                AssociationRJServiceUserReason::CalledAETitleNotRecognized
            )
        );
        assert!(why.contains("OTHER"), "{why}");
        let (src, _) = with(|p| rejection(answer(rq("STRANGER", "ROUTE1", &[]), p)));
        assert_eq!(
            src,
            AssociationRJSource::ServiceUser(
                AssociationRJServiceUserReason::CallingAETitleNotRecognized
            )
        );
        let mut bad = rq("MODALITY", "RADPIPE", &[]);
        bad.application_context_name = "1.2.3".into();
        let (src, _) = with(|p| rejection(answer(bad, p)));
        assert!(matches!(src, AssociationRJSource::ServiceUser(_)));
    }

    #[test]
    fn each_context_gets_its_own_result() {
        let contexts: &[(u8, &str, &[&str])] = &[
            (1, VERIFICATION, &[IMPLICIT_VR_LE]),
            (3, CT, &[IMPLICIT_VR_LE, JPEG, EXPLICIT_VR_LE]),
            (5, CT, &[IMPLICIT_VR_LE]),
            (7, MR, &[EXPLICIT_VR_LE]),
            (9, CT, &[JPEG]),
        ];
        let agreed = with(|p| answer(rq(" MODALITY ", "RADPIPE", contexts), p)).expect("accepted");
        assert_eq!(
            (agreed.calling_ae.as_str(), agreed.peer_max_pdu),
            ("MODALITY", 4096)
        );
        let Pdu::AssociationAC(ac) = &agreed.reply else {
            panic!("not an AC");
        };
        let reasons: Vec<_> = ac
            .presentation_contexts
            .iter()
            .map(|r| r.reason.clone())
            .collect();
        use PresentationContextResultReason as R;
        assert_eq!(
            reasons,
            [
                R::Acceptance,
                R::Acceptance,
                R::TransferSyntaxesNotSupported,
                R::AbstractSyntaxNotSupported,
                R::Acceptance
            ]
        );
        let chosen: Vec<_> = agreed
            .contexts
            .iter()
            .map(|c| (c.id, c.abstract_syntax.as_str(), c.transfer_syntax.as_str()))
            .collect();
        assert_eq!(
            chosen,
            [
                (1, VERIFICATION, IMPLICIT_VR_LE),
                (3, CT, EXPLICIT_VR_LE),
                (9, CT, JPEG)
            ]
        );
        assert!(
            ac.user_variables
                .contains(&UserVariableItem::MaxLength(16384))
        );
    }

    #[test]
    fn any_caller_when_the_list_is_empty() {
        let called = s(&["RADPIPE"]);
        let policy = Policy {
            accepted_called: &called,
            allowed_callers: &[],
            storage_classes: &[],
            transfer_syntaxes: &[],
            max_pdu_length: 16384,
        };
        let agreed = answer(
            rq("ANYONE", "RADPIPE", &[(1, VERIFICATION, &[EXPLICIT_VR_LE])]),
            &policy,
        )
        .expect("accepted");
        assert_eq!(agreed.contexts.len(), 1);
    }
}
