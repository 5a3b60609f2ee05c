//! Jobs: a complete series becomes a job — its folder is renamed into `work/<job>/in/` in one step and
//! a status file written — then the engine runs the route's workflow on it ([`run`]), writing every
//! result into `work/<job>/out/` before anything is sent.
//!
//! The job id is derived from the route, the series and its instances (not from a clock or a
//! counter), so a restart that finds the same series again makes the same job, and the results'
//! UIDs — derived from the inputs by the derived-DICOM writer — are the same too: a resend is a
//! duplicate a PACS recognises, never a second image.

pub mod run;
pub mod segment;
pub mod status;
pub mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::config::JobKind;
use super::series::Complete;
use super::spool::{SeriesKey, Spool, sync_dir};
pub use status::{Delivery, JobStatus, State, StatusFiles, Times};

/// `route \0 study \0 series \0 uid \0 uid …` → 16 hex digits.
pub fn job_id(key: &SeriesKey, instances: &[String]) -> String {
    let mut h = Sha256::new();
    for part in [&key.route, &key.study, &key.series] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut sorted: Vec<&String> = instances.iter().collect();
    sorted.sort();
    for uid in sorted {
        h.update(uid.as_bytes());
        h.update([0]);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates the job for a complete series: renames its folder into `work/<id>/in/` and writes the
/// `received` status. `destinations` are the route's destination names.
pub fn create(
    spool: &Spool,
    files: &StatusFiles,
    done: &Complete,
    job: JobKind,
    destinations: &[String],
) -> crate::Result<JobStatus> {
    let id = job_id(&done.key, &done.instances);
    let work = spool.work_dir(&id);
    let inputs = work.join("in");
    let from = spool.series_dir(&done.key);
    if files.path(&id).is_file() {
        // The same series with the same instances was made into a job before (a resend after the
        // job ran): its status stands, and the resent copies are dropped.
        let _ = std::fs::remove_dir_all(&from);
        return files.read(&id);
    }
    std::fs::create_dir_all(&work).map_err(|e| crate::Error::io(&work, e))?;
    if !inputs.exists() {
        std::fs::rename(&from, &inputs).map_err(|e| crate::Error::io(&from, e))?;
    }
    sync_dir(&work).map_err(|e| crate::Error::io(&work, e))?;
    let mut status = JobStatus {
        id,
        state: State::Received,
        route: done.key.route.clone(),
        job,
        study_instance_uid: done.key.study.clone(),
        series_instance_uid: done.key.series.clone(),
        instances: done.instances.clone(),
        completion: serde_json::to_value(done.why)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        outputs: Vec::new(),
        output_files: Vec::new(),
        destinations: destinations
            .iter()
            .map(|d| {
                (
                    d.clone(),
                    Delivery {
                        state: "pending".into(),
                        ..Delivery::default()
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
        error: None,
        late_instances: Vec::new(),
        attempts: 0,
        engine: None,
        result: None,
        times: Times::default(),
    };
    status.stamp_at("last_received", done.last_received);
    status.stamp("queued");
    files.write(&status)?;
    Ok(status)
}

/// Moves a late instance (its series already has a job) into `work/<job>/late/` and records it in
/// the job's status. Returns the updated status.
pub fn add_late(
    spool: &Spool,
    files: &StatusFiles,
    job: &str,
    key: &SeriesKey,
    sop_instance_uid: &str,
) -> crate::Result<JobStatus> {
    let late = spool.work_dir(job).join("late");
    std::fs::create_dir_all(&late).map_err(|e| crate::Error::io(&late, e))?;
    let from: PathBuf = spool
        .series_dir(key)
        .join(format!("{sop_instance_uid}.dcm"));
    let to = late.join(format!("{sop_instance_uid}.dcm"));
    std::fs::rename(&from, &to).map_err(|e| crate::Error::io(&from, e))?;
    let _ = std::fs::remove_dir(spool.series_dir(key));
    files.update(job, |status| {
        if !status.late_instances.iter().any(|u| u == sop_instance_uid) {
            status.late_instances.push(sop_instance_uid.to_string());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_depend_on_the_series_and_its_instances_not_their_order() {
        let key = SeriesKey {
            route: "STITCH".into(),
            study: "1.2".into(),
            series: "1.3".into(),
        };
        let a = job_id(&key, &["1.5".into(), "1.4".into()]);
        assert_eq!(a, job_id(&key, &["1.4".into(), "1.5".into()]));
        assert_eq!(a.len(), 16);
        assert_ne!(a, job_id(&key, &["1.4".into()]));
        let other = SeriesKey {
            route: "SEG".into(),
            ..key
        };
        assert_ne!(a, job_id(&other, &["1.4".into(), "1.5".into()]));
    }
}
