//! Series state shared by every receiver: one KV record per series, changed only by compare-and-set,
//! so instances of one series sent to two receivers (behind one address, or by two modalities) are
//! one series, and exactly one receiver turns it into a job.
//!
//! A record is `open` while instances come in, `queued` once a receiver won the change that froze
//! its instance list into a job (the job id derived from that list, as in the single-process node),
//! `done` once a worker finished it. An instance that arrives for a `queued` or `done` series is
//! recorded as late — in the log and in the record — and never merged.
//!
//! Completion uses the route's rules (`expected`, `quiet_seconds`, the maximum age) on the wall
//! clock of the receivers (milliseconds since the epoch in the record): receivers on several
//! machines need synchronised clocks (NTP), as any PACS does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Queue;
use crate::serve::series::{Completion, Rule};
use crate::serve::spool::SeriesKey;
use crate::{Result, serve::clock};

/// Where a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeriesState {
    /// Instances are coming in.
    Open,
    /// A job was made of it.
    Queued,
    /// Its job finished (sent or failed).
    Done,
}

/// The KV record of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRecord {
    /// Route (called AE title).
    pub route: String,
    /// Study Instance UID.
    pub study: String,
    /// Series Instance UID.
    pub series: String,
    /// SOP Instance UID → object name.
    pub instances: BTreeMap<String, String>,
    /// First and last arrival (ms since the epoch).
    pub first_ms: u64,
    /// Last arrival.
    pub last_ms: u64,
    /// Where it is.
    pub state: SeriesState,
    /// The job made of it.
    pub job: Option<String>,
    /// Why it was complete.
    pub why: Option<Completion>,
    /// When it was queued (ms since the epoch).
    pub queued_ms: Option<u64>,
    /// Instances that came after it was queued.
    pub late: Vec<String>,
    /// Receivers that stored its instances.
    pub receivers: Vec<String>,
}

impl SeriesRecord {
    /// A new open record for `key`, its first instance arriving at `now_ms`.
    pub fn new(key: &SeriesKey, now_ms: u64) -> SeriesRecord {
        SeriesRecord {
            route: key.route.clone(),
            study: key.study.clone(),
            series: key.series.clone(),
            instances: BTreeMap::new(),
            first_ms: now_ms,
            last_ms: now_ms,
            state: SeriesState::Open,
            job: None,
            why: None,
            queued_ms: None,
            late: Vec::new(),
            receivers: Vec::new(),
        }
    }

    /// The local key.
    pub fn key(&self) -> SeriesKey {
        SeriesKey {
            route: self.route.clone(),
            study: self.study.clone(),
            series: self.series.clone(),
        }
    }

    /// Whether it is complete at `now_ms` under `rule`, and why.
    pub fn complete(&self, rule: Option<Rule>, now_ms: u64) -> Option<Completion> {
        if self.state != SeriesState::Open {
            return None;
        }
        let Some(rule) = rule else {
            return Some(Completion::Quiet);
        };
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        if rule
            .expected
            .is_some_and(|n| self.instances.len() >= n as usize)
        {
            Some(Completion::Expected)
        } else if now_ms.saturating_sub(self.last_ms) >= ms(rule.quiet) {
            Some(Completion::Quiet)
        } else if now_ms.saturating_sub(self.first_ms) >= ms(rule.max_age) {
            Some(Completion::MaxAge)
        } else {
            None
        }
    }
}

/// What adding an instance found.
#[derive(Debug, Clone, PartialEq)]
pub enum Added {
    /// Part of an open series (new, or a resend).
    Open(SeriesRecord),
    /// The series already became job `.0`: the instance is late.
    Late(String),
}

/// Adds instance `sop` (stored as `object`) to its series' record.
pub fn add_instance(
    queue: &Queue,
    key: &SeriesKey,
    sop: &str,
    object: &str,
    receiver: &str,
) -> Result<Added> {
    let kv_key = super::names::series_key(&key.route, &key.study, &key.series);
    let now = clock::unix_ms(std::time::SystemTime::now());
    let mut late = None;
    let written = queue.modify::<SeriesRecord, _>(&queue.series, &kv_key, |current| {
        late = None;
        let mut r = current.unwrap_or_else(|| SeriesRecord::new(key, now));
        if r.state != SeriesState::Open {
            if r.instances.contains_key(sop) || r.late.iter().any(|u| u == sop) {
                // A resend of an instance the job already has: nothing to record.
                late = Some((r.job.clone().unwrap_or_default(), false));
                return None;
            }
            late = Some((r.job.clone().unwrap_or_default(), true));
            r.late.push(sop.to_string());
            return Some(r);
        }
        r.instances.insert(sop.to_string(), object.to_string());
        r.last_ms = now.max(r.last_ms);
        if !r.receivers.iter().any(|x| x == receiver) {
            r.receivers.push(receiver.to_string());
        }
        Some(r)
    })?;
    match (late, written) {
        (Some((job, _)), _) => Ok(Added::Late(job)),
        (None, Some(r)) => Ok(Added::Open(r)),
        (None, None) => Err(queue.error("series record", "vanished while being written")),
    }
}

/// Freezes series `kv_key` into job `id` if it is still open and complete; returns the record as
/// queued when this call won (another receiver may have queued it first: then `None`).
pub fn try_queue(
    queue: &Queue,
    kv_key: &str,
    rule_of: &dyn Fn(&str) -> Option<Rule>,
) -> Result<Option<SeriesRecord>> {
    let now = clock::unix_ms(std::time::SystemTime::now());
    queue.modify::<SeriesRecord, _>(&queue.series, kv_key, |current| {
        let mut r = current?;
        let why = r.complete(rule_of(&r.route), now)?;
        let uids: Vec<String> = r.instances.keys().cloned().collect();
        r.job = Some(crate::serve::jobs::job_id(&r.key(), &uids));
        r.state = SeriesState::Queued;
        r.why = Some(why);
        r.queued_ms = Some(now);
        Some(r)
    })
}

/// Marks series `kv_key` done (its job finished).
pub fn mark_done(queue: &Queue, kv_key: &str) -> Result<()> {
    queue
        .modify::<SeriesRecord, _>(&queue.series, kv_key, |current| {
            let mut r = current?;
            (r.state != SeriesState::Done).then(|| {
                r.state = SeriesState::Done;
                r
            })
        })
        .map(|_| ())
}

/// Every series record (key, record); unreadable ones are skipped.
pub fn all(queue: &Queue) -> Result<Vec<(String, SeriesRecord)>> {
    queue.all_json(&queue.series, "series")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn completion_follows_the_route_rules_on_the_records_clock() {
        let key = SeriesKey {
            route: "STITCH".into(),
            study: "1.2".into(),
            series: "1.3".into(),
        };
        let mut r = SeriesRecord::new(&key, 1_000);
        r.last_ms = 5_000;
        let rule = Rule {
            expected: Some(2),
            quiet: Duration::from_secs(10),
            max_age: Duration::from_secs(60),
        };
        r.instances.insert("1.4".into(), "o".into());
        assert_eq!(r.complete(Some(rule), 6_000), None);
        assert_eq!(r.complete(Some(rule), 15_000), Some(Completion::Quiet));
        r.last_ms = 60_000;
        assert_eq!(r.complete(Some(rule), 61_000), Some(Completion::MaxAge));
        r.instances.insert("1.5".into(), "o".into());
        assert_eq!(r.complete(Some(rule), 6_000), Some(Completion::Expected));
        r.state = SeriesState::Queued;
        assert_eq!(r.complete(Some(rule), 100_000), None);
    }
}
