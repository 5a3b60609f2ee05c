//! The DIMSE layer of `radpipe serve` against dcmtk 3.6.7 (echoscu, storescu, storescp, dcmdump)
//! and against hostile peers on raw sockets: C-ECHO with the right Message IDs, C-STORE byte for byte,
//! rejections in negotiation (called AE, caller, SOP class, transfer syntax), sink refusals and the
//! size cap, aborts, timeouts, PDU length lies — and the SCU towards dcmtk's storescp. Everything on
//! 127.0.0.1 with free ports; every wait and child process is bounded (see `harness`).

mod harness;
mod hostile;
mod roundtrip;
mod scu_peer;

use std::path::PathBuf;
use std::time::Duration;

use dicom_ul::pdu::Pdu;
use harness::{CR, CT, EXPLICIT_LE, Event, IMPLICIT_LE, Scp, TestSink, config, run};
use radpipe::serve::dimse::command::CommandSet;
use radpipe::serve::dimse::message::{self, Response};
use radpipe::serve::dimse::pdata;
use radpipe::serve::scp::{AssociationEnd, StoreStatus};
use radpipe::serve::scu::Peer;

use crate::common::repo_path;

const T: Duration = Duration::from_secs(30);

fn demo(name: &str) -> PathBuf {
    repo_path(&format!("data/demo/{name}"))
}

fn demo_files() -> Vec<PathBuf> {
    [
        "stitch_station1.dcm",
        "stitch_station2.dcm",
        "stitch_station3.dcm",
        "ct_small.dcm",
    ]
    .iter()
    .map(|n| demo(n))
    .collect()
}

fn port_arg(scp: &Scp) -> String {
    scp.port.to_string()
}

fn peer(port: u16, ae: &str) -> Peer {
    Peer {
        name: "test-peer".into(),
        ae_title: ae.into(),
        address: format!("127.0.0.1:{port}"),
        calling_ae: "RADPIPE".into(),
        timeout: Duration::from_secs(10),
        max_pdu_length: 16384,
    }
}

#[test]
fn echoscu_repeat_five_on_one_association() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scp = Scp::start(config(), TestSink::new(dir.path()));
    let port = port_arg(&scp);
    let r = run(
        "echoscu",
        &[
            "-ll",
            "trace",
            "--repeat",
            "5",
            "-aet",
            "MODALITY",
            "-aec",
            "RADPIPE",
            "127.0.0.1",
            &port,
        ],
        dir.path(),
        T,
    );
    assert!(r.ok(), "echoscu failed:\n{}", r.output);
    let summaries = scp.wait(1, T);
    assert_eq!(summaries.len(), 1, "{summaries:#?}");
    let s = &summaries[0];
    assert_eq!((s.echoes, s.end.clone()), (5, AssociationEnd::Released));
    let info = s.info.clone().expect("info");
    assert_eq!(
        (info.calling_ae.as_str(), info.called_ae.as_str()),
        ("MODALITY", "RADPIPE")
    );
    // At trace level echoscu dumps every command sent and received.
    let ids = |tag: &str| -> Vec<u16> {
        r.output
            .lines()
            .filter_map(|l| l.trim_start_matches("T: ").strip_prefix(tag))
            .filter_map(|v| v.split_whitespace().next()?.parse().ok())
            .collect()
    };
    let sent = ids("(0000,0110) US");
    let answered = ids("(0000,0120) US");
    assert_eq!(sent, [1, 2, 3, 4, 5], "{}", r.output);
    assert_eq!(answered, sent, "{}", r.output);
    assert_eq!(scp.events(), [Event::Released(info)]);
    scp.stop();
}

/// A raw client on dicom-ul's association sending C-ECHO-RQs with chosen Message IDs through our own
/// codec: each response answers its own request's ID (dicom-ul's example storescp answers with a
/// stale one).
#[test]
fn every_echo_response_answers_its_own_message_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scp = Scp::start(config(), TestSink::new(dir.path()));
    let mut assoc = dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title("RAW")
        .called_ae_title("ROUTE1")
        .with_presentation_context(radpipe::serve::dimse::VERIFICATION, vec![IMPLICIT_LE])
        .read_timeout(Duration::from_secs(10))
        .establish(("127.0.0.1", scp.port))
        .expect("association");
    let mut scratch = Vec::new();
    for id in [7u16, 300, 65535, 1] {
        let bytes = message::echo_rq(id).encode();
        pdata::send_fragments(
            assoc.inner_stream(),
            &mut scratch,
            1,
            true,
            &bytes,
            true,
            1018,
        )
        .expect("send");
        let Pdu::PData { data } = assoc.receive().expect("response") else {
            panic!("not P-DATA");
        };
        let set = CommandSet::decode(&data[0].data).expect("command");
        let rsp = Response::read(&set).expect("response");
        assert_eq!(
            (rsp.command_field, rsp.responding_to, rsp.status),
            (message::C_ECHO_RSP, id, 0)
        );
    }
    assoc.release().expect("release");
    let s = scp.wait(1, T);
    assert_eq!(
        (s[0].echoes, s[0].end.clone()),
        (4, AssociationEnd::Released)
    );
    scp.stop();
}

#[test]
fn storescu_files_arrive_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config();
    cfg.max_pdu_length = 4096; // many fragments per data set
    let scp = Scp::start(cfg, TestSink::new(dir.path()));
    let files = demo_files();
    let mut args = vec!["-v", "-aet", "MODALITY", "-aec", "RADPIPE", "127.0.0.1"];
    let port = port_arg(&scp);
    args.push(&port);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(|s| s.as_str()));
    let r = run("storescu", &args, dir.path(), T);
    assert!(r.ok(), "storescu failed:\n{}", r.output);
    assert_eq!(
        r.output
            .matches("Received Store Response (Success)")
            .count(),
        4,
        "{}",
        r.output
    );
    let s = scp.wait(1, T);
    assert_eq!(
        (s[0].stored, s[0].refused, s[0].end.clone()),
        (4, 0, AssociationEnd::Released)
    );
    let events = scp.events();
    let mut total = 0;
    for (i, file) in files.iter().enumerate() {
        let Event::Begin(req) = &events[2 * i] else {
            panic!("event {} is not a begin: {events:#?}", 2 * i);
        };
        let Event::Finish(uid, written) = &events[2 * i + 1] else {
            panic!("event {} is not a finish: {events:#?}", 2 * i + 1);
        };
        let want = harness::data_set_of(file);
        assert_eq!(&req.sop_instance_uid, uid);
        assert_eq!(req.transfer_syntax, EXPLICIT_LE);
        assert_eq!(req.sop_class_uid, if i < 3 { CR } else { CT });
        assert_eq!(req.message_id as usize, i + 1);
        let got = std::fs::read(written).expect("written");
        harness::assert_as_storescu_sends(&got, &want, file);
        total += got.len() as u64;
    }
    assert_eq!(s[0].bytes, total);
    assert!(
        matches!(events.last(), Some(Event::Released(_))),
        "{events:#?}"
    );
    scp.stop();
}

#[test]
fn wrong_called_title_and_foreign_caller_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config();
    cfg.allowed_callers = vec!["MODALITY".into()];
    let scp = Scp::start(cfg, TestSink::new(dir.path()));
    let port = port_arg(&scp);
    let ct = demo("ct_small.dcm").display().to_string();
    let wrong_called = run(
        "echoscu",
        &["-aet", "MODALITY", "-aec", "NOBODY", "127.0.0.1", &port],
        dir.path(),
        T,
    );
    let foreign = run(
        "storescu",
        &[
            "-aet",
            "STRANGER",
            "-aec",
            "RADPIPE",
            "127.0.0.1",
            &port,
            &ct,
        ],
        dir.path(),
        T,
    );
    for (r, reason) in [
        (&wrong_called, "Called AE Title Not Recognized"),
        (&foreign, "Calling AE Title Not Recognized"),
    ] {
        assert!(r.status.is_some() && !r.ok(), "not refused:\n{}", r.output);
        assert!(r.output.contains("Association Rejected"), "{}", r.output);
        assert!(r.output.contains(reason), "{}", r.output);
    }
    let s = scp.wait(2, T);
    let ends: Vec<_> = s.iter().map(|s| s.end.clone()).collect();
    assert!(
        matches!(&ends[0], AssociationEnd::Rejected(w) if w.contains("NOBODY")),
        "{ends:?}"
    );
    assert!(
        matches!(&ends[1], AssociationEnd::Rejected(w) if w.contains("STRANGER")),
        "{ends:?}"
    );
    assert_eq!(
        s[1].info.as_ref().map(|i| i.calling_ae.as_str()),
        Some("STRANGER")
    );
    assert!(scp.events().is_empty(), "{:#?}", scp.events());
    scp.stop();
}

#[test]
fn unsupported_class_or_syntax_is_rejected_per_context() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config();
    cfg.storage_classes = vec![CT.into()];
    let scp = Scp::start(cfg, TestSink::new(dir.path()));
    let port = port_arg(&scp);
    let cr = demo("stitch_station1.dcm").display().to_string();
    // -R: propose only the file's own class (CR), which is not accepted.
    let r = run(
        "storescu",
        &["-d", "-R", "-aec", "RADPIPE", "127.0.0.1", &port, &cr],
        dir.path(),
        T,
    );
    assert!(!r.ok(), "storescu succeeded:\n{}", r.output);
    assert!(
        r.output.contains("Abstract Syntax Not Supported"),
        "{}",
        r.output
    );
    assert!(
        r.output.contains("No Acceptable Presentation Contexts"),
        "{}",
        r.output
    );
    // A class we take, but in a syntax we do not: JPEG Baseline only.
    let mut cfg = config();
    cfg.transfer_syntaxes = vec!["1.2.840.10008.1.2.4.50".into()];
    let jpeg_only = Scp::start(cfg, TestSink::new(dir.path()));
    let port = port_arg(&jpeg_only);
    let ct = demo("ct_small.dcm").display().to_string();
    let r = run(
        "storescu",
        &["-d", "-R", "-aec", "RADPIPE", "127.0.0.1", &port, &ct],
        dir.path(),
        T,
    );
    assert!(!r.ok(), "storescu succeeded:\n{}", r.output);
    assert!(
        r.output.contains("Transfer Syntaxes Not Supported"),
        "{}",
        r.output
    );
    for scp in [scp, jpeg_only] {
        let s = scp.wait(1, T);
        assert_eq!((s[0].stored, s[0].refused), (0, 0), "{s:#?}");
        assert!(
            scp.events().iter().all(|e| !matches!(e, Event::Begin(_))),
            "{:#?}",
            scp.events()
        );
        scp.stop();
    }
}

#[test]
fn sink_refusals_and_the_size_cap_reach_storescu() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ct = demo("ct_small.dcm").display().to_string();
    let mut refusing = TestSink::new(dir.path());
    refusing.refuse = Some(StoreStatus::out_of_resources("disk full"));
    let scp = Scp::start(config(), refusing);
    let r = run(
        "storescu",
        &["-v", "-aec", "RADPIPE", "127.0.0.1", &port_arg(&scp), &ct],
        dir.path(),
        T,
    );
    assert!(r.output.contains("Refused: OutOfResources"), "{}", r.output);
    let s = scp.wait(1, T);
    assert_eq!((s[0].stored, s[0].refused), (0, 1), "{s:#?}");
    let events = scp.events();
    assert!(
        matches!(events.as_slice(), [Event::Begin(_), Event::Released(_)]),
        "{events:#?}"
    );
    scp.stop();

    let mut cfg = config();
    cfg.max_instance_bytes = 1000;
    let scp = Scp::start(cfg, TestSink::new(dir.path()));
    let cr = demo("stitch_station1.dcm").display().to_string();
    let r = run(
        "storescu",
        &[
            "-v",
            "-nh",
            "-aec",
            "RADPIPE",
            "127.0.0.1",
            &port_arg(&scp),
            &ct,
            &cr,
        ],
        dir.path(),
        T,
    );
    assert_eq!(
        r.output.matches("Refused: OutOfResources").count(),
        2,
        "{}",
        r.output
    );
    let s = scp.wait(1, T);
    assert_eq!(
        (s[0].stored, s[0].refused, s[0].end.clone()),
        (0, 2, AssociationEnd::Released)
    );
    let events = scp.events();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::Begin(_),
                Event::Discard,
                Event::Begin(_),
                Event::Discard,
                Event::Released(_)
            ]
        ),
        "{events:#?}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
        .collect();
    assert!(left.is_empty(), "discarded data sets left behind: {left:?}");
    scp.stop();
}

#[test]
fn storescu_abort_reaches_the_sink_as_aborted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scp = Scp::start(config(), TestSink::new(dir.path()));
    let ct = demo("ct_small.dcm").display().to_string();
    let r = run(
        "storescu",
        &[
            "--abort",
            "-aec",
            "RADPIPE",
            "127.0.0.1",
            &port_arg(&scp),
            &ct,
        ],
        dir.path(),
        T,
    );
    assert!(r.ok(), "{}", r.output);
    let s = scp.wait(1, T);
    assert!(
        matches!(&s[0].end, AssociationEnd::Aborted(w) if w.contains("A-ABORT")),
        "{s:#?}"
    );
    assert_eq!(s[0].stored, 1);
    let events = scp.events();
    assert!(
        matches!(events.last(), Some(Event::Aborted(_))),
        "{events:#?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Released(_))),
        "{events:#?}"
    );
    scp.stop();
}
