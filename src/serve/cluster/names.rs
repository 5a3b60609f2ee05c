//! The queue's names — streams, subjects, buckets, the workers' consumer — and their creation. Every
//! member creates what is missing at start with the same settings, so the first one up sets the
//! queue up and the others find it; nothing has to be prepared by hand on the server.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, object_store, stream};

/// The job stream (work-queue retention: a message is removed when a worker acks it).
pub const JOBS_STREAM: &str = "RADPIPE_JOBS";
/// Subject of series jobs (from receivers).
pub const SERIES_JOB_SUBJECT: &str = "radpipe.jobs.series";
/// Subject prefix of batch jobs (`radpipe run --queue`): `radpipe.jobs.batch.<run id>`.
pub const BATCH_JOB_SUBJECT: &str = "radpipe.jobs.batch";
/// The workers' durable pull consumer on [`JOBS_STREAM`], shared by all workers.
pub const WORKERS_CONSUMER: &str = "radpipe-workers";
/// Dead letters: jobs given up after their attempts, with the reason.
pub const DEAD_STREAM: &str = "RADPIPE_DEAD";
/// Subject of dead letters.
pub const DEAD_SUBJECT: &str = "radpipe.dead";
/// Batch results (one message per batch file done): `radpipe.results.<run id>`.
pub const RESULTS_STREAM: &str = "RADPIPE_RESULTS";
/// Subject prefix of batch results.
pub const RESULTS_SUBJECT: &str = "radpipe.results";
/// Series state (KV).
pub const SERIES_BUCKET: &str = "radpipe-series";
/// Job status (KV).
pub const JOBS_BUCKET: &str = "radpipe-jobs";
/// Members' heartbeats (KV with a TTL).
pub const MEMBERS_BUCKET: &str = "radpipe-members";
/// Instances and batch files (Object Store).
pub const DATA_BUCKET: &str = "radpipe-data";
/// A member not heard from for this long is gone from `radpipe status`.
pub const MEMBER_TTL: Duration = Duration::from_secs(15);
/// Records of series are kept this long (late instances are recognised that long).
pub const SERIES_TTL: Duration = Duration::from_secs(3 * 86_400);
/// Job records are kept this long.
pub const JOBS_TTL: Duration = Duration::from_secs(30 * 86_400);
/// Objects (instances, batch files) are kept at most this long; a sent job's instances are deleted
/// by its worker at once.
pub const DATA_TTL: Duration = Duration::from_secs(7 * 86_400);
/// A job published twice within this window (same job id) is stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// Creates the streams if missing.
pub async fn ensure_streams(js: &jetstream::Context) -> Result<(), String> {
    for config in [
        super::stream_config(
            JOBS_STREAM,
            "radpipe.jobs.>",
            stream::RetentionPolicy::WorkQueue,
        ),
        super::stream_config(
            DEAD_STREAM,
            "radpipe.dead.>",
            stream::RetentionPolicy::Limits,
        ),
        stream::Config {
            max_age: Duration::from_secs(7 * 86_400),
            ..super::stream_config(
                RESULTS_STREAM,
                "radpipe.results.>",
                stream::RetentionPolicy::Limits,
            )
        },
    ] {
        js.get_or_create_stream(config)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The workers' consumer, created if missing. `ack_wait`: a job not acked (nor marked in progress)
/// for this long is redelivered to another worker.
pub async fn workers_consumer(
    js: &jetstream::Context,
    ack_wait: Duration,
) -> Result<consumer::PullConsumer, String> {
    let stream = js
        .get_stream(JOBS_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .get_or_create_consumer(
            WORKERS_CONSUMER,
            consumer::pull::Config {
                durable_name: Some(WORKERS_CONSUMER.to_string()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                // Unlimited here: the worker counts deliveries itself and sends a job past its
                // attempts to the dead-letter stream with the reason, which the server cannot do.
                max_deliver: -1,
                max_ack_pending: 10_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())
}

/// A KV bucket, created if missing (`ttl` zero: records never expire).
///
/// Created as its backing stream (`KV_<bucket>` with the KV conventions: one value per key, rollups,
/// no deletes, direct get, discard new) rather than through async-nats's `create_key_value`, which
/// first reads the account's info and cannot parse nats-server 2.9's (Debian 12's) answer, which
/// lacks the reserved-bytes fields of 2.10.
pub async fn ensure_kv(
    js: &jetstream::Context,
    bucket: &str,
    ttl: Duration,
) -> Result<kv::Store, String> {
    if let Ok(store) = js.get_key_value(bucket).await {
        return Ok(store);
    }
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: ttl,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        num_replicas: 1,
        duplicate_window: if ttl.is_zero() {
            Duration::from_secs(120)
        } else {
            ttl.min(Duration::from_secs(120))
        },
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    js.get_key_value(bucket).await.map_err(|e| e.to_string())
}

/// The Object Store bucket, created if missing.
pub async fn ensure_objects(js: &jetstream::Context) -> Result<object_store::ObjectStore, String> {
    if let Ok(store) = js.get_object_store(DATA_BUCKET).await {
        return Ok(store);
    }
    js.create_object_store(object_store::Config {
        bucket: DATA_BUCKET.to_string(),
        storage: stream::StorageType::File,
        max_age: DATA_TTL,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())
}

/// KV key of a series: `s.` and 32 hex digits of the route, study and series (AE titles may hold
/// spaces, which keys may not).
pub fn series_key(route: &str, study: &str, series: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [route, study, series] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hex: String = h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("s.{hex}")
}

/// Object name of an instance of a series.
pub fn instance_object(series_key: &str, sop_instance_uid: &str) -> String {
    format!("series/{series_key}/{sop_instance_uid}.dcm")
}

#[cfg(test)]
mod tests {
    #[test]
    fn series_keys_are_valid_kv_keys_and_tell_routes_apart() {
        let a = super::series_key("STITCH", "1.2", "1.3");
        assert_eq!(a.len(), 34);
        let hex = a.strip_prefix("s.").expect("the s. prefix");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, super::series_key("SEG", "1.2", "1.3"));
        assert_ne!(
            super::series_key("A", "1.2", "1.3"),
            super::series_key("A", "1.2.1", "3")
        );
    }
}
