//! The DICOM node end to end on loopback: dcmtk's `storescu` sends stitch series (three stations
//! each) to `radpipe serve`, which stitches them and sends each result to dcmtk's `storescp`.
//!
//! The route is the example config's: NCC refinement, gain compensation, multi-band blending.
//! Reported: series per minute; per job the time from the last instance received to the result
//! acknowledged by the destination, split into receive (the last instance's association released →
//! series complete and job made), queue (→ the engine starts), compute (→ result written) and send (→ acknowledged), read
//! from the job status files the node writes; and the node's peak resident memory while 16
//! associations send at once. The first series is a warm-up (shader and pipeline compilation) and
//! is not counted.
//!
//! `cargo bench --bench node` (`RADPIPE_BENCH_SERIES=N`, default 12; `RADPIPE_BENCH_SENDERS=K`
//! concurrent storescu, default 4). Needs dcmtk.

#[path = "../tests/it/common/procs.rs"]
pub mod procs;
mod common {
    pub use super::procs;
}
#[path = "../tests/it/serve_node/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{NodeProc, Sink, distinct_series, storescu, wait_until};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn send_all(port: u16, series: Vec<Vec<std::path::PathBuf>>, senders: usize) {
    let queue = std::sync::Arc::new(std::sync::Mutex::new(series));
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                loop {
                    let Some(files) = queue.lock().expect("lock").pop() else {
                        break;
                    };
                    let o = storescu(port, "MODALITY", "STITCH", &files, &[]);
                    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender");
    }
}

fn sent(node: &NodeProc) -> usize {
    node.jobs().iter().filter(|j| j["state"] == "sent").count()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env_usize("RADPIPE_BENCH_SERIES", 12);
    let senders = env_usize("RADPIPE_BENCH_SENDERS", 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let config = harness::config(&format!(
        "max_associations = 32\n[[route]]\nae_title = \"STITCH\"\njob = \"stitch\"\nexpected = 3\n\
         quiet_seconds = 30\nrefine = true\nblend = \"multiband\"\nforward = [\"PACS\"]\n[[destination]]\nname = \"PACS\"\n\
         ae_title = \"PACS\"\naddress = \"127.0.0.1:{}\"\n",
        sink.port
    ));
    let node = NodeProc::start(dir.path(), &config);
    let adapter = node
        .log_text()
        .lines()
        .find_map(|l| {
            l.split(" engine ")
                .nth(1)
                .map(|r| r.split(", spool").next().unwrap_or(r).to_string())
        })
        .unwrap_or_default();
    let mut all = distinct_series(&dir.path().join("copies"), n + 1 + 16);
    let memory_series: Vec<_> = all.split_off(n + 1);
    let warm = all.remove(0);
    send_all(node.port, vec![warm], 1);
    assert!(
        wait_until(Duration::from_secs(300), || sent(&node) == 1),
        "{}",
        node.log_text()
    );
    let warm_ids: Vec<String> = node
        .jobs()
        .iter()
        .map(|j| j["id"].as_str().unwrap_or("").to_string())
        .collect();

    let t0 = Instant::now();
    send_all(node.port, all, senders);
    assert!(
        wait_until(Duration::from_secs(60 * 30), || sent(&node) == n + 1),
        "{}",
        node.log_text()
    );
    let wall = t0.elapsed().as_secs_f64();
    let mut phases: [Vec<f64>; 5] = Default::default();
    for job in node.jobs() {
        if warm_ids.iter().any(|w| job["id"] == w.as_str()) {
            continue;
        }
        let t = |k: &str| job["times"]["unix_ms"][k].as_f64().unwrap_or(f64::NAN);
        let steps = [
            t("queued") - t("last_received"),
            t("started") - t("queued"),
            t("computed") - t("started"),
            t("finished") - t("computed"),
            t("finished") - t("last_received"),
        ];
        for (v, s) in phases.iter_mut().zip(steps) {
            v.push(s);
        }
    }

    // Memory: 16 associations at once, each a series of three stations.
    let pid = node.pid();
    let before = rss_kb(pid, "VmRSS:");
    let port = node.port;
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = sampling.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while flag.load(std::sync::atomic::Ordering::SeqCst) {
            peak = peak.max(rss_kb(pid, "VmRSS:"));
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    });
    let m0 = Instant::now();
    send_all(port, memory_series, 16);
    let receive_16 = m0.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.join().expect("sampler");
    let hwm = rss_kb(pid, "VmHWM:");

    println!("radpipe serve benchmark — adapter: {adapter}");
    println!(
        "  {n} stitch series (3 stations each, 200x440 16-bit CR; refine, gain, multiband) through the node, {senders} concurrent storescu"
    );
    println!(
        "  series per minute: {:.1} ({n} in {wall:.1} s)",
        n as f64 * 60.0 / wall
    );
    println!("  per job, last instance received -> result acknowledged (ms):");
    let names = ["receive", "queue", "compute", "send", "total"];
    for (name, v) in names.iter().zip(phases.iter_mut()) {
        let (p50, p90) = (percentile(v, 0.5), percentile(v, 0.9));
        println!("    {name:<8} median {p50:8.0}   p90 {p90:8.0}");
    }
    println!(
        "  memory: RSS {:.0} MB before, peak {:.0} MB while 16 associations sent at once ({receive_16:.1} s), high-water mark {:.0} MB",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let _ = node.terminate(Duration::from_secs(30));
}
