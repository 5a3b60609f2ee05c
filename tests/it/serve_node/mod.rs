//! `radpipe serve` against real peers nobody here wrote: dcmtk's `echoscu` and `storescu` as
//! modalities, `storescp` as the PACS, `dcmdump` and `dciodvfy` to read what arrived. Each test runs
//! its own node and sink on free loopback ports in its own folder.

pub mod harness;

use std::path::Path;
use std::time::Duration;

use harness::{
    NodeProc, Sink, config, dcmdump, dcmtk, echoscu, free_port, jobs_in, stations, storescu,
    wait_until,
};

use crate::common::cli::{radpipe, s};

const LIMIT: Duration = Duration::from_secs(120);

fn destination(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[[destination]]\nname = \"{name}\"\nae_title = \"{name}\"\naddress = \"127.0.0.1:{port}\"\n{extra}\n"
    )
}

fn stitch_route(title: &str, forward: &str, extra: &str) -> String {
    format!(
        "[[route]]\nae_title = \"{title}\"\njob = \"stitch\"\nexpected = 3\nquiet_seconds = 30\nforward = [{forward}]\n{extra}\n"
    )
}

fn expect_log(node: &NodeProc, needle: &str, limit: Duration) {
    assert!(
        node.wait_log(needle, limit),
        "no {needle:?} in:\n{}",
        node.log_text()
    );
}

fn expect_within(node: &NodeProc, limit: Duration, done: impl FnMut() -> bool) {
    assert!(wait_until(limit, done), "{}", node.log_text());
}

fn assert_contains_all(dump: &str, needles: &[&str]) {
    for needle in needles {
        assert!(dump.contains(needle), "{needle} missing:\n{dump}");
    }
}

/// A PACS would accept it: David Clunie's IOD validator finds no error.
fn assert_iod_valid(file: &Path) {
    let v = dcmtk("dciodvfy", &[s(file)], Duration::from_secs(30));
    let report =
        String::from_utf8_lossy(&v.stderr).into_owned() + &String::from_utf8_lossy(&v.stdout);
    assert!(!report.lines().any(|l| l.starts_with("Error")), "{report}");
}

fn job_states(node: &NodeProc) -> Vec<String> {
    node.jobs()
        .iter()
        .map(|j| j["state"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn echo_is_answered_on_the_node_and_route_titles_repeatedly_on_one_association() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProc::start(dir.path(), &config(&stitch_route("STITCH", "", "")));
    for called in ["RADPIPE", "STITCH"] {
        let o = echoscu(
            node.port,
            "MODALITY",
            called,
            &["--repeat", "5", "-ll", "trace"],
        );
        let text =
            String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "echo to {called}:\n{text}");
        // echoscu numbers its requests 1, 2, 3...: every C-ECHO-RSP must name the request it
        // answers (dicom-ul's own storescp sends a stale id).
        let answered: Vec<u32> = text
            .lines()
            .filter(|l| l.contains("MessageIDBeingRespondedTo"))
            .filter_map(|l| l.split_whitespace().nth(3)?.parse().ok())
            .collect();
        assert_eq!(answered, vec![1, 2, 3, 4, 5], "{text}");
    }
    expect_log(&node, "echoes", Duration::from_secs(5));
}

#[test]
fn unknown_called_titles_and_callers_not_allowed_are_refused_at_association() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config(&stitch_route("STITCH", "", "")).replace(
        "ae_title = \"RADPIPE\"\n",
        "ae_title = \"RADPIPE\"\nallowed_callers = [\"MODALITY\"]\n",
    );
    let node = NodeProc::start(dir.path(), &text);
    assert!(
        echoscu(node.port, "MODALITY", "STITCH", &[])
            .status
            .success()
    );
    let wrong_called = echoscu(node.port, "MODALITY", "NOSUCHROUTE", &[]);
    let wrong_caller = echoscu(node.port, "INTRUDER", "STITCH", &[]);
    for (o, what) in [(wrong_called, "called"), (wrong_caller, "calling")] {
        let text = String::from_utf8_lossy(&o.stderr).to_lowercase();
        assert!(
            !o.status.success() && text.contains("reject"),
            "{what}: {text}"
        );
    }
    let sent = storescu(node.port, "INTRUDER", "STITCH", &stations(), &[]);
    assert!(!sent.status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(node.jobs().is_empty());
    let series = dir.path().join("spool/series");
    assert_eq!(std::fs::read_dir(series).expect("spool/series").count(), 0);
}

#[test]
fn three_stations_over_three_associations_arrive_as_one_stitched_derived_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let text =
        config(&(stitch_route("STITCH", "\"PACS\"", "") + &destination("PACS", sink.port, "")));
    let node = NodeProc::start(dir.path(), &text);
    // Sent in reverse order, one association each: the node orders them by geometry.
    for station in stations().iter().rev() {
        let o = storescu(
            node.port,
            "MODALITY",
            "STITCH",
            std::slice::from_ref(station),
            &[],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    expect_within(&node, LIMIT, || sink.files().len() == 1);
    expect_log(&node, "-> sent", Duration::from_secs(10));
    let received = &sink.files()[0];
    let dump = dcmdump(received);
    for needle in [
        "DigitalXRayImageStorageForPresentation",
        "DERIVED",
        "MONOCHROME1",
        "[0.4\\0.4]",
        "1.3.6.1.4.1.5962.1.2.9.20040826185059.5457", // the study is kept
    ] {
        assert!(dump.contains(needle), "{needle} missing:\n{dump}");
    }
    for station in stations() {
        let uid = harness::sop_instance_uid(&station);
        assert!(dump.contains(&uid), "Source Image Sequence lacks {uid}");
    }
    // Pixels equal `radpipe stitch` on the same files (ordered top to bottom).
    let local = dir.path().join("local.dcm");
    let args: Vec<String> = stations().iter().map(|p| s(p).to_string()).collect();
    let mut cli = vec!["stitch"];
    cli.extend(args.iter().map(String::as_str));
    cli.extend(["-o", s(&local)]);
    let o = radpipe(&cli);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a = radpipe::io::dicom::read_dicom(received)
        .expect("as set up by the test")
        .frame(0)
        .expect("as set up by the test");
    let b = radpipe::io::dicom::read_dicom(&local)
        .expect("as set up by the test")
        .frame(0)
        .expect("as set up by the test");
    assert_eq!((a.width, a.height), (b.width, b.height));
    assert_eq!(
        a.pixels, b.pixels,
        "the node's stitch differs from radpipe stitch"
    );
    // The same UID as the CLI's: derived from the inputs, not from the run.
    assert_eq!(
        harness::sop_instance_uid(received),
        harness::sop_instance_uid(&local)
    );
    // The status file says what happened.
    let jobs = node.jobs();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job["state"], "sent");
    assert_eq!(job["instances"].as_array().expect("a JSON array").len(), 3);
    assert_eq!(
        job["outputs"][0].as_str().expect("a string"),
        harness::sop_instance_uid(received)
    );
    assert_eq!(job["destinations"]["PACS"]["state"], "sent");
    // A PACS would accept it: the IOD validator finds no error.
    assert_iod_valid(received);
}

#[test]
fn a_localizer_sent_to_a_segment_route_comes_back_as_its_overlay_with_the_angles_in_the_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let routes =
        "[[route]]\nae_title = \"AUTOPOS\"\njob = \"segment\"\nexpected = 1\nforward = [\"PACS\"]\n"
            .to_string() + &destination("PACS", sink.port, "");
    let node = NodeProc::start(dir.path(), &config(&routes));
    let localizer = harness::mr_localizer(&dir.path().join("mr"), "2.25.777", 1);
    let o = storescu(
        node.port,
        "SCANNER",
        "AUTOPOS",
        std::slice::from_ref(&localizer),
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    expect_within(&node, LIMIT, || sink.files().len() == 1);
    let received = &sink.files()[0];
    let dump = dcmdump(received);
    assert_contains_all(
        &dump,
        &[
            "SecondaryCaptureImageStorage",
            "RGB",
            "DERIVED",
            "2.25.777",
            "2.25.42421",
        ],
    );
    // The localizer's size (233x233), three samples.
    assert_contains_all(
        &dump,
        &[
            "(0028,0010) US 233",
            "(0028,0011) US 233",
            "(0028,0002) US 3",
        ],
    );
    expect_log(&node, "-> sent", Duration::from_secs(10));
    let job = &node.jobs()[0];
    let l = &job["result"]["localizers"][0];
    let angle = l["angle_deg"].as_f64().expect("an angle");
    assert!(angle.abs() < 45.0, "{angle}");
    assert!(
        l["center"][0].as_f64().expect("a number") > 50.0
            && l["center"][1].as_f64().expect("a number") > 50.0
    );
    assert_eq!(job["result"]["angle_deg"], l["angle_deg"]);
    assert_iod_valid(received);
}

#[test]
fn an_aborted_association_starts_nothing_and_leaves_nothing_in_the_spool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config(
        &stitch_route("STITCH", "", "").replace("quiet_seconds = 30", "quiet_seconds = 0.5"),
    );
    let node = NodeProc::start(dir.path(), &text);
    let _ = storescu(node.port, "MODALITY", "STITCH", &stations(), &["--abort"]);
    expect_log(&node, "aborted", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(node.jobs().is_empty(), "{}", node.log_text());
    for sub in ["incoming", "series", "work"] {
        let n = std::fs::read_dir(dir.path().join("spool").join(sub))
            .expect("as set up by the test")
            .count();
        assert_eq!(n, 0, "spool/{sub} is not empty");
    }
}

#[test]
fn an_unreachable_destination_fails_after_its_retries_while_other_jobs_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let dead = free_port();
    let routes = stitch_route("STITCH", "\"GONE\"", "")
        + &stitch_route("GOOD", "\"PACS\"", "")
        + &destination(
            "GONE",
            dead,
            "retries = 2\nretry_seconds = 0.2\ntimeout_seconds = 2",
        )
        + &destination("PACS", sink.port, "");
    let node = NodeProc::start(dir.path(), &config(&routes));
    assert!(
        storescu(node.port, "MODALITY", "STITCH", &stations(), &[])
            .status
            .success()
    );
    assert!(
        storescu(node.port, "MODALITY", "GOOD", &stations(), &[])
            .status
            .success()
    );
    expect_within(&node, LIMIT, || sink.files().len() == 1);
    expect_within(&node, LIMIT, || {
        job_states(&node).iter().filter(|s| *s == "failed").count() == 1
    });
    let jobs = node.jobs();
    let failed = jobs
        .iter()
        .find(|j| j["state"] == "failed")
        .expect("as set up by the test");
    assert_eq!(failed["route"], "STITCH");
    assert_eq!(failed["destinations"]["GONE"]["attempts"], 3);
    let error = failed["error"].as_str().expect("a string");
    assert!(
        error.contains("GONE") && error.contains("3 attempts"),
        "{error}"
    );
    assert!(
        jobs.iter()
            .any(|j| j["route"] == "GOOD" && j["state"] == "sent")
    );
}

#[test]
fn kill_9_while_a_result_waits_for_its_destination_then_restart_delivers_it_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink_port = free_port();
    let routes = stitch_route("STITCH", "\"PACS\"", "")
        + &destination(
            "PACS",
            sink_port,
            "retries = 50\nretry_seconds = 0.3\ntimeout_seconds = 2",
        );
    let node = NodeProc::start(dir.path(), &config(&routes));
    assert!(
        storescu(node.port, "MODALITY", "STITCH", &stations(), &[])
            .status
            .success()
    );
    expect_log(&node, "retrying", LIMIT);
    node.kill9();
    assert_eq!(job_states_in(dir.path()), vec!["sending"]);
    // The PACS comes up; the restarted node sends what the killed one had computed.
    let sink = Sink::start_on(&dir.path().join("pacs"), "PACS", sink_port);
    let node = NodeProc::start(dir.path(), &config(&routes));
    expect_within(&node, LIMIT, || job_states(&node) == ["sent"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sink.files().len(), 1);
}

#[test]
fn kill_9_mid_job_then_restart_computes_again_and_delivers_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let routes = stitch_route("STITCH", "\"PACS\"", "refine = true\nblend = \"multiband\"")
        + &destination("PACS", sink.port, "");
    let node = NodeProc::start(dir.path(), &config(&routes));
    assert!(
        storescu(node.port, "MODALITY", "STITCH", &stations(), &[])
            .status
            .success()
    );
    expect_log(&node, "-> processing", LIMIT);
    node.kill9();
    let before = sink.files().len();
    let node = NodeProc::start(dir.path(), &config(&routes));
    expect_within(&node, LIMIT, || job_states(&node) == ["sent"]);
    std::thread::sleep(Duration::from_millis(500));
    let files = sink.files();
    // Killed before sending: one delivery after the restart. Killed after the PACS had it but
    // before the status said so: the resend carries the same SOP Instance UID — a duplicate.
    let uids: std::collections::BTreeSet<String> =
        files.iter().map(|f| harness::sop_instance_uid(f)).collect();
    assert_eq!(uids.len(), 1, "{files:?}");
    assert!(files.len() == 1 || before == 1, "{files:?}");
    let job = &node.jobs()[0];
    assert!(job["attempts"].as_u64().expect("a count") >= 1);
}

#[test]
fn eight_concurrent_senders_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let copies = harness::distinct_series(&dir.path().join("copies"), 8);
    let text = config(&stitch_route("STITCH", "", ""));
    let node = NodeProc::start(dir.path(), &text);
    let port = node.port;
    let senders: Vec<_> = copies
        .into_iter()
        .map(|files| std::thread::spawn(move || storescu(port, "MODALITY", "STITCH", &files, &[])))
        .collect();
    for t in senders {
        let o = t.join().expect("sender thread");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert!(
        wait_until(LIMIT * 2, || {
            let states = job_states(&node);
            states.len() == 8 && states.iter().all(|s| s == "sent")
        }),
        "{:?}\n{}",
        job_states(&node),
        node.log_text()
    );
    for job in node.jobs() {
        assert_eq!(job["instances"].as_array().expect("a JSON array").len(), 3);
    }
}

#[test]
fn a_hostile_peer_is_cut_off_and_the_node_keeps_serving() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProc::start(dir.path(), &config(&stitch_route("STITCH", "", "")));
    let addr = ("127.0.0.1", node.port);
    // Garbage; an A-ASSOCIATE-RQ header claiming a 2 GB PDU; a connection that says nothing.
    let mut garbage = std::net::TcpStream::connect(addr).expect("as set up by the test");
    let _ = garbage.write_all(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 9, 1, 2, 3, 4, 5]);
    let mut huge = std::net::TcpStream::connect(addr).expect("as set up by the test");
    let _ = huge.write_all(&[0x01, 0x00, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x01]);
    let mut stalled = std::net::TcpStream::connect(addr).expect("as set up by the test");
    for stream in [&mut garbage, &mut huge, &mut stalled] {
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .expect("as set up by the test");
        let mut buf = [0u8; 64];
        // The node answers with an abort or closes; either way the read ends well before the timeout.
        let started = std::time::Instant::now();
        let _ = stream.read(&mut buf);
        assert!(started.elapsed() < Duration::from_secs(12));
    }
    assert!(
        echoscu(node.port, "MODALITY", "RADPIPE", &[])
            .status
            .success()
    );
}

#[test]
fn sigterm_stops_the_node_with_status_0_within_30_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProc::start(dir.path(), &config(&stitch_route("STITCH", "", "")));
    let started = std::time::Instant::now();
    let status = node
        .terminate(Duration::from_secs(30))
        .expect("stopped in time");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_bad_config_is_refused_before_binding_with_the_key_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node.toml");
    std::fs::write(
        &path,
        config("[[route]]\nae_title = \"S\"\njob = \"stitch\"\nforward = [\"NOPE\"]\n"),
    )
    .expect("as set up by the test");
    let o = radpipe(&["serve", "--config", s(&path)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("node.toml") && err.contains("NOPE"),
        "{err}"
    );
    assert!(!dir.path().join("spool").exists());
}

fn job_states_in(dir: &Path) -> Vec<String> {
    jobs_in(&dir.join("spool"))
        .iter()
        .map(|j| j["state"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn past_max_associations_a_caller_is_rejected_and_served_once_a_slot_frees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config(&stitch_route("STITCH", "", "")).replace(
        "idle_timeout_seconds = 5",
        "idle_timeout_seconds = 2\nmax_associations = 1",
    );
    let node = NodeProc::start(dir.path(), &text);
    // A connection that says nothing holds the one slot until the idle timeout.
    let stalled = std::net::TcpStream::connect(("127.0.0.1", node.port)).expect("connect");
    std::thread::sleep(Duration::from_millis(300));
    let busy = echoscu(node.port, "MODALITY", "RADPIPE", &[]);
    let text = String::from_utf8_lossy(&busy.stderr).to_lowercase();
    assert!(!busy.status.success() && text.contains("reject"), "{text}");
    assert!(node.wait_log("associations in progress", Duration::from_secs(5)));
    expect_within(&node, Duration::from_secs(10), || {
        echoscu(node.port, "MODALITY", "RADPIPE", &[])
            .status
            .success()
    });
    drop(stalled);
}

#[test]
fn below_the_free_space_floor_c_store_answers_a700_and_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = config(&stitch_route("STITCH", "", ""))
        .replace("min_free_mb = 1", "min_free_mb = 1000000000");
    let node = NodeProc::start(dir.path(), &text);
    let o = storescu(node.port, "MODALITY", "STITCH", &stations()[..1], &["-v"]);
    let text =
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Refused: OutOfResources"), "{text}");
    expect_log(&node, "1 refused", Duration::from_secs(5));
    let incoming = std::fs::read_dir(dir.path().join("spool/incoming")).expect("incoming");
    assert!(
        incoming
            .flatten()
            .all(|e| std::fs::read_dir(e.path()).map_or(true, |mut d| d.next().is_none()))
    );
}

#[test]
fn a_data_set_that_cannot_be_parsed_gets_c000_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProc::start(dir.path(), &config(&stitch_route("STITCH", "", "")));
    // A valid file meta group followed by bytes that are no data set.
    let good = std::fs::read(&stations()[0]).expect("station");
    let meta_end =
        132 + 12 + u32::from_le_bytes(good[140..144].try_into().expect("4 bytes")) as usize;
    let mut broken = good[..meta_end].to_vec();
    broken.extend_from_slice(&[0x08, 0x00, 0x16, 0x00, b'U', b'I', 0xff, 0xff, 1, 2, 3]);
    let file = dir.path().join("broken.dcm");
    std::fs::write(&file, &broken).expect("write");
    let peer = radpipe::serve::scu::Peer {
        name: "node".into(),
        ae_title: "STITCH".into(),
        address: format!("127.0.0.1:{}", node.port),
        calling_ae: "TESTSCU".into(),
        timeout: Duration::from_secs(10),
        max_pdu_length: 0,
    };
    let sent = radpipe::serve::scu::store(&peer, std::slice::from_ref(&file)).expect("association");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].status & 0xF000,
        0xC000,
        "{:?}",
        sent[0].error_comment
    );
    let comment = sent[0].error_comment.clone().unwrap_or_default();
    assert!(comment.contains("cannot be parsed"), "{comment}");
}

#[test]
fn a_late_instance_is_reported_in_the_job_and_not_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeProc::start(dir.path(), &config(&stitch_route("STITCH", "", "")));
    assert!(
        storescu(node.port, "MODALITY", "STITCH", &stations(), &[])
            .status
            .success()
    );
    expect_log(&node, "-> sent", LIMIT);
    // A fourth instance of the same series, after its job was made.
    let late = dir.path().join("late.dcm");
    std::fs::copy(&stations()[0], &late).expect("copy");
    let o = dcmtk(
        "dcmodify",
        &["-nb", "-m", "(0008,0018)=2.25.999", s(&late)],
        Duration::from_secs(30),
    );
    assert!(o.status.success());
    assert!(
        storescu(node.port, "MODALITY", "STITCH", &[late], &[])
            .status
            .success()
    );
    expect_log(&node, "late instance 2.25.999", Duration::from_secs(10));
    let jobs = node.jobs();
    assert_eq!(jobs.len(), 1, "a late instance starts no second job");
    assert_eq!(jobs[0]["late_instances"][0], "2.25.999");
    assert_eq!(jobs[0]["instances"].as_array().expect("instances").len(), 3);
    let id = jobs[0]["id"].as_str().expect("id");
    assert!(
        dir.path()
            .join(format!("spool/work/{id}/late/2.25.999.dcm"))
            .is_file()
    );
}

#[test]
fn with_tls_configured_the_node_speaks_dicom_tls_and_refuses_plain_tcp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = crate::common::procs::self_signed_cert(dir.path());
    let text = config(&stitch_route("STITCH", "", "")).replace(
        "ae_title = \"RADPIPE\"\n",
        &format!(
            "ae_title = \"RADPIPE\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            s(&cert),
            s(&key)
        ),
    );
    let node = NodeProc::start(dir.path(), &text);
    let tls = echoscu(node.port, "MODALITY", "STITCH", &["+tla", "+cf", s(&cert)]);
    assert!(
        tls.status.success(),
        "{}",
        String::from_utf8_lossy(&tls.stderr)
    );
    let sent = storescu(
        node.port,
        "MODALITY",
        "STITCH",
        &stations(),
        &["+tla", "+cf", s(&cert)],
    );
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    expect_log(&node, "job ", LIMIT);
    let plain = echoscu(node.port, "MODALITY", "STITCH", &["-to", "5"]);
    assert!(!plain.status.success());
}

/// Writes `dir/shrink.toml` (a half-size area resize to DICOM) and returns the config of a route
/// SHRINK that runs it on `expected` instances and forwards to a PACS on `pacs_port`.
fn shrink_route(dir: &Path, expected: u32, pacs_port: u16) -> String {
    std::fs::write(
        dir.join("shrink.toml"),
        "output = \"dcm\"\n[[stage]]\nop = \"resize\"\nscale = 0.5\nmode = \"area\"\n",
    )
    .expect("pipeline file");
    format!(
        "[[route]]\nae_title = \"SHRINK\"\njob = \"pipeline\"\npipeline = \"shrink.toml\"\n\
         expected = {expected}\nforward = [\"PACS\"]\n"
    ) + &destination("PACS", pacs_port, "")
}

#[test]
fn a_pipeline_route_runs_its_pipeline_file_on_the_series_and_forwards_the_dicom_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let routes = shrink_route(dir.path(), 3, sink.port);
    let node = NodeProc::start(dir.path(), &config(&routes));
    assert!(
        storescu(node.port, "MODALITY", "SHRINK", &stations(), &[])
            .status
            .success()
    );
    expect_within(&node, LIMIT, || sink.files().len() == 3);
    expect_log(&node, "-> sent", Duration::from_secs(10));
    for file in sink.files() {
        let d = radpipe::io::dicom::read_dicom(&file).expect("a result");
        assert_eq!((d.width, d.height), (220, 100), "{}", file.display());
        assert_iod_valid(&file);
    }
    assert_eq!(node.jobs()[0]["result"]["processed"], 3);
}

/// Sends the JPEG 2000 fixture to the node's SHRINK route (storescu proposes its lossy J2K syntax).
fn send_j2k(node: &NodeProc) {
    let j2k = harness::repo_path("tests/data/dicom/ct_j2k.dcm");
    let sent = storescu(node.port, "MODALITY", "SHRINK", &[j2k], &["-xw"]);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
}

#[test]
fn a_decoder_that_runs_away_fails_its_job_with_the_budget_named_and_the_node_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let routes = shrink_route(dir.path(), 1, sink.port);
    // Every JPEG 2000 decode in this node's helpers allocates without end.
    let node = NodeProc::start_with_env(
        dir.path(),
        &config(&routes),
        &[("RADPIPE_FAULT_DECODE", "alloc")],
    );
    send_j2k(&node);
    expect_within(&node, LIMIT, || job_states(&node) == ["failed"]);
    let jobs = node.jobs();
    let error = jobs[0]["error"].as_str().expect("a string");
    assert!(
        error.contains("decoder went over its memory budget of"),
        "{error}"
    );
    assert!(sink.files().is_empty());
    // The node is still there and answers.
    assert!(
        echoscu(node.port, "MODALITY", "SHRINK", &[])
            .status
            .success()
    );
    let log = node.log_text();
    assert!(!log.contains("memory allocation of"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_node_whose_binary_is_replaced_on_disk_still_decodes_compressed_instances() {
    // A package upgrade under a running node: the file it was started from is gone.
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("radpipe-old");
    std::fs::copy(env!("CARGO_BIN_EXE_radpipe"), &exe).expect("copy radpipe");
    let sink = Sink::start(&dir.path().join("pacs"), "PACS");
    let node_dir = dir.path().join("node");
    std::fs::create_dir_all(&node_dir).expect("node folder");
    let routes = shrink_route(&node_dir, 1, sink.port);
    let node = NodeProc::start_exe(&exe, &node_dir, &config(&routes), &[]);
    std::fs::remove_file(&exe).expect("remove the binary");
    send_j2k(&node);
    expect_within(&node, LIMIT, || {
        job_states(&node)
            .iter()
            .any(|s| s == "sent" || s == "failed")
    });
    assert_eq!(job_states(&node), ["sent"], "{}", node.log_text());
    expect_within(&node, LIMIT, || sink.files().len() == 1);
    let d = radpipe::io::dicom::read_dicom(&sink.files()[0]).expect("a result");
    assert_eq!((d.width, d.height), (64, 64));
}
