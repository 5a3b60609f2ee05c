//! The SCU towards dcmtk's storescp (files arrive, dcmdump shows the same SOP Instance UIDs, an
//! unreadable file is reported and skipped, a peer's abort is an error) and the SCU's failures: a
//! closed port, a rejection, a silent peer — each quickly, each naming the peer.

use std::path::Path;
use std::time::{Duration, Instant};

use radpipe::serve::scu::{self, ScuError};

use super::harness::{self, Scp, TestSink, config, run};
use super::{T, demo, demo_files, peer};

/// dcmtk's storescp on a free port (retrying on collision), ready once our own C-ECHO gets through.
fn storescp(dir: &Path, extra: &[&str]) -> (harness::Guard, u16) {
    for _ in 0..5 {
        let port = harness::free_port();
        let out = dir.display().to_string();
        let port_s = port.to_string();
        let mut args = vec!["-aet", "STORESCP", "-od", &out];
        args.extend_from_slice(extra);
        args.push(&port_s);
        let mut guard =
            harness::spawn("storescp", &args, &dir.join(format!("storescp-{port}.log")));
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if matches!(guard.0.try_wait(), Ok(Some(_))) {
                break;
            }
            if scu::echo(&peer(port, "STORESCP")).is_ok() {
                return (guard, port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("storescp did not start");
}

fn dcmdump_uid(file: &Path, dir: &Path) -> String {
    let r = run(
        "dcmdump",
        &["+P", "0008,0018", &file.display().to_string()],
        dir,
        T,
    );
    assert!(r.ok(), "{}", r.output);
    let line = r
        .output
        .lines()
        .find(|l| l.starts_with("(0008,0018)"))
        .expect("SOP Instance UID line");
    line.split(['[', ']'])
        .nth(1)
        .expect("bracketed value")
        .to_string()
}

#[test]
fn scu_stores_to_dcmtk_storescp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("received");
    std::fs::create_dir(&out).expect("mkdir");
    let (_storescp, port) = storescp(&out, &[]);
    let files = demo_files();
    let sent = scu::store(&peer(port, "STORESCP"), &files).expect("store");
    assert_eq!(sent.len(), 4);
    let mut want = Vec::new();
    for (s, f) in sent.iter().zip(&files) {
        assert_eq!((s.status, &s.file), (0, f), "{s:?}");
        assert_eq!(s.sop_instance_uid, dcmdump_uid(f, dir.path()));
        want.push(s.sop_instance_uid.clone());
    }
    let mut got: Vec<String> = std::fs::read_dir(&out)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_none_or(|x| x != "log"))
        .map(|p| dcmdump_uid(&p, dir.path()))
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // A file that is not DICOM is reported, not sent; the others still go.
    let junk = dir.path().join("junk.dcm");
    std::fs::write(&junk, b"not dicom").expect("write");
    let sent = scu::store(&peer(port, "STORESCP"), &[junk, files[3].clone()]).expect("store");
    assert_eq!((sent[0].status, sent[1].status), (0xC000, 0), "{sent:?}");
    assert!(
        sent[0]
            .error_comment
            .as_deref()
            .is_some_and(|c| c.starts_with("not sent")),
        "{sent:?}"
    );
}

#[test]
fn scu_failures_name_the_peer_and_come_quickly() {
    let closed = harness::free_port();
    let p = peer(closed, "NOWHERE");
    let start = Instant::now();
    let err = scu::echo(&p).expect_err("nothing listens");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(matches!(err, ScuError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("test-peer")
            && msg.contains("NOWHERE")
            && msg.contains(&format!("127.0.0.1:{closed}")),
        "{msg}"
    );
    let err = scu::store(&p, &[demo("ct_small.dcm")]).expect_err("nothing listens");
    assert!(matches!(err, ScuError::Connect { .. }), "{err:?}");

    // Rejection by our own SCP, and a peer that accepts the TCP connection but never answers.
    let dir = tempfile::tempdir().expect("tempdir");
    let scp = Scp::start(config(), TestSink::new(dir.path()));
    let err = scu::echo(&peer(scp.port, "WRONG")).expect_err("rejected");
    assert!(matches!(err, ScuError::Rejected { .. }), "{err:?}");
    assert!(
        err.to_string().contains("called AE title not recognized"),
        "{err}"
    );
    scp.stop();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut p = peer(silent.local_addr().expect("addr").port(), "SILENT");
    p.timeout = Duration::from_millis(500);
    let start = Instant::now();
    let err = scu::echo(&p).expect_err("no answer");
    assert!(matches!(err, ScuError::Timeout { .. }), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn scu_reports_a_peer_abort_as_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_storescp, port) = storescp(dir.path(), &["--abort-after"]);
    let err = scu::store(&peer(port, "STORESCP"), &[demo("ct_small.dcm")]).expect_err("aborted");
    assert!(matches!(err, ScuError::Aborted { .. }), "{err:?}");
    assert!(
        err.to_string().contains("test-peer (STORESCP@127.0.0.1:"),
        "{err}"
    );
}
