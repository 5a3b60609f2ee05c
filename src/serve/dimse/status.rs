//! DIMSE status values (PS3.7 Annex C; the Storage Service Class's own in PS3.4 Table B.2-1) and
//! how to read them: success, warning (the instance was stored, with a remark) or failure.

/// Success.
pub const SUCCESS: u16 = 0x0000;
/// Refused: out of resources (Storage, PS3.4 B.2.3; the whole A7xx range).
pub const OUT_OF_RESOURCES: u16 = 0xA700;
/// Error: cannot understand (Storage; the whole Cxxx range).
pub const CANNOT_UNDERSTAND: u16 = 0xC000;
/// Error: data set does not match SOP class (Storage; A9xx).
pub const DATA_SET_DOES_NOT_MATCH: u16 = 0xA900;
/// Refused: SOP class not supported (PS3.7 C.5.12).
pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
/// Unrecognized operation (PS3.7 C.5.11): a request the SCP does not implement.
pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
/// Processing failure (PS3.7 C.5.4).
pub const PROCESSING_FAILURE: u16 = 0x0110;

/// How a status reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0000H.
    Success,
    /// Bxxx, 0001H, 0107H, 0116H: done, with a warning.
    Warning,
    /// FF00H / FF01H: more responses follow (not used by C-ECHO or C-STORE).
    Pending,
    /// Anything else.
    Failure,
}

/// Reads a status value.
pub fn outcome(status: u16) -> Outcome {
    match status {
        SUCCESS => Outcome::Success,
        0x0001 | 0x0107 | 0x0116 | 0xB000..=0xBFFF => Outcome::Warning,
        0xFF00 | 0xFF01 => Outcome::Pending,
        _ => Outcome::Failure,
    }
}

/// Whether an instance sent with this status counts as stored (success or warning).
pub fn is_stored(status: u16) -> bool {
    matches!(outcome(status), Outcome::Success | Outcome::Warning)
}

/// A short name for a status, for messages.
pub fn describe(status: u16) -> &'static str {
    match status {
        SUCCESS => "success",
        0xA700..=0xA7FF => "refused: out of resources",
        0xA900..=0xA9FF => "error: data set does not match SOP class",
        0xC000..=0xCFFF => "error: cannot understand",
        SOP_CLASS_NOT_SUPPORTED => "refused: SOP class not supported",
        UNRECOGNIZED_OPERATION => "unrecognized operation",
        PROCESSING_FAILURE => "processing failure",
        0xB000 => "warning: coercion of data elements",
        0xB006 => "warning: elements discarded",
        0xB007 => "warning: data set does not match SOP class",
        _ => match outcome(status) {
            Outcome::Warning => "warning",
            Outcome::Pending => "pending",
            _ => "failure",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_the_standard_says() {
        assert_eq!(outcome(0x0000), Outcome::Success);
        for w in [0xB000, 0xB007, 0xB006, 0x0001, 0x0107, 0x0116] {
            assert_eq!(outcome(w), Outcome::Warning, "{w:04X}");
            assert!(is_stored(w));
        }
        for f in [
            0xA700, 0xA7FF, 0xA900, 0xC000, 0xCFFF, 0x0122, 0x0211, 0x0110, 0x0117,
        ] {
            assert_eq!(outcome(f), Outcome::Failure, "{f:04X}");
            assert!(!is_stored(f));
        }
        assert_eq!(describe(0xA701), "refused: out of resources");
    }
}
