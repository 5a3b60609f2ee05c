//! The optional work queue: NATS JetStream between stateless receivers (`radpipe serve` with
//! `queue = "nats://…"`) and any number of GPU workers (`radpipe worker`), and for `radpipe run
//! --queue`. Without `queue` in the config none of this runs and the node is one process.
//!
//! Why JetStream and not a scheduler of our own: the queue must survive a receiver, a worker or the
//! queue server itself dying, redeliver what was not acknowledged, and be run by a department's IT
//! as a cluster of three. JetStream gives all of that with explicit acks, a work-queue retention
//! policy, a Key-Value store with compare-and-set (for series state shared by receivers) and an
//! Object Store (for the instances themselves).
//!
//! What lives where (names in [`names`]):
//! - instances: Object Store bucket `radpipe-data`, one object per instance;
//! - series state: KV bucket `radpipe-series`, one record per series, changed only by
//!   compare-and-set, so two receivers behind one address group one series ([`series`]);
//! - jobs: stream `RADPIPE_JOBS` (work-queue retention), one message per complete series or batch
//!   file, pulled by the durable consumer `radpipe-workers` with explicit acks ([`worker`]);
//! - job status: KV bucket `radpipe-jobs`, written by the worker before it acks;
//! - dead letters: stream `RADPIPE_DEAD`; batch results: stream `RADPIPE_RESULTS`;
//! - who is alive: KV bucket `radpipe-members` with a short TTL ([`members`]).
//!
//! The node's threads are plain threads; async-nats needs tokio, so a [`Queue`] owns a small
//! runtime and every call here blocks on it — one place where async meets the rest.

pub mod batch;
pub mod members;
pub mod message;
pub mod names;
pub mod receiver;
pub mod series;
pub mod status;
pub mod worker;

use std::time::Duration;

use async_nats::jetstream::{self, kv, object_store, stream};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// A connection to the queue with its buckets and streams, usable from any thread.
pub struct Queue {
    rt: tokio::runtime::Runtime,
    url: String,
    /// JetStream context.
    pub js: jetstream::Context,
    /// Series state.
    pub series: kv::Store,
    /// Job status.
    pub jobs: kv::Store,
    /// Members' heartbeats.
    pub members: kv::Store,
    /// Instances, batch inputs and outputs.
    pub data: object_store::ObjectStore,
}

/// The error of a queue operation, with the server named.
pub fn queue_error(url: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidParams(format!("queue {url}: {what}: {e}"))
}

impl Queue {
    /// Connects to `url` (`nats://host:port`), creating the streams and buckets if this is the first
    /// member. Fails within `timeout` with the server named if it cannot be reached.
    pub fn connect(url: &str, member: &str, timeout: Duration) -> Result<Queue> {
        if !url.starts_with("nats://") && !url.starts_with("tls://") {
            return Err(Error::InvalidParams(format!(
                "queue = {url:?} is not a nats:// (or tls://) address"
            )));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("radpipe-queue")
            .enable_all()
            .build()
            .map_err(|e| queue_error(url, "cannot start its runtime", e))?;
        let err = |what: &str, e: &dyn std::fmt::Display| queue_error(url, what, e);
        let (js, series, jobs, members, data) = rt.block_on(async {
            let client = tokio::time::timeout(
                timeout,
                async_nats::ConnectOptions::new()
                    .name(member)
                    .connection_timeout(timeout)
                    .request_timeout(Some(Duration::from_secs(5)))
                    // Reconnect quickly after a server restart; never give up.
                    .reconnect_delay_callback(|n| Duration::from_millis((100 * n as u64).min(1000)))
                    .connect(url.trim_start_matches("nats://")),
            )
            .await
            .map_err(|_| err("cannot connect", &format!("no answer within {timeout:?}")))?
            .map_err(|e| err("cannot connect", &e))?;
            let js = jetstream::new(client);
            names::ensure_streams(&js)
                .await
                .map_err(|e| err("cannot create its streams", &e))?;
            let series = names::ensure_kv(&js, names::SERIES_BUCKET, names::SERIES_TTL)
                .await
                .map_err(|e| err("cannot open the series bucket", &e))?;
            let jobs = names::ensure_kv(&js, names::JOBS_BUCKET, names::JOBS_TTL)
                .await
                .map_err(|e| err("cannot open the jobs bucket", &e))?;
            let members = names::ensure_kv(&js, names::MEMBERS_BUCKET, names::MEMBER_TTL)
                .await
                .map_err(|e| err("cannot open the members bucket", &e))?;
            let data = names::ensure_objects(&js)
                .await
                .map_err(|e| err("cannot open the object store", &e))?;
            Ok::<_, Error>((js, series, jobs, members, data))
        })?;
        Ok(Queue {
            rt,
            url: url.to_string(),
            js,
            series,
            jobs,
            members,
            data,
        })
    }

    /// The server address as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `f` to completion on the queue's runtime.
    pub fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// An error naming the server.
    pub fn error(&self, what: &str, e: impl std::fmt::Display) -> Error {
        queue_error(&self.url, what, e)
    }

    /// Reads a JSON record of `store` with its revision (`None`: no such key, or deleted).
    pub fn get_json<T: DeserializeOwned>(
        &self,
        store: &kv::Store,
        key: &str,
    ) -> Result<Option<(T, u64)>> {
        let entry = self
            .block(store.entry(key))
            .map_err(|e| self.error(&format!("cannot read {key}"), e))?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let v = serde_json::from_slice(&e.value)
                    .map_err(|x| self.error(&format!("record {key} is not valid"), x))?;
                Ok(Some((v, e.revision)))
            }
            _ => Ok(None),
        }
    }

    /// Changes record `key` of `store` by compare-and-set: `change` gets the current value (or
    /// `None`) and returns the new one, or `None` to leave it. Retried while another member wins the
    /// race (at most 50 times). Returns what was written, if anything.
    pub fn modify<T, F>(&self, store: &kv::Store, key: &str, mut change: F) -> Result<Option<T>>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Option<T>,
    {
        for _ in 0..50 {
            let current = self.get_json::<T>(store, key)?;
            let revision = current.as_ref().map(|(_, r)| *r);
            let Some(next) = change(current.map(|(v, _)| v)) else {
                return Ok(None);
            };
            let bytes =
                serde_json::to_vec(&next).map_err(|e| self.error("cannot encode a record", e))?;
            let written = match revision {
                Some(r) => self
                    .block(store.update(key, bytes.into(), r))
                    .map(|_| ())
                    .map_err(|e| {
                        (
                            e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                            e.to_string(),
                        )
                    }),
                None => self
                    .block(store.create(key, bytes.into()))
                    .map(|_| ())
                    .map_err(|e| {
                        (
                            e.kind() == kv::CreateErrorKind::AlreadyExists,
                            e.to_string(),
                        )
                    }),
            };
            match written {
                Ok(()) => return Ok(Some(next)),
                Err((true, _)) => continue,
                // A timeout or a lost connection: the caller retries the whole change later (every
                // change radpipe makes is idempotent: adding to a set, setting a state).
                Err((false, e)) => {
                    return Err(self.error(&format!("cannot write {key}"), e));
                }
            }
        }
        Err(self.error(
            &format!("cannot write {key}"),
            "50 compare-and-set attempts lost to other members",
        ))
    }

    /// Every record of `store` that parses as `T`, with its key (a record written by a newer
    /// radpipe that does not parse is skipped).
    pub fn all_json<T: DeserializeOwned>(
        &self,
        store: &kv::Store,
        what: &str,
    ) -> Result<Vec<(String, T)>> {
        use futures_util::StreamExt;
        let keys: Vec<String> = self.block(async {
            match store.keys().await {
                Ok(keys) => Ok(keys.filter_map(|k| async { k.ok() }).collect().await),
                Err(e) => Err(self.error(&format!("cannot list the {what}"), e)),
            }
        })?;
        let mut v = Vec::new();
        for k in keys {
            if let Ok(Some((r, _))) = self.get_json::<T>(store, &k) {
                v.push((k, r));
            }
        }
        Ok(v)
    }

    /// Stores `bytes` as object `name` (replacing any).
    pub fn put_object(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut reader = bytes;
        self.block(self.data.put(name, &mut reader))
            .map(|_| ())
            .map_err(|e| self.error(&format!("cannot store object {name}"), e))
    }

    /// Reads object `name` in full.
    pub fn get_object(&self, name: &str) -> Result<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        self.block(async {
            let mut object = self
                .data
                .get(name)
                .await
                .map_err(|e| self.error(&format!("cannot read object {name}"), e))?;
            let mut v = Vec::new();
            object
                .read_to_end(&mut v)
                .await
                .map_err(|e| self.error(&format!("cannot read object {name}"), e))?;
            Ok(v)
        })
    }

    /// Publishes to a stream subject with `id` as the message id (a second publish of the same id
    /// within the stream's duplicate window is stored once), waiting for the store's acknowledgement.
    pub fn publish_dedup(&self, subject: &str, id: &str, payload: Vec<u8>) -> Result<()> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
        self.block(async {
            self.js
                .publish_with_headers(subject.to_string(), headers, payload.into())
                .await
                .map_err(|e| self.error(&format!("cannot publish {id}"), e))?
                .await
                .map_err(|e| self.error(&format!("{id} was not stored"), e))
        })
        .map(|_| ())
    }
}

/// Stream config shared by the streams radpipe creates (file storage: they survive a restart).
fn stream_config(name: &str, subjects: &str, retention: stream::RetentionPolicy) -> stream::Config {
    stream::Config {
        name: name.to_string(),
        subjects: vec![subjects.to_string()],
        retention,
        storage: stream::StorageType::File,
        duplicate_window: names::DUPLICATE_WINDOW,
        ..Default::default()
    }
}
