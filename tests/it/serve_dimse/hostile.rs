//! Hostile peers on raw sockets: garbage, PDU headers claiming 2 GB before and after negotiation,
//! stalls before and after negotiation, a peer that keeps the association busy past its deadline.
//! Each must end with A-ABORT (or a close) within a bounded time, without a panic and without the
//! claimed length being allocated (the SCP refuses it from the 6-byte header: the summary says so),
//! and the SCP must go on serving dcmtk's echoscu afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use dicom_ul::pdu::{AssociationRQ, Pdu, PresentationContextProposed, UserVariableItem};
use radpipe::serve::dimse::{VERIFICATION, message, pdata};
use radpipe::serve::scp::{AssociationEnd, ScpConfig};

use super::harness::{Event, IMPLICIT_LE, Scp, TestSink, config, run};
use crate::common;

fn hostile_config() -> ScpConfig {
    let mut cfg = config();
    cfg.idle_timeout = Duration::from_secs(1);
    cfg.association_timeout = Duration::from_secs(3);
    cfg
}

fn connect(scp: &Scp) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", scp.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// Everything the SCP sends until it closes (bounded by the socket's 10 s read timeout), and when.
fn until_closed(mut s: TcpStream) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 1 << 20 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    (got, start.elapsed())
}

fn associate_rq() -> Vec<u8> {
    let rq = Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: "HOSTILE".into(),
        called_ae_title: "RADPIPE".into(),
        application_context_name: "1.2.840.10008.3.1.1.1".into(),
        presentation_contexts: vec![PresentationContextProposed {
            id: 1,
            abstract_syntax: VERIFICATION.into(),
            transfer_syntaxes: vec![IMPLICIT_LE.into()],
        }],
        user_variables: vec![UserVariableItem::MaxLength(16384)],
    });
    let mut bytes = Vec::new();
    dicom_ul::write_pdu(&mut bytes, &rq).expect("encode");
    bytes
}

/// Connects and negotiates by hand; returns the socket after the A-ASSOCIATE-AC.
fn associated(scp: &Scp) -> TcpStream {
    let mut s = connect(scp);
    s.write_all(&associate_rq()).expect("send rq");
    let mut header = [0u8; 6];
    s.read_exact(&mut header).expect("ac header");
    assert_eq!(header[0], 0x02, "not an A-ASSOCIATE-AC");
    let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("ac body");
    s
}

fn is_abort(bytes: &[u8]) -> bool {
    bytes
        .windows(10)
        .any(|w| w[0] == 0x07 && w[1..6] == [0, 0, 0, 0, 4])
}

fn echoscu_still_works(scp: &Scp) {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(
        "echoscu",
        &["-aec", "RADPIPE", "127.0.0.1", &scp.port.to_string()],
        dir.path(),
        Duration::from_secs(30),
    );
    assert!(r.ok(), "echoscu after the hostile peers:\n{}", r.output);
}

fn aborted_why(end: &AssociationEnd) -> &str {
    match end {
        AssociationEnd::Aborted(why) => why,
        other => panic!("not aborted: {other:?}"),
    }
}

#[test]
fn lies_and_garbage_before_negotiation_are_aborted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scp = Scp::start(hostile_config(), TestSink::new(dir.path()));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown PDU type", vec![0x09, 0, 0, 0, 0, 4, 1, 2, 3, 4]),
        ("A-ASSOCIATE-RQ claiming 2 GB", vec![0x01, 0, 0x80, 0, 0, 0]),
        (
            "P-DATA before negotiation",
            vec![0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 1, 3],
        ),
        ("truncated A-ASSOCIATE-RQ", associate_rq()[..40].to_vec()),
    ];
    for (what, bytes) in &cases {
        let mut s = connect(&scp);
        s.write_all(bytes).expect("send");
        let (reply, took) = until_closed(s);
        assert!(
            took < Duration::from_secs(4),
            "{what}: closed after {took:?}"
        );
        if *what != "truncated A-ASSOCIATE-RQ" {
            assert!(is_abort(&reply), "{what}: no A-ABORT in {reply:02x?}");
        }
    }
    let s = scp.wait(cases.len(), Duration::from_secs(30));
    assert!(
        aborted_why(&s[1].end).contains("claims 2147483648 bytes"),
        "{s:#?}"
    );
    assert!(s.iter().all(|s| s.info.is_none()), "{s:#?}");
    // Seeded random garbage: whatever it says, the connection ends within the idle timeout.
    let seed = common::seed("serve_dimse::hostile::garbage");
    let mut rng = common::Rng::new(seed);
    for _ in 0..12 {
        let len = rng.int(1, 3000) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let mut s = connect(&scp);
        let _ = s.write_all(&bytes);
        let (_, took) = until_closed(s);
        assert!(
            took < Duration::from_secs(4),
            "garbage (seed {seed}): closed after {took:?}"
        );
    }
    scp.wait(cases.len() + 12, Duration::from_secs(30));
    assert!(scp.events().is_empty(), "{:#?}", scp.events());
    echoscu_still_works(&scp);
    scp.stop();
}

#[test]
fn lies_and_stalls_after_negotiation_are_aborted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scp = Scp::start(hostile_config(), TestSink::new(dir.path()));

    let mut s = associated(&scp);
    s.write_all(&[0x04, 0, 0x80, 0, 0, 0]).expect("send");
    let (reply, took) = until_closed(s);
    assert!(
        is_abort(&reply) && took < Duration::from_secs(2),
        "{reply:02x?} after {took:?}"
    );

    let stalled = associated(&scp);
    let (reply, took) = until_closed(stalled);
    assert!(is_abort(&reply), "{reply:02x?}");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // Busy but past the association deadline: an echo every 300 ms.
    let mut busy = associated(&scp);
    let mut scratch = Vec::new();
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < Duration::from_secs(6) {
        let rq = message::echo_rq(sent + 1).encode();
        if pdata::send_fragments(&mut busy, &mut scratch, 1, true, &rq, true, 16384).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    let (reply, _) = until_closed(busy);
    assert!(start.elapsed() < Duration::from_secs(6), "never cut off");
    assert!(
        is_abort(&reply) || reply.is_empty() || sent > 0,
        "{reply:02x?}"
    );

    let stall_before = connect(&scp);
    let (_, took) = until_closed(stall_before);
    assert!(took < Duration::from_secs(3), "{took:?}");

    let s = scp.wait(4, Duration::from_secs(30));
    assert!(
        aborted_why(&s[0].end).contains("claims 2147483648 bytes"),
        "{s:#?}"
    );
    assert!(aborted_why(&s[1].end).contains("idle timeout"), "{s:#?}");
    assert!(
        aborted_why(&s[2].end).contains("association timeout"),
        "{s:#?}"
    );
    assert!(s[2].echoes >= 5, "{s:#?}");
    assert!(aborted_why(&s[3].end).contains("idle timeout"), "{s:#?}");
    assert!(s[3].info.is_none());
    let aborted = scp
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Aborted(_)))
        .count();
    assert_eq!(aborted, 3, "{:#?}", scp.events());
    echoscu_still_works(&scp);
    scp.stop();
}

#[test]
fn a_pdu_dripped_a_byte_at_a_time_meets_the_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scp = Scp::start(hostile_config(), TestSink::new(dir.path()));
    let s = associated(&scp);
    let mut writer = s.try_clone().expect("clone");
    let start = Instant::now();
    let dripping = std::thread::spawn(move || {
        let _ = writer.write_all(&[0x04, 0, 0, 0, 0x03, 0xE8]);
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(300));
            if writer.write_all(&[0]).is_err() {
                break;
            }
        }
    });
    let (reply, took) = until_closed(s);
    dripping.join().expect("dripping thread");
    assert!(is_abort(&reply), "{reply:02x?}");
    assert!(took < Duration::from_secs(5), "cut off only after {took:?}");
    let s = scp.wait(1, Duration::from_secs(30));
    assert!(
        aborted_why(&s[0].end).contains("association timeout"),
        "{s:#?}"
    );
    assert!(start.elapsed() < Duration::from_secs(15));
    scp.stop();
}
