//! Reassembly of incoming PDVs (PS3.8 Annex E, PS3.7 §8.1): command fragments are collected until
//! the last one and decoded as a whole (commands are small; more than [`COMMAND_MAX`] bytes is a
//! protocol error, not a reason to grow); data set fragments are handed on as they arrive, so a data
//! set of any size passes through a buffer of one PDU.
//!
//! The order rules checked here: a command's fragments all come on one presentation context and are
//! not interleaved with data set fragments. Whether a data set was announced, and on which context,
//! is for the caller, which knows the command.

use super::command::CommandSet;
use super::pdata::Pdv;

/// The largest command set accepted (a C-STORE-RQ is some 200 bytes).
pub const COMMAND_MAX: usize = 64 * 1024;

/// A piece of a DIMSE message.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A whole command set.
    Command {
        /// Its presentation context.
        context_id: u8,
        /// The decoded command.
        set: CommandSet,
    },
    /// One fragment of a data set.
    Data {
        /// Its presentation context.
        context_id: u8,
        /// The fragment's bytes.
        bytes: &'a [u8],
        /// Whether this is the data set's last fragment.
        last: bool,
    },
}

/// Collects command fragments between PDVs (and PDUs).
#[derive(Debug, Default)]
pub struct Assembler {
    command: Vec<u8>,
    command_context: Option<u8>,
}

impl Assembler {
    /// A fresh assembler.
    pub fn new() -> Self {
        Assembler::default()
    }

    /// Whether a command has begun but not ended.
    pub fn mid_command(&self) -> bool {
        self.command_context.is_some()
    }

    /// Takes one PDV: returns a whole command when its last fragment arrives, every data fragment
    /// at once, nothing for a non-last command fragment. Errors describe the protocol violation.
    pub fn push<'a>(&mut self, pdv: Pdv<'a>) -> Result<Option<Piece<'a>>, String> {
        if !pdv.is_command {
            if let Some(open) = self.command_context {
                return Err(format!(
                    "data set fragment on context {} inside an unfinished command on context {open}",
                    pdv.context_id
                ));
            }
            return Ok(Some(Piece::Data {
                context_id: pdv.context_id,
                bytes: pdv.data,
                last: pdv.is_last,
            }));
        }
        match self.command_context {
            Some(open) if open != pdv.context_id => {
                return Err(format!(
                    "command fragment on context {} inside a command on context {open}",
                    pdv.context_id
                ));
            }
            _ => self.command_context = Some(pdv.context_id),
        }
        if self.command.len() + pdv.data.len() > COMMAND_MAX {
            return Err(format!("command set longer than {COMMAND_MAX} bytes"));
        }
        self.command.extend_from_slice(pdv.data);
        if !pdv.is_last {
            return Ok(None);
        }
        self.command_context = None;
        let bytes = std::mem::take(&mut self.command);
        let set = CommandSet::decode(&bytes).map_err(|e| e.to_string())?;
        Ok(Some(Piece::Command {
            context_id: pdv.context_id,
            set,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::message;
    use super::*;

    fn pdv(context_id: u8, is_command: bool, is_last: bool, data: &[u8]) -> Pdv<'_> {
        Pdv {
            context_id,
            is_command,
            is_last,
            data,
        }
    }

    #[test]
    fn a_command_in_three_fragments_then_data() {
        let bytes = message::echo_rq(5).encode();
        let (a, rest) = bytes.split_at(10);
        let (b, c) = rest.split_at(20);
        let mut asm = Assembler::new();
        assert_eq!(asm.push(pdv(1, true, false, a)), Ok(None));
        assert!(asm.mid_command());
        assert_eq!(asm.push(pdv(1, true, false, b)), Ok(None));
        let Ok(Some(Piece::Command { context_id: 1, set })) = asm.push(pdv(1, true, true, c))
        else {
            panic!("no command");
        };
        assert_eq!(set.encode(), bytes);
        assert!(!asm.mid_command());
        assert_eq!(
            asm.push(pdv(1, false, true, b"xy")),
            Ok(Some(Piece::Data {
                context_id: 1,
                bytes: b"xy",
                last: true
            }))
        );
    }

    #[test]
    fn refuses_interleaving_and_oversize() {
        let mut asm = Assembler::new();
        assert_eq!(asm.push(pdv(1, true, false, &[0; 8])), Ok(None));
        assert!(asm.push(pdv(1, false, false, b"x")).is_err());
        assert!(asm.push(pdv(3, true, true, &[])).is_err());
        let mut asm = Assembler::new();
        let big = vec![0u8; COMMAND_MAX];
        assert_eq!(asm.push(pdv(1, true, false, &big)), Ok(None));
        assert!(asm.push(pdv(1, true, true, &[0])).is_err());
        let mut asm = Assembler::new();
        assert!(asm.push(pdv(1, true, true, &[1, 2, 3])).is_err());
    }
}
