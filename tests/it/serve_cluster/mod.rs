//! The queue (docs/cluster.md) with every part a separate process: a real `nats-server -js`,
//! `radpipe serve` receivers, `radpipe worker`s on the lavapipe adapter, dcmtk's `storescu` as the
//! modalities and `storescp` as the PACS. Each test has its own folder, ports and server; every
//! process is killed and reaped when its guard drops; every wait is bounded.

mod nats;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use nats::Nats;

use crate::common::cli::{radpipe, s};
use crate::serve_node::harness::{
    NodeProc, Sink, distinct_series, free_port, sop_instance_uid, stations, storescu, wait_until,
};

const LIMIT: Duration = Duration::from_secs(180);

/// A node config with a queue: loopback, free port, a small disk floor, short ack wait.
fn config(queue: &str, routes: &str, worker: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\nspool = \"spool\"\nae_title = \"RADPIPE\"\nmin_free_mb = 1\n\
         idle_timeout_seconds = 5\nqueue = \"{queue}\"\n[worker]\n{worker}\n{routes}"
    )
}

fn stitch_routes(sink_port: u16) -> String {
    format!(
        "[[route]]\nae_title = \"STITCH\"\njob = \"stitch\"\nexpected = 3\nquiet_seconds = 60\n\
         forward = [\"PACS\"]\n\
         [[route]]\nae_title = \"POISON\"\njob = \"stitch\"\nexpected = 1\nquiet_seconds = 60\n\
         forward = [\"PACS\"]\n\
         [[destination]]\nname = \"PACS\"\nae_title = \"PACS\"\naddress = \"127.0.0.1:{sink_port}\"\n\
         retries = 3\nretry_seconds = 1\n"
    )
}

/// Distinct SOP Instance UIDs the sink holds, and its file count (a duplicate delivery is a second
/// file with the same UID).
fn received(sink: &Sink) -> (BTreeSet<String>, usize) {
    let files = sink.files();
    let uids = files.iter().map(|f| sop_instance_uid(f)).collect();
    (uids, files.len())
}

fn send(port: u16, called: &str, files: &[PathBuf]) {
    let o = storescu(port, "MODALITY", called, files, &[]);
    assert!(
        o.status.success(),
        "storescu: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn status_json(url: &str) -> serde_json::Value {
    let o: Output = radpipe(&["status", "--queue", url, "--json"]);
    assert!(
        o.status.success(),
        "status: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("status JSON")
}

fn logs(procs: &[&NodeProc]) -> String {
    procs
        .iter()
        .map(|p| format!("--- {}\n{}", p.dir.display(), p.log_text()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn expect(limit: Duration, procs: &[&NodeProc], what: &str, done: impl FnMut() -> bool) {
    assert!(wait_until(limit, done), "{what}:\n{}", logs(procs));
}

struct Cluster {
    dir: tempfile::TempDir,
    nats: Nats,
    sink: Sink,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let nats = Nats::start(dir.path());
        let sink = Sink::start(&dir.path().join("pacs"), "PACS");
        Cluster { dir, nats, sink }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, worker: &str) -> String {
        config(&self.nats.url(), &stitch_routes(self.sink.port), worker)
    }

    fn receiver(&self, name: &str) -> NodeProc {
        NodeProc::start(
            &self.path(name),
            &format!("name = \"{name}\"\n{}", self.config("")),
        )
    }

    fn worker(&self, name: &str, worker: &str, env: &[(&str, &str)]) -> NodeProc {
        NodeProc::start_worker(&self.path(name), &self.config(worker), name, env)
    }
}

#[test]
fn stations_sent_to_two_receivers_form_one_series_and_one_result() {
    let c = Cluster::new();
    let (r1, r2) = (c.receiver("r1"), c.receiver("r2"));
    let w = c.worker("w1", "ack_wait_seconds = 10", &[]);
    let st = stations();
    send(r1.port, "STITCH", &st[..1]);
    send(r2.port, "STITCH", &st[1..]);
    expect(LIMIT, &[&r1, &r2, &w], "one stitched result", || {
        c.sink.files().len() == 1
    });
    let queued = r1.count_log(" queued: route STITCH") + r2.count_log(" queued: route STITCH");
    assert_eq!(queued, 1, "{}", logs(&[&r1, &r2]));
    assert!(w.wait_log("acked (sent)", LIMIT), "{}", w.log_text());
    // The members' records follow within a heartbeat or two.
    let mut status = status_json(&c.nats.url());
    wait_until(Duration::from_secs(15), || {
        status = status_json(&c.nats.url());
        let stored: u64 = status["receivers"]
            .as_array()
            .map(|r| r.iter().map(|r| r["instances"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        status["workers"][0]["jobs_done"] == 1 && stored == 3
    });
    assert_eq!(status["jobs"]["sent"], 1, "{status}");
    assert_eq!(
        status["receivers"].as_array().map(Vec::len),
        Some(2),
        "{status}"
    );
    let workers = status["workers"].as_array().cloned().unwrap_or_default();
    assert_eq!(workers.len(), 1, "{status}");
    assert_eq!(workers[0]["jobs_done"], 1, "{status}");
    // The one result names all three stations as its sources.
    let result = &c.sink.files()[0];
    let dump = crate::serve_node::harness::dcmdump(result);
    for station in &st {
        let uid = sop_instance_uid(station);
        assert!(
            dump.contains(&uid),
            "{uid} not a source of the result:\n{dump}"
        );
    }
    // Nothing of the instances is left in the receivers' spools: they are in the queue.
    for r in [&r1, &r2] {
        let left = walk(&r.dir.join("spool/series"));
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn a_late_instance_is_recorded_on_its_job_and_not_merged() {
    let c = Cluster::new();
    let r = c.receiver("r1");
    let w = c.worker("w1", "ack_wait_seconds = 10", &[]);
    let series = distinct_series(&c.path("series"), 1);
    send(r.port, "STITCH", &series[0]);
    expect(LIMIT, &[&r, &w], "the result", || {
        w.log_text().contains("acked (sent)")
    });
    // A fourth station of the same series, after its job ran.
    let late = c.path("late.dcm");
    std::fs::copy(&series[0][2], &late).expect("copy");
    let o = crate::serve_node::harness::dcmtk(
        "dcmodify",
        &["-nb", "-m", "(0008,0018)=2.25.77777", s(&late)],
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    send(r.port, "STITCH", std::slice::from_ref(&late));
    expect(LIMIT, &[&r], "the late line", || {
        r.log_text().contains("late instance 2.25.77777")
    });
    let mut status = status_json(&c.nats.url());
    wait_until(Duration::from_secs(10), || {
        status = status_json(&c.nats.url());
        status["jobs"]["sent"] == 1
    });
    assert_eq!(status["jobs"]["sent"], 1, "{status}");
    // The job's record lists it (read with the library, as `radpipe status` does).
    let queue =
        radpipe::serve::cluster::Queue::connect(&c.nats.url(), "test", LIMIT).expect("the queue");
    let late_of_job = || -> Vec<String> {
        queue
            .all_json::<radpipe::serve::cluster::message::JobRecord>(&queue.jobs, "jobs")
            .expect("job records")
            .into_iter()
            .flat_map(|(_, r)| r.status.late_instances)
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || late_of_job() == ["2.25.77777"]),
        "{:?}",
        late_of_job()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(c.sink.files().len(), 1, "{}", logs(&[&r, &w]));
    assert_eq!(r.count_log(" queued: route STITCH"), 1, "{}", r.log_text());
}

#[test]
fn thirty_series_through_three_workers_are_each_delivered_once() {
    let c = Cluster::new();
    let (r1, r2) = (c.receiver("r1"), c.receiver("r2"));
    let workers: Vec<NodeProc> = (1..=3)
        .map(|i| c.worker(&format!("w{i}"), "ack_wait_seconds = 20", &[]))
        .collect();
    let series = distinct_series(&c.path("series"), 30);
    std::thread::scope(|scope| {
        for (i, files) in series.iter().enumerate() {
            let port = if i % 2 == 0 { r1.port } else { r2.port };
            scope.spawn(move || send(port, "STITCH", files));
            if i % 4 == 3 {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    let mut procs: Vec<&NodeProc> = vec![&r1, &r2];
    procs.extend(workers.iter());
    expect(Duration::from_secs(300), &procs, "30 results", || {
        c.sink.files().len() >= 30
    });
    std::thread::sleep(Duration::from_secs(2));
    let (uids, files) = received(&c.sink);
    assert_eq!((uids.len(), files), (30, 30), "{}", logs(&procs));
    let busy = workers
        .iter()
        .filter(|w| w.count_log("acked (sent)") > 0)
        .count();
    assert!(busy >= 2, "one worker did everything:\n{}", logs(&procs));
    let mut status = status_json(&c.nats.url());
    wait_until(Duration::from_secs(15), || {
        status = status_json(&c.nats.url());
        status["workers"].as_array().is_some_and(|w| {
            w.iter()
                .map(|w| w["jobs_done"].as_u64().unwrap_or(0))
                .sum::<u64>()
                == 30
        })
    });
    assert_eq!(status["jobs"]["sent"], 30, "{status}");
    assert_eq!(status["waiting"], 0, "{status}");
    // Finished jobs leave nothing in the workers' scratch folders (the queue holds the records).
    for (i, w) in workers.iter().enumerate() {
        let scratch = w.dir.join(format!("spool/workers/w{}", i + 1));
        let left: Vec<PathBuf> = ["jobs", "work", "series"]
            .iter()
            .flat_map(|d| walk(&scratch.join(d)))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn a_worker_killed_mid_job_has_it_redone_by_another_and_delivered_once() {
    let c = Cluster::new();
    let r = c.receiver("r1");
    let a = c.worker(
        "wa",
        "ack_wait_seconds = 3",
        &[("RADPIPE_FAULT_STALL_MS", "120000")],
    );
    send(r.port, "STITCH", &stations());
    expect(LIMIT, &[&r, &a], "worker A computed and stalls", || {
        a.log_text().contains("stalling")
    });
    let b = c.worker("wb", "ack_wait_seconds = 3", &[]);
    a.kill9();
    expect(LIMIT, &[&r, &b], "B redid the job", || {
        b.log_text().contains("acked (sent)")
    });
    std::thread::sleep(Duration::from_secs(4));
    let (uids, files) = received(&c.sink);
    assert_eq!((uids.len(), files), (1, 1), "{}", b.log_text());
    assert!(b.log_text().contains("(delivery 2)"), "{}", b.log_text());
}

#[test]
fn a_stopped_worker_hands_its_job_back_at_once_and_exits_0() {
    let c = Cluster::new();
    let r = c.receiver("r1");
    // A long ack wait: only the hand-back, not the timeout, can move the job in time.
    let a = c.worker(
        "wa",
        "ack_wait_seconds = 600",
        &[("RADPIPE_FAULT_STALL_MS", "120000")],
    );
    send(r.port, "STITCH", &stations());
    expect(LIMIT, &[&r, &a], "worker A computed and stalls", || {
        a.log_text().contains("stalling")
    });
    let b = c.worker("wb", "ack_wait_seconds = 600", &[]);
    let a_dir = a.dir.clone();
    let a_log = a.log_handle();
    let stopped = a.terminate(Duration::from_secs(30));
    let a_text = a_log();
    assert!(
        stopped.is_some_and(|s| s.success()),
        "{stopped:?}\n{a_text}"
    );
    assert!(
        a_text.contains("handed back"),
        "{}\n{a_text}",
        a_dir.display()
    );
    expect(
        Duration::from_secs(60),
        &[&r, &b],
        "B took the job over",
        || b.log_text().contains("acked (sent)"),
    );
    let (uids, files) = received(&c.sink);
    assert_eq!((uids.len(), files), (1, 1), "{}", b.log_text());
}

#[test]
fn a_queue_server_restarted_mid_batch_loses_nothing() {
    let mut c = Cluster::new();
    let r = c.receiver("r1");
    let w1 = c.worker("w1", "ack_wait_seconds = 10", &[]);
    let w2 = c.worker("w2", "ack_wait_seconds = 10", &[]);
    let series = distinct_series(&c.path("series"), 10);
    let port = r.port;
    let sender = std::thread::spawn(move || {
        for files in &series {
            send(port, "STITCH", files);
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    expect(LIMIT, &[&r, &w1, &w2], "first results", || {
        c.sink.files().len() >= 2
    });
    let before = c.sink.files().len();
    c.nats.stop();
    assert!(before < 10, "everything was done before the restart");
    std::thread::sleep(Duration::from_secs(2));
    c.nats.restart();
    sender.join().expect("sender");
    expect(
        Duration::from_secs(240),
        &[&r, &w1, &w2],
        "10 results",
        || c.sink.files().len() >= 10,
    );
    std::thread::sleep(Duration::from_secs(3));
    let (uids, files) = received(&c.sink);
    assert_eq!((uids.len(), files), (10, 10), "{}", logs(&[&r, &w1, &w2]));
}

#[test]
fn a_poison_job_lands_in_the_dead_letter_stream_while_the_others_go_on() {
    let c = Cluster::new();
    let r = c.receiver("r1");
    let w = c.worker("w1", "ack_wait_seconds = 10\nattempts = 2", &[]);
    // One station alone cannot be stitched: the job fails every time.
    let poison = distinct_series(&c.path("poison"), 1);
    send(r.port, "POISON", &poison[0][..1]);
    send(r.port, "STITCH", &stations());
    expect(LIMIT, &[&r, &w], "the dead letter", || {
        w.log_text().contains("dead letter after 2 deliveries")
    });
    expect(LIMIT, &[&r, &w], "the good series", || {
        c.sink.files().len() == 1
    });
    let status = one_dead_letter(&c.nats.url(), "station");
    assert_eq!(status["jobs"]["sent"], 1, "{status}");
    assert_eq!(status["jobs"]["failed"], 1, "{status}");
    let text = radpipe(&["status", "--queue", &c.nats.url()]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("dead letters: 1"), "{text}");
}

/// `radpipe status --json` of the queue at `url`, which must count one dead letter whose reason
/// contains `reason`.
fn one_dead_letter(url: &str, reason: &str) -> serde_json::Value {
    let status = status_json(url);
    assert_eq!(status["dead_letters"], 1, "{status}");
    let said = status["last_dead"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(said.contains(reason), "{status}");
    status
}

#[test]
fn a_job_that_kills_every_worker_that_takes_it_becomes_a_dead_letter() {
    let c = Cluster::new();
    let r = c.receiver("r1");
    let stall = [("RADPIPE_FAULT_STALL_MS", "120000")];
    let settings = "ack_wait_seconds = 2\nattempts = 2";
    send(r.port, "STITCH", &stations());
    // Two workers in turn take it and die mid-job.
    for name in ["wa", "wb"] {
        let w = c.worker(name, settings, &stall);
        expect(LIMIT, &[&r, &w], "the worker stalls", || {
            w.log_text().contains("stalling")
        });
        w.kill9();
    }
    // The third delivery exceeds the attempts: the next worker gives it up with the reason.
    let w = c.worker("wc", settings, &[]);
    expect(LIMIT, &[&r, &w], "the dead letter", || {
        w.log_text().contains("dead letter after 3 deliveries")
    });
    let status = one_dead_letter(&c.nats.url(), "without an answer");
    assert_eq!(status["jobs"]["failed"], 1, "{status}");
    assert!(c.sink.files().is_empty());
}

#[test]
fn run_with_a_queue_writes_what_the_local_run_writes_and_reports_skips() {
    let c = Cluster::new();
    let w1 = c.worker("w1", "ack_wait_seconds = 10", &[]);
    let w2 = c.worker("w2", "ack_wait_seconds = 10", &[]);
    let input = c.path("in");
    std::fs::create_dir_all(&input).expect("input folder");
    for (i, st) in stations().iter().enumerate() {
        std::fs::copy(st, input.join(format!("s{i}.dcm"))).expect("copy");
    }
    std::fs::write(input.join("broken.dcm"), b"not a DICOM file").expect("broken");
    let pipeline = c.path("p.toml");
    std::fs::write(
        &pipeline,
        "output = \"png\"\n[[stage]]\nop = \"resize\"\nscale = 0.25\n[[stage]]\nop = \"window\"\n",
    )
    .expect("pipeline");
    let (local, queued) = (c.path("local"), c.path("queued"));
    let a = radpipe(&["run", s(&pipeline), s(&input), "-o", s(&local)]);
    let b = radpipe(&[
        "run",
        s(&pipeline),
        s(&input),
        "-o",
        s(&queued),
        "--queue",
        &c.nats.url(),
    ]);
    let (ea, eb) = (
        String::from_utf8_lossy(&a.stderr).into_owned(),
        String::from_utf8_lossy(&b.stderr).into_owned(),
    );
    assert_eq!(a.status.code(), b.status.code(), "{ea}\n{eb}");
    assert!(!b.status.success());
    assert!(
        eb.contains("skipped") && eb.contains("broken.dcm"),
        "{eb}\n{}",
        logs(&[&w1, &w2])
    );
    let names = |d: &Path| {
        let mut v: Vec<String> = walk(d)
            .iter()
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&local), names(&queued));
    assert_eq!(names(&local).len(), 3);
    for n in names(&local) {
        let (x, y) = (
            std::fs::read(local.join(&n)).expect("local"),
            std::fs::read(queued.join(&n)).expect("queued"),
        );
        assert!(x == y, "{n} differs");
    }
}

#[test]
fn queue_mistakes_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("n.toml");
    std::fs::write(&path, config("http://127.0.0.1:4222", "", "")).expect("config");
    let o = radpipe(&["serve", "--config", s(&path), "--check"]);
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !o.status.success() && e.contains("queue") && e.contains("nats://"),
        "{e}"
    );
    std::fs::write(&path, "spool = \"spool\"\n").expect("config");
    let o = radpipe(&["worker", "--config", s(&path)]);
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success() && e.contains("needs queue"), "{e}");
    // Nothing listens there: the error names the server, within the connect timeout.
    let url = format!("nats://127.0.0.1:{}", free_port());
    std::fs::write(&path, config(&url, "", "")).expect("config");
    let o = radpipe(&["worker", "--config", s(&path)]);
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success() && e.contains(&url), "{e}");
    let o = radpipe(&["status", "--queue", &url]);
    assert!(!o.status.success());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
