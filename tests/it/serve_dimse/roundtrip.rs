//! radpipe to radpipe: the SCU's store into the SCP (byte for byte, many fragments), the Explicit VR
//! Little Endian fallback for an Implicit VR file when the SCP does not take Implicit VR, and the SCP
//! behind TLS with dcmtk's echoscu and storescu as TLS clients.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use radpipe::serve::scu;

use super::harness::{self, CT, EXPLICIT_LE, Event, IMPLICIT_LE, Scp, TestSink, config, run};
use super::{demo, demo_files, peer};

const T: Duration = Duration::from_secs(30);

#[test]
fn scu_to_scp_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config();
    cfg.max_pdu_length = 1024; // announced 1024: the SCU must cut every data set into ~1 KB PDUs
    let scp = Scp::start(cfg, TestSink::new(dir.path()));
    let files = demo_files();
    let mut p = peer(scp.port, "RADPIPE");
    p.max_pdu_length = 4096;
    let sent = scu::store(&p, &files).expect("store");
    assert!(sent.iter().all(|s| s.status == 0), "{sent:?}");
    scu::echo(&p).expect("echo");
    let s = scp.wait(2, T);
    assert_eq!((s[0].stored, s[1].echoes), (4, 1), "{s:#?}");
    let finished: Vec<_> = scp
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Finish(_, path) => Some(path),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 4);
    for (file, got) in files.iter().zip(&finished) {
        let got = std::fs::read(got).expect("read");
        assert!(got == harness::data_set_of(file), "{}", file.display());
    }
    scp.stop();
}

/// dcmdump's text of a file's data set: standard elements in full, private ones (odd groups, whose
/// VR an Implicit VR file does not carry) by tag only.
fn dump(file: &Path, dir: &Path) -> String {
    let r = run("dcmdump", &[&file.display().to_string()], dir, T);
    assert!(r.ok(), "{}", r.output);
    r.output
        .lines()
        .filter(|l| l.trim_start().starts_with('(') && !l.contains("(0002,"))
        .map(|l| {
            let tag = l.trim_start().get(0..11).unwrap_or(l);
            let private =
                u16::from_str_radix(tag.get(1..5).unwrap_or("0"), 16).is_ok_and(|g| g % 2 == 1);
            // Sequences and items: dicom-rs writes them with undefined length, the file has
            // explicit lengths — compare tag and VR only.
            let container = l.contains(" SQ (") || l.contains(" na (");
            if private {
                tag.to_string()
            } else if container {
                l.trim_end()
                    .get(..l.find(" (").unwrap_or(l.len()))
                    .unwrap_or(l)
                    .to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn implicit_file_goes_as_explicit_when_the_peer_takes_only_explicit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let implicit = dir.path().join("implicit.dcm");
    let original = demo("ct_small.dcm");
    let r = run(
        "dcmconv",
        &[
            "+ti",
            &original.display().to_string(),
            &implicit.display().to_string(),
        ],
        dir.path(),
        T,
    );
    assert!(r.ok(), "{}", r.output);
    let mut cfg = config();
    cfg.transfer_syntaxes = vec![EXPLICIT_LE.into()];
    let scp = Scp::start(cfg, TestSink::new(dir.path()));
    let sent =
        scu::store(&peer(scp.port, "RADPIPE"), std::slice::from_ref(&implicit)).expect("store");
    assert_eq!(sent[0].status, 0, "{sent:?}");
    scp.wait(1, T);
    let events = scp.events();
    let Some(Event::Begin(req)) = events.first() else {
        panic!("{events:#?}");
    };
    assert_eq!(
        (req.sop_class_uid.as_str(), req.transfer_syntax.as_str()),
        (CT, EXPLICIT_LE)
    );
    let Some(Event::Finish(_, received)) = events.get(1) else {
        panic!("{events:#?}");
    };
    // The received data set behind the original file's own (Explicit VR) preamble and meta group is
    // the same object as the original.
    let bytes = std::fs::read(&original).expect("read");
    let meta_end = bytes.len() - harness::data_set_of(&original).len();
    let mut rebuilt = bytes[..meta_end].to_vec();
    rebuilt.extend_from_slice(&std::fs::read(received).expect("read"));
    let rebuilt_path = dir.path().join("rebuilt.dcm");
    std::fs::write(&rebuilt_path, rebuilt).expect("write");
    assert_eq!(dump(&rebuilt_path, dir.path()), dump(&original, dir.path()));
    scp.stop();

    // A peer taking only Implicit VR gets the Implicit VR file as it is.
    let mut cfg = config();
    cfg.transfer_syntaxes = vec![IMPLICIT_LE.into()];
    let scp = Scp::start(cfg, TestSink::new(dir.path()));
    let sent =
        scu::store(&peer(scp.port, "RADPIPE"), std::slice::from_ref(&implicit)).expect("store");
    assert_eq!(sent[0].status, 0, "{sent:?}");
    scp.wait(1, T);
    let events = scp.events();
    let Some(Event::Finish(_, received)) = events.get(1) else {
        panic!("{events:#?}");
    };
    assert!(std::fs::read(received).expect("read") == harness::data_set_of(&implicit));
    // An Explicit VR file has no fallback towards an Implicit-only peer: reported, not sent.
    let sent = scu::store(&peer(scp.port, "RADPIPE"), &[original]).expect("store");
    assert_eq!(sent[0].status, 0x0122, "{sent:?}");
    scp.stop();
}

fn tls_config(dir: &Path) -> (Arc<rustls::ServerConfig>, String) {
    let (cert, key) = crate::common::procs::self_signed_cert(dir);
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs =
        vec![CertificateDer::from_pem_slice(&std::fs::read(&cert).expect("cert")).expect("pem")];
    let key_der = PrivateKeyDer::from_pem_slice(&std::fs::read(&key).expect("key")).expect("pem");
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .expect("server config");
    (Arc::new(cfg), cert.display().to_string())
}

#[test]
fn tls_with_dcmtk_clients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tls, cert) = tls_config(dir.path());
    let mut cfg = config();
    cfg.tls = Some(tls);
    cfg.idle_timeout = Duration::from_secs(1);
    cfg.association_timeout = Duration::from_secs(3);
    let scp = Scp::start(cfg, TestSink::new(dir.path()));
    let port = scp.port.to_string();
    let r = run(
        "echoscu",
        &["+tla", "+cf", &cert, "-aec", "RADPIPE", "127.0.0.1", &port],
        dir.path(),
        T,
    );
    assert!(r.ok(), "echoscu over TLS:\n{}", r.output);
    let ct = demo("ct_small.dcm");
    let r = run(
        "storescu",
        &[
            "+tla",
            "+cf",
            &cert,
            "-aec",
            "RADPIPE",
            "127.0.0.1",
            &port,
            &ct.display().to_string(),
        ],
        dir.path(),
        T,
    );
    assert!(r.ok(), "storescu over TLS:\n{}", r.output);
    // A plain client towards the TLS port fails and does not hang the SCP.
    let r = run(
        "echoscu",
        &["-to", "5", "-aec", "RADPIPE", "127.0.0.1", &port],
        dir.path(),
        T,
    );
    assert!(
        !r.ok(),
        "plain echoscu got through a TLS port:\n{}",
        r.output
    );
    // A TLS record header announcing 16 KB, then one byte every 300 ms: never idle, but the
    // deadline must still cut it off (one TLS read is many socket reads).
    let mut drip = std::net::TcpStream::connect(("127.0.0.1", scp.port)).expect("connect");
    drip.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut writer = drip.try_clone().expect("clone");
    let start = std::time::Instant::now();
    let dripping = std::thread::spawn(move || {
        let _ = writer.write_all(&[0x16, 0x03, 0x01, 0x40, 0x00]);
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(300));
            if writer.write_all(&[0]).is_err() {
                break;
            }
        }
    });
    let mut sink = Vec::new();
    let _ = drip.read_to_end(&mut sink);
    let took = start.elapsed();
    dripping.join().expect("dripping thread");
    assert!(
        took < Duration::from_secs(6),
        "a dripping TLS peer was cut off only after {took:?}"
    );
    let s = scp.wait(4, T);
    assert!(
        matches!(&s[3].end, radpipe::serve::scp::AssociationEnd::Aborted(w) if w.contains("association timeout")),
        "{s:#?}"
    );
    assert_eq!(
        (s[0].echoes, s[0].end.clone()),
        (1, radpipe::serve::scp::AssociationEnd::Released)
    );
    assert_eq!(s[1].stored, 1, "{s:#?}");
    let events = scp.events();
    let Some(received) = events.iter().find_map(|e| match e {
        Event::Finish(_, path) => Some(path),
        _ => None,
    }) else {
        panic!("{events:#?}");
    };
    let got = std::fs::read(received).expect("read");
    harness::assert_as_storescu_sends(&got, &harness::data_set_of(&ct), &ct);
    assert!(
        matches!(s[2].end, radpipe::serve::scp::AssociationEnd::Aborted(_)),
        "{s:#?}"
    );
    scp.stop();
}
