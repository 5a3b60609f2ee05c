//! Series assembly: instances arrive over any number of associations, in any order; a series is
//! complete when it holds the route's `expected` count, or `quiet_seconds` after its last instance,
//! or at the latest `max_series_age_seconds` after its first — whichever comes first. The files are
//! the truth (they are in `spool/series/`); this is only the clock and the count kept beside them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::spool::{Instance, SeriesKey};

/// Why a series was declared complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Completion {
    /// It reached the expected count.
    Expected,
    /// Nothing arrived for `quiet_seconds`.
    Quiet,
    /// It reached the maximum age.
    MaxAge,
}

/// The rules of one route.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Instances that complete a series.
    pub expected: Option<u32>,
    /// Quiet time after the last instance.
    pub quiet: Duration,
    /// Maximum age after the first instance.
    pub max_age: Duration,
}

impl Rule {
    /// The rule of the route `called_ae` selects in `node` (`None`: no such route any more).
    pub fn of(node: &super::config::Node, called_ae: &str) -> Option<Rule> {
        node.route(called_ae).map(|r| Rule {
            expected: r.route.expected,
            quiet: Duration::from_secs_f64(r.route.quiet_seconds),
            max_age: Duration::from_secs_f64(node.raw.max_series_age_seconds),
        })
    }
}

#[derive(Debug)]
struct Open {
    instances: BTreeSet<String>,
    first: Instant,
    last: Instant,
    last_wall: std::time::SystemTime,
}

/// Series still being assembled.
#[derive(Debug, Default)]
pub struct Assembler {
    open: BTreeMap<SeriesKey, Open>,
}

/// A series that is complete.
#[derive(Debug, Clone)]
pub struct Complete {
    /// Which series.
    pub key: SeriesKey,
    /// Its instances' SOP Instance UIDs, sorted.
    pub instances: Vec<String>,
    /// Why now.
    pub why: Completion,
    /// Wall-clock time the last instance arrived.
    pub last_received: std::time::SystemTime,
}

impl Assembler {
    /// Records arrivals (a released association's instances, or a restart's recovered ones).
    pub fn add(&mut self, key: SeriesKey, instance: &Instance, now: Instant) {
        let open = self.open.entry(key).or_insert_with(|| Open {
            instances: BTreeSet::new(),
            first: now,
            last: now,
            last_wall: std::time::SystemTime::now(),
        });
        open.instances.insert(instance.sop_instance_uid.clone());
        open.last = now;
        open.last_wall = std::time::SystemTime::now();
    }

    /// Series open now.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// Whether no series is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Takes out every series complete at `now` under its route's rule (`rule_of` gives `None` for a
    /// route no longer configured: such series complete at once, and the job reports it).
    pub fn take_complete(
        &mut self,
        now: Instant,
        rule_of: impl Fn(&str) -> Option<Rule>,
    ) -> Vec<Complete> {
        let done: Vec<(SeriesKey, Completion)> = self
            .open
            .iter()
            .filter_map(|(key, o)| {
                let Some(rule) = rule_of(&key.route) else {
                    return Some((key.clone(), Completion::Quiet));
                };
                if rule
                    .expected
                    .is_some_and(|n| o.instances.len() >= n as usize)
                {
                    Some((key.clone(), Completion::Expected))
                } else if now.duration_since(o.last) >= rule.quiet {
                    Some((key.clone(), Completion::Quiet))
                } else if now.duration_since(o.first) >= rule.max_age {
                    Some((key.clone(), Completion::MaxAge))
                } else {
                    None
                }
            })
            .collect();
        done.into_iter()
            .filter_map(|(key, why)| {
                let o = self.open.remove(&key)?;
                Some(Complete {
                    key,
                    instances: o.instances.into_iter().collect(),
                    why,
                    last_received: o.last_wall,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(uid: &str) -> Instance {
        Instance {
            sop_instance_uid: uid.into(),
            sop_class_uid: "1.2".into(),
            study_instance_uid: "1.3".into(),
            series_instance_uid: "1.4".into(),
        }
    }

    fn key(series: &str) -> SeriesKey {
        SeriesKey {
            route: "STITCH".into(),
            study: "1.3".into(),
            series: series.into(),
        }
    }

    #[test]
    fn complete_at_the_count_after_quiet_time_or_at_the_maximum_age() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let rule = Rule {
            expected: Some(3),
            quiet: s(10),
            max_age: s(60),
        };
        let mut a = Assembler::default();
        a.add(key("1.5"), &inst("1.1"), t0);
        a.add(key("1.5"), &inst("1.2"), t0);
        a.add(key("1.5"), &inst("1.2"), t0); // a resend counts once
        a.add(key("1.6"), &inst("1.7"), t0);
        assert!(a.take_complete(t0 + s(5), |_| Some(rule)).is_empty());
        a.add(key("1.5"), &inst("1.3"), t0 + s(6));
        let done = a.take_complete(t0 + s(6), |_| Some(rule));
        assert_eq!(done.len(), 1);
        assert_eq!(
            (done[0].why, done[0].instances.len()),
            (Completion::Expected, 3)
        );
        let done = a.take_complete(t0 + s(10), |_| Some(rule));
        assert_eq!(done[0].why, Completion::Quiet);
        assert!(a.is_empty());
        // A series that keeps trickling in is cut at its maximum age.
        for i in 0..7 {
            a.add(key("1.8"), &inst(&format!("1.{i}")), t0 + s(9 * i));
        }
        let done = a.take_complete(t0 + s(61), |_| {
            Some(Rule {
                expected: None,
                ..rule
            })
        });
        assert_eq!(done[0].why, Completion::MaxAge);
    }
}
