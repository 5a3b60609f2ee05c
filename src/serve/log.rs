//! The node's log: one line per association and per job state change, on stderr, each starting with
//! an RFC 3339 UTC timestamp, so a department's log collector (journald, a file, a syslog relay) can
//! read it as it is. Lines are written whole under the stderr lock, so threads never interleave.

use std::io::Write;

/// Writes `<timestamp> <message>` as one line.
pub fn line(message: &str) {
    let text = format!("{} {}\n", super::clock::now(), message.replace('\n', " "));
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
