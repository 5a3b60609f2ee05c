//! The DIMSE layer that dicom-ul 0.10 lacks, shared by the receiving side ([`scp`](super::scp)) and
//! the sending side ([`scu`](super::scu)).
//!
//! dicom-ul gives PDU types with their encoders and decoders, and a client association; it has no
//! notion of a DIMSE message. This module adds, each in a file of its own:
//!
//! - [`command`]: the command set codec (group 0000, always Implicit VR Little Endian, Command Group
//!   Length first — PS3.7 §6.3, Annex E).
//! - [`message`]: the C-ECHO and C-STORE request and response command sets (PS3.7 §9.3.1, §9.3.5)
//!   built from and read into plain values; [`status`] names the statuses (PS3.7 Annex C, PS3.4 B.2.3).
//! - [`pdata`]: P-DATA-TF presentation data values: the message control header (command or data,
//!   last fragment or not), splitting an outgoing message into PDUs no longer than the peer's
//!   maximum, and reading the values of an incoming PDU without copying them.
//! - [`assemble`]: reassembly of incoming fragments into whole command sets (bounded) and data set
//!   fragments that are passed on as they arrive.
//! - [`link`]: reading and writing whole PDUs on a stream with a length cap checked before anything
//!   is allocated, an idle timeout and an association deadline.
//! - [`negotiate`]: the acceptor's answer to an A-ASSOCIATE-RQ: access control on the AE titles and a
//!   result per presentation context.
//! - [`part10`]: where a DICOM file's data set starts and what its file meta group says, read with
//!   every length checked against the file (for the sending side).
//!
//! Nothing here knows about the node's sinks or peers; `scp` and `scu` put it together.

pub mod assemble;
pub mod command;
pub mod link;
pub mod message;
pub mod negotiate;
pub mod part10;
pub mod pdata;
pub mod status;

/// The Verification SOP Class (PS3.4 Annex A), always accepted by the SCP.
pub const VERIFICATION: &str = "1.2.840.10008.1.1";
/// Implicit VR Little Endian, the default transfer syntax (PS3.5 §10.1).
pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian (PS3.5 §A.2).
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
/// Explicit VR Big Endian (retired, PS3.5 §A.3).
pub const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
/// The DICOM application context name (PS3.7 Annex A.2.1).
pub const APPLICATION_CONTEXT: &str = "1.2.840.10008.3.1.1.1";

/// A UID as it travels: DICOM pads UIDs to even length with NUL and some peers pad with spaces.
pub fn trim_uid(uid: &str) -> &str {
    uid.trim_matches(|c: char| c == '\0' || c.is_whitespace())
}

/// Whether a transfer syntax encodes the data set natively uncompressed (so that it can be
/// re-encoded to Explicit VR Little Endian element by element).
pub fn is_native_uncompressed(ts: &str) -> bool {
    matches!(
        trim_uid(ts),
        IMPLICIT_VR_LE | EXPLICIT_VR_LE | EXPLICIT_VR_BE
    )
}
