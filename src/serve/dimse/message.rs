//! The DIMSE-C messages the node speaks, as plain values to and from [`CommandSet`]s: C-ECHO-RQ/RSP
//! (PS3.7 §9.3.5, Tables 9.3-12/13) and C-STORE-RQ/RSP (§9.3.1, Tables 9.3-1/2), plus the generic
//! response the SCP sends to any other request (status 0211H, unrecognized operation).
//!
//! Every response is built from the request it answers, so Message ID Being Responded To is always
//! the request's Message ID (dicom-ul's example storescp answers C-ECHO with a stale one).

use super::command::{CommandSet, tag};

/// Command Field of a C-STORE-RQ.
pub const C_STORE_RQ: u16 = 0x0001;
/// Command Field of a C-STORE-RSP.
pub const C_STORE_RSP: u16 = 0x8001;
/// Command Field of a C-ECHO-RQ.
pub const C_ECHO_RQ: u16 = 0x0030;
/// Command Field of a C-ECHO-RSP.
pub const C_ECHO_RSP: u16 = 0x8030;
/// Command Data Set Type: no data set follows. Any other value means one does.
pub const NO_DATA_SET: u16 = 0x0101;
/// Command Data Set Type this implementation writes when a data set follows.
pub const DATA_SET_FOLLOWS: u16 = 0x0000;
/// Bit set in the Command Field of every response.
pub const RESPONSE_BIT: u16 = 0x8000;
/// Longest Error Comment (LO, 64 characters).
pub const ERROR_COMMENT_MAX: usize = 64;

/// What every command carries, read leniently: the fields a receiver dispatches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Command Field (0000,0100).
    pub command_field: u16,
    /// Message ID (0000,0110), requests only.
    pub message_id: Option<u16>,
    /// Message ID Being Responded To (0000,0120), responses only.
    pub responding_to: Option<u16>,
    /// Whether a data set follows the command (Command Data Set Type ≠ 0101H).
    pub has_data_set: bool,
}

impl Header {
    /// Reads the header fields; a command without Command Field or Command Data Set Type is not a
    /// DIMSE message.
    pub fn read(set: &CommandSet) -> Result<Header, String> {
        let command_field = set
            .u16(tag::COMMAND_FIELD)
            .ok_or("command set without Command Field (0000,0100)")?;
        let data_set_type = set
            .u16(tag::COMMAND_DATA_SET_TYPE)
            .ok_or("command set without Command Data Set Type (0000,0800)")?;
        Ok(Header {
            command_field,
            message_id: set.u16(tag::MESSAGE_ID),
            responding_to: set.u16(tag::MESSAGE_ID_BEING_RESPONDED_TO),
            has_data_set: data_set_type != NO_DATA_SET,
        })
    }

    /// Whether this is a response (high bit of the Command Field).
    pub fn is_response(&self) -> bool {
        self.command_field & RESPONSE_BIT != 0
    }
}

/// A C-ECHO-RQ.
pub fn echo_rq(message_id: u16) -> CommandSet {
    let mut set = CommandSet::new();
    set.set_uid(tag::AFFECTED_SOP_CLASS_UID, super::VERIFICATION);
    set.set_u16(tag::COMMAND_FIELD, C_ECHO_RQ);
    set.set_u16(tag::MESSAGE_ID, message_id);
    set.set_u16(tag::COMMAND_DATA_SET_TYPE, NO_DATA_SET);
    set
}

/// A C-STORE-RQ's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRq {
    /// Message ID.
    pub message_id: u16,
    /// Affected SOP Class UID.
    pub sop_class_uid: String,
    /// Affected SOP Instance UID.
    pub sop_instance_uid: String,
    /// Priority: 0 medium, 1 high, 2 low.
    pub priority: u16,
    /// Move Originator AE Title, when the store is a C-MOVE sub-operation.
    pub move_originator_ae: Option<String>,
    /// Move Originator Message ID.
    pub move_originator_message_id: Option<u16>,
}

impl StoreRq {
    /// The command set (a data set follows it).
    pub fn encode(&self) -> CommandSet {
        let mut set = CommandSet::new();
        set.set_uid(tag::AFFECTED_SOP_CLASS_UID, &self.sop_class_uid);
        set.set_u16(tag::COMMAND_FIELD, C_STORE_RQ);
        set.set_u16(tag::MESSAGE_ID, self.message_id);
        set.set_u16(tag::PRIORITY, self.priority);
        set.set_u16(tag::COMMAND_DATA_SET_TYPE, DATA_SET_FOLLOWS);
        set.set_uid(tag::AFFECTED_SOP_INSTANCE_UID, &self.sop_instance_uid);
        if let Some(ae) = &self.move_originator_ae {
            set.set_text(tag::MOVE_ORIGINATOR_AE, ae, 16);
        }
        if let Some(id) = self.move_originator_message_id {
            set.set_u16(tag::MOVE_ORIGINATOR_MESSAGE_ID, id);
        }
        set
    }

    /// Reads a C-STORE-RQ; missing required fields are named.
    pub fn read(set: &CommandSet) -> Result<StoreRq, String> {
        let need = |t: u16, name: &str| {
            set.text(t)
                .filter(|s| !s.is_empty())
                .ok_or(format!("C-STORE-RQ without {name}"))
        };
        Ok(StoreRq {
            message_id: set
                .u16(tag::MESSAGE_ID)
                .ok_or("C-STORE-RQ without Message ID")?,
            sop_class_uid: need(tag::AFFECTED_SOP_CLASS_UID, "Affected SOP Class UID")?,
            sop_instance_uid: need(tag::AFFECTED_SOP_INSTANCE_UID, "Affected SOP Instance UID")?,
            priority: set.u16(tag::PRIORITY).unwrap_or(0),
            move_originator_ae: set.text(tag::MOVE_ORIGINATOR_AE).filter(|s| !s.is_empty()),
            move_originator_message_id: set.u16(tag::MOVE_ORIGINATOR_MESSAGE_ID),
        })
    }
}

/// A response to a request: C-ECHO-RSP, C-STORE-RSP, or another request's response with 0211H.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The response's Command Field (the request's with the high bit set).
    pub command_field: u16,
    /// Message ID Being Responded To: the request's Message ID.
    pub responding_to: u16,
    /// Affected SOP Class UID, echoed from the request when it had one.
    pub sop_class_uid: Option<String>,
    /// Affected SOP Instance UID (C-STORE).
    pub sop_instance_uid: Option<String>,
    /// Status.
    pub status: u16,
    /// Error Comment (at most 64 characters are sent).
    pub error_comment: Option<String>,
}

impl Response {
    /// The response to the request `rq` (its Command Field, Message ID and affected UIDs).
    pub fn to(rq: &CommandSet, status: u16, error_comment: Option<String>) -> Response {
        let non_empty = |t: u16| rq.text(t).filter(|s| !s.is_empty());
        Response {
            command_field: rq.u16(tag::COMMAND_FIELD).unwrap_or(0) | RESPONSE_BIT,
            responding_to: rq.u16(tag::MESSAGE_ID).unwrap_or(0),
            sop_class_uid: non_empty(tag::AFFECTED_SOP_CLASS_UID),
            sop_instance_uid: non_empty(tag::AFFECTED_SOP_INSTANCE_UID),
            status,
            error_comment,
        }
    }

    /// The command set (no data set follows).
    pub fn encode(&self) -> CommandSet {
        let mut set = CommandSet::new();
        if let Some(uid) = &self.sop_class_uid {
            set.set_uid(tag::AFFECTED_SOP_CLASS_UID, uid);
        }
        set.set_u16(tag::COMMAND_FIELD, self.command_field);
        set.set_u16(tag::MESSAGE_ID_BEING_RESPONDED_TO, self.responding_to);
        set.set_u16(tag::COMMAND_DATA_SET_TYPE, NO_DATA_SET);
        set.set_u16(tag::STATUS, self.status);
        if let Some(comment) = &self.error_comment {
            set.set_text(tag::ERROR_COMMENT, comment, ERROR_COMMENT_MAX);
        }
        if let Some(uid) = &self.sop_instance_uid {
            set.set_uid(tag::AFFECTED_SOP_INSTANCE_UID, uid);
        }
        set
    }

    /// Reads a response; Status and Message ID Being Responded To are required.
    pub fn read(set: &CommandSet) -> Result<Response, String> {
        let header = Header::read(set)?;
        if !header.is_response() {
            return Err(format!(
                "expected a response, got request command {:04X}H",
                header.command_field
            ));
        }
        Ok(Response {
            command_field: header.command_field,
            responding_to: header
                .responding_to
                .ok_or("response without Message ID Being Responded To")?,
            sop_class_uid: set.text(tag::AFFECTED_SOP_CLASS_UID),
            sop_instance_uid: set.text(tag::AFFECTED_SOP_INSTANCE_UID),
            status: set.u16(tag::STATUS).ok_or("response without Status")?,
            error_comment: set.text(tag::ERROR_COMMENT).filter(|s| !s.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_request_round_trips() {
        let rq = StoreRq {
            message_id: 9,
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sop_instance_uid: "1.2.3.4.5".into(),
            priority: 2,
            move_originator_ae: Some("MOVER".into()),
            move_originator_message_id: Some(3),
        };
        let set = CommandSet::decode(&rq.encode().encode()).expect("decodes");
        assert_eq!(StoreRq::read(&set), Ok(rq));
        let header = Header::read(&set).expect("header");
        assert!(header.has_data_set && !header.is_response());
    }

    #[test]
    fn a_response_answers_the_request_s_message_id() {
        let rq = echo_rq(41);
        let rsp = Response::to(&rq, 0, None);
        assert_eq!(rsp.command_field, C_ECHO_RSP);
        assert_eq!(rsp.responding_to, 41);
        assert_eq!(
            rsp.sop_class_uid.as_deref(),
            Some(crate::serve::dimse::VERIFICATION)
        );
        let back = CommandSet::decode(&rsp.encode().encode()).expect("decodes");
        assert_eq!(Response::read(&back), Ok(rsp));
        assert!(!Header::read(&back).expect("header").has_data_set);
    }

    #[test]
    fn a_store_response_carries_the_comment_cut_to_64() {
        let rq = StoreRq {
            message_id: 2,
            sop_class_uid: "1.2".into(),
            sop_instance_uid: "1.3".into(),
            priority: 0,
            move_originator_ae: None,
            move_originator_message_id: None,
        }
        .encode();
        let rsp = Response::to(&rq, 0xA700, Some("x".repeat(80)));
        let back = Response::read(&CommandSet::decode(&rsp.encode().encode()).expect("decodes"))
            .expect("reads");
        assert_eq!(back.command_field, C_STORE_RSP);
        assert_eq!(back.sop_instance_uid.as_deref(), Some("1.3"));
        assert_eq!(back.error_comment, Some("x".repeat(64)));
    }
}
