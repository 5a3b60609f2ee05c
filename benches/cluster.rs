//! The queue (docs/cluster.md) end to end on loopback, with every part a separate process: a real
//! `nats-server -js`, one `radpipe serve` receiver, 1, 2 and 3 `radpipe worker`s, dcmtk's `storescu`
//! as modalities and `storescp` as the PACS.
//!
//! Reported:
//! - the queue's own overhead per job, with no compute: publish (stored, acknowledged) → pull →
//!   double ack, one job at a time (latency) and many in flight (throughput);
//! - stitch series per minute with 1, 2 and 3 workers (the route of docs/examples/node.toml:
//!   refinement, gain compensation, multi-band). All workers share this machine's cores and its one
//!   CPU adapter, so the scaling here says what the queue costs, not what more GPUs buy: on GPU
//!   machines each worker has its own device.
//!
//! `cargo bench --bench cluster` (`RADPIPE_BENCH_SERIES=N`, default 30; `RADPIPE_BENCH_JOBS=M` for
//! the overhead, default 500). Needs dcmtk and nats-server.

#[path = "../tests/it/common/procs.rs"]
pub mod procs;
mod common {
    pub use super::procs;
}
#[path = "../tests/it/serve_node/harness.rs"]
mod harness;
#[path = "../tests/it/serve_cluster/nats.rs"]
mod nats;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer, stream};
use futures_util::StreamExt;
use harness::{NodeProc, Sink, distinct_series, storescu, wait_until};
use nats::Nats;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Publish → pull → ack with nothing in between, on a work-queue stream like the job stream.
fn queue_overhead(url: &str, jobs: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = async_nats::connect(url.trim_start_matches("nats://"))
            .await
            .expect("connect");
        let js = jetstream::new(client);
        let s = js
            .get_or_create_stream(stream::Config {
                name: "BENCH".into(),
                subjects: vec!["bench.>".into()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .expect("stream");
        let c = s
            .get_or_create_consumer(
                "bench",
                consumer::pull::Config {
                    durable_name: Some("bench".into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .await
            .expect("consumer");
        let payload = vec![b'x'; 512];
        // One at a time: what a job waits for the queue, end to end.
        let mut lat = Vec::with_capacity(jobs);
        for i in 0..jobs {
            let t = Instant::now();
            let mut h = async_nats::HeaderMap::new();
            h.insert(
                async_nats::header::NATS_MESSAGE_ID,
                format!("l{i}").as_str(),
            );
            js.publish_with_headers("bench.one", h, payload.clone().into())
                .await
                .expect("publish")
                .await
                .expect("stored");
            let mut batch = c.fetch().max_messages(1).messages().await.expect("fetch");
            let m = batch.next().await.expect("a message").expect("message");
            m.double_ack().await.expect("ack");
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let mean = lat.iter().sum::<f64>() / lat.len() as f64;
        println!(
            "queue overhead, one job at a time ({jobs} jobs): mean {mean:.2} ms, p50 {:.2} ms, \
             p99 {:.2} ms per publish+pull+ack",
            percentile(&mut lat, 0.5),
            percentile(&mut lat, 0.99)
        );
        // Many in flight: publishes pipelined, pulls in batches of 64, acks with confirmation.
        let t = Instant::now();
        let mut acks = Vec::with_capacity(jobs);
        for i in 0..jobs {
            let mut h = async_nats::HeaderMap::new();
            h.insert(
                async_nats::header::NATS_MESSAGE_ID,
                format!("t{i}").as_str(),
            );
            acks.push(
                js.publish_with_headers("bench.many", h, payload.clone().into())
                    .await
                    .expect("publish"),
            );
        }
        for a in acks {
            a.await.expect("stored");
        }
        let mut done = 0;
        while done < jobs {
            let mut batch = c.fetch().max_messages(64).messages().await.expect("fetch");
            while let Some(m) = batch.next().await {
                m.expect("message")
                    .ack_with(AckKind::Ack)
                    .await
                    .expect("ack");
                done += 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "queue throughput, pipelined ({jobs} jobs): {:.0} jobs/s ({:.3} ms per job)",
            jobs as f64 / secs,
            secs * 1e3 / jobs as f64
        );
    });
}

fn config(url: &str, sink: u16) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nspool = \"spool\"\nae_title = \"RADPIPE\"\nmin_free_mb = 1\n\
         queue = \"{url}\"\n[worker]\nack_wait_seconds = 60\n\
         [[route]]\nae_title = \"STITCH\"\njob = \"stitch\"\nexpected = 3\nrefine = true\n\
         compensate = \"gain\"\nblend = \"multiband\"\nforward = [\"PACS\"]\n\
         [[destination]]\nname = \"PACS\"\nae_title = \"PACS\"\naddress = \"127.0.0.1:{sink}\"\n"
    )
}

fn series_per_minute(workers: usize, n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let nats = Nats::start(dir.path());
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let cfg = config(&nats.url(), sink.port);
    let receiver = NodeProc::start(&dir.path().join("r"), &cfg);
    let procs: Vec<NodeProc> = (0..workers)
        .map(|i| {
            NodeProc::start_worker(
                &dir.path().join(format!("w{i}")),
                &cfg,
                &format!("w{i}"),
                &[],
            )
        })
        .collect();
    let series = distinct_series(&dir.path().join("series"), n + workers);
    // Warm-up: one series per worker (shader and pipeline compilation), not counted.
    for s in &series[..workers] {
        storescu(receiver.port, "MOD", "STITCH", s, &[]);
    }
    assert!(
        wait_until(Duration::from_secs(300), || sink.files().len() >= workers),
        "warm-up: {}",
        receiver.log_text()
    );
    let start = Instant::now();
    std::thread::scope(|scope| {
        for chunk in series[workers..].chunks(n.div_ceil(4)) {
            let port = receiver.port;
            scope.spawn(move || {
                for s in chunk {
                    storescu(port, "MOD", "STITCH", s, &[]);
                }
            });
        }
    });
    assert!(
        wait_until(Duration::from_secs(900), || sink.files().len()
            >= n + workers),
        "{}",
        procs
            .iter()
            .map(|p| p.log_text())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let secs = start.elapsed().as_secs_f64();
    // The PACS has the last result a moment before its worker logs the ack.
    std::thread::sleep(Duration::from_secs(1));
    let per_worker: Vec<usize> = procs.iter().map(|p| p.count_log("acked (sent)")).collect();
    let rate = n as f64 / secs * 60.0;
    println!(
        "{workers} worker(s): {n} series in {secs:.1} s = {rate:.0} series/min (jobs per worker, \
         warm-up included: {per_worker:?})"
    );
    rate
}

fn main() {
    let jobs = env_usize("RADPIPE_BENCH_JOBS", 500);
    let n = env_usize("RADPIPE_BENCH_SERIES", 30);
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!("machine: {cores} cores; workers share them and the one CPU adapter");
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let nats = Nats::start(dir.path());
        queue_overhead(&nats.url(), jobs);
    }
    let rates: Vec<f64> = (1..=3).map(|w| series_per_minute(w, n)).collect();
    println!(
        "scaling: {}",
        rates
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{} worker(s) {:.2}x", i + 1, r / rates[0]))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
