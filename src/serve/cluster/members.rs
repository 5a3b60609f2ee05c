//! Who is alive: each receiver and worker rewrites its record in the `radpipe-members` bucket every
//! [`HEARTBEAT`]; the bucket's TTL drops a member that stopped (or died) within
//! [`super::names::MEMBER_TTL`], so `radpipe status --queue` lists only live ones.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Queue;
use crate::serve::clock;

/// How often a member writes its record.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// A member's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// `receiver` or `worker`.
    pub role: String,
    /// Its name.
    pub name: String,
    /// Process id and host.
    pub pid: u32,
    /// Receivers: the DICOM address; workers: the adapter (name, backend, type).
    pub detail: String,
    /// Jobs finished (workers: acked; receivers: queued).
    pub jobs_done: u64,
    /// Jobs held now (workers).
    pub in_flight: u64,
    /// Jobs given up (workers).
    pub failed: u64,
    /// Instances stored (receivers).
    pub instances: u64,
    /// Started and last seen (RFC 3339).
    pub started: String,
    /// Last heartbeat.
    pub seen: String,
}

impl Member {
    /// A new record for this process.
    pub fn new(role: &str, name: &str, detail: String) -> Member {
        Member {
            role: role.into(),
            name: name.into(),
            pid: std::process::id(),
            detail,
            started: clock::now(),
            ..Member::default()
        }
    }

    /// KV key: `<role>.<name>` with characters keys may not hold replaced.
    pub fn key(&self) -> String {
        let safe: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{}.{safe}", self.role)
    }

    /// Writes the record (best effort: a member that cannot reach the queue says so in its log
    /// through the operations that fail, not here).
    pub fn beat(&mut self, queue: &Queue) {
        self.seen = clock::now();
        if let Ok(bytes) = serde_json::to_vec(self) {
            let _ = queue.block(queue.members.put(self.key(), bytes.into()));
        }
    }

    /// Removes the record (a clean stop).
    pub fn leave(&self, queue: &Queue) {
        let _ = queue.block(queue.members.delete(self.key()));
    }
}

/// Every live member.
pub fn all(queue: &Queue) -> crate::Result<Vec<Member>> {
    let mut v: Vec<Member> = queue
        .all_json(&queue.members, "members")?
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    v.sort_by(|a, b| (&a.role, &a.name).cmp(&(&b.role, &b.name)));
    Ok(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn member_keys_are_valid_kv_keys() {
        let m = super::Member::new("worker", "gpu 0/a.b", String::new());
        assert_eq!(m.key(), "worker.gpu_0_a_b");
    }
}
