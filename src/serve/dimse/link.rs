//! Whole PDUs on a stream, with every limit enforced before the peer's claims cost anything.
//!
//! dicom-ul's `read_pdu_from_wire` grows its buffer until the PDU its header announces is complete;
//! only its "strict" mode refuses a length over the maximum, and its server `establish` closes the
//! socket on such an error without an A-ABORT. Here the 6-byte PDU header is read first, its length is
//! checked against the caller's cap, and only then is the body read into a reused buffer — so a peer
//! claiming 2 GB costs nothing. Each `read` call waits at most the idle timeout and never past the
//! association deadline (both set as socket read timeouts, so a stalled or slow-dripping peer is cut
//! off on time); writes wait at most the idle timeout.
//!
//! The stream is a [`Transport`]: plain TCP or TLS over it (rustls), with the `TcpStream` kept aside
//! for socket options and shutdown.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use dicom_ul::pdu::{AbortRQServiceProviderReason, AbortRQSource, Pdu};

use super::pdata;

/// What the association runs over.
pub trait Transport: Read + Write {
    /// Ends the transport's own session before the TCP shutdown (TLS: close_notify).
    fn close_notify(&mut self) {}
}

impl Transport for TcpStream {}

/// TLS over a [`TimedSocket`].
pub type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TimedSocket>;

impl Transport for TlsStream {
    fn close_notify(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

/// The TCP socket under TLS, enforcing the idle timeout and the association deadline on every
/// socket read: one plaintext `read` of a TLS stream may take many socket reads (a record dripped
/// a byte at a time), so the checks between plaintext reads in [`Link`] would not be enough.
#[derive(Debug)]
pub struct TimedSocket {
    sock: TcpStream,
    idle: Duration,
    deadline: Instant,
}

impl TimedSocket {
    /// `sock` with the same idle timeout and association deadline as the [`Link`] built over it.
    pub fn new(sock: TcpStream, idle: Duration, lifetime: Duration) -> TimedSocket {
        TimedSocket {
            sock,
            idle: idle.max(Duration::from_millis(1)),
            deadline: Instant::now() + lifetime,
        }
    }
}

impl Read for TimedSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        let wait = self.idle.min(left).max(Duration::from_millis(1));
        self.sock.set_read_timeout(Some(wait))?;
        self.sock.read(buf)
    }
}

impl Write for TimedSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// Why a PDU could not be read or written.
#[derive(Debug)]
pub enum LinkError {
    /// The peer closed the connection between PDUs.
    Closed,
    /// The peer closed the connection inside a PDU.
    Truncated,
    /// Nothing arrived for the idle timeout.
    Idle(Duration),
    /// The association lasted longer than its deadline allows.
    Deadline(Duration),
    /// A PDU header claimed more bytes than we accept.
    TooLong {
        /// The PDU type byte.
        pdu_type: u8,
        /// The length it claimed.
        length: u32,
        /// Our cap.
        cap: u32,
    },
    /// Any other I/O error (TLS errors among them).
    Io(io::Error),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Closed => f.write_str("connection closed by the peer"),
            LinkError::Truncated => f.write_str("connection closed by the peer inside a PDU"),
            LinkError::Idle(d) => write!(f, "idle timeout: nothing received for {d:?}"),
            LinkError::Deadline(d) => write!(f, "association timeout: open longer than {d:?}"),
            LinkError::TooLong {
                pdu_type,
                length,
                cap,
            } => write!(
                f,
                "PDU of type {pdu_type:02X}H claims {length} bytes, more than our maximum of {cap}"
            ),
            LinkError::Io(e) => write!(f, "connection error: {e}"),
        }
    }
}

/// A stream carrying PDUs, with its timeouts.
pub struct Link<S: Transport> {
    stream: S,
    socket: TcpStream,
    idle: Duration,
    lifetime: Duration,
    deadline: Instant,
    scratch: Vec<u8>,
}

impl<S: Transport> Link<S> {
    /// A link over `stream`, whose TCP socket (a clone of the one under `stream`) is `socket`.
    /// The association deadline is `lifetime` from now.
    pub fn new(stream: S, socket: TcpStream, idle: Duration, lifetime: Duration) -> Link<S> {
        let idle = idle.max(Duration::from_millis(1));
        let _ = socket.set_write_timeout(Some(idle));
        let _ = socket.set_nodelay(true);
        Link {
            stream,
            socket,
            idle,
            lifetime,
            deadline: Instant::now() + lifetime,
            scratch: Vec::new(),
        }
    }

    /// Reads one PDU: returns its type and leaves its body (the bytes after the 6-byte header) in
    /// `body`. A header claiming more than `cap` bytes is refused before anything is allocated.
    pub fn read_pdu(&mut self, body: &mut Vec<u8>, cap: u32) -> Result<u8, LinkError> {
        let mut header = [0u8; pdata::PDU_HEADER];
        self.fill(&mut header, true)?;
        let length = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        if length > cap {
            return Err(LinkError::TooLong {
                pdu_type: header[0],
                length,
                cap,
            });
        }
        body.clear();
        body.resize(length as usize, 0);
        self.fill(body, false)?;
        Ok(header[0])
    }

    fn fill(&mut self, buf: &mut [u8], at_boundary: bool) -> Result<(), LinkError> {
        let mut got = 0;
        while got < buf.len() {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LinkError::Deadline(self.lifetime));
            }
            let wait = self.idle.min(left).max(Duration::from_millis(1));
            self.socket
                .set_read_timeout(Some(wait))
                .map_err(LinkError::Io)?;
            let Some(rest) = buf.get_mut(got..) else {
                break;
            };
            match self.stream.read(rest) {
                Ok(0) => {
                    return Err(if got == 0 && at_boundary {
                        LinkError::Closed
                    } else {
                        LinkError::Truncated
                    });
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.classify(e, got == 0 && at_boundary)),
            }
        }
        Ok(())
    }

    fn classify(&self, e: io::Error, at_boundary: bool) -> LinkError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                if Instant::now() >= self.deadline {
                    LinkError::Deadline(self.lifetime)
                } else {
                    LinkError::Idle(self.idle)
                }
            }
            io::ErrorKind::UnexpectedEof if at_boundary => LinkError::Closed,
            io::ErrorKind::UnexpectedEof => LinkError::Truncated,
            _ => LinkError::Io(e),
        }
    }

    /// Writes bytes (whole PDUs).
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| self.classify(e, false))
    }

    /// Encodes and sends a PDU other than P-DATA (dicom-ul's writer).
    pub fn send_pdu(&mut self, pdu: &Pdu) -> Result<(), LinkError> {
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        let r = dicom_ul::write_pdu(&mut bytes, pdu)
            .map_err(|e| LinkError::Io(io::Error::other(e.to_string())))
            .and_then(|()| self.write_all(&bytes));
        self.scratch = bytes;
        r
    }

    /// Sends a message (command or data set bytes) in fragments no longer than `limit`
    /// ([`pdata::send_fragments`]).
    pub fn send_fragments(
        &mut self,
        context_id: u8,
        is_command: bool,
        data: &[u8],
        ends_message: bool,
        limit: u32,
    ) -> Result<(), LinkError> {
        let r = pdata::send_fragments(
            &mut self.stream,
            &mut self.scratch,
            context_id,
            is_command,
            data,
            ends_message,
            limit,
        )
        .and_then(|()| self.stream.flush());
        r.map_err(|e| self.classify(e, false))
    }

    /// Sends an A-ABORT (best effort) and closes.
    pub fn abort(mut self, reason: AbortRQServiceProviderReason) {
        let _ = self.send_pdu(&Pdu::AbortRQ {
            source: AbortRQSource::ServiceProvider(reason),
        });
        self.close();
    }

    /// Closes without losing what was sent last: TLS close_notify, TCP shutdown for writing, then a
    /// short bounded drain of whatever the peer still sends (closing a socket with unread bytes makes
    /// the kernel send RST, which can discard our last PDU before the peer reads it).
    pub fn close(mut self) {
        self.stream.close_notify();
        let _ = self.socket.shutdown(Shutdown::Write);
        let until = Instant::now() + Duration::from_millis(500);
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero()
                || self
                    .socket
                    .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                    .is_err()
            {
                break;
            }
            match self.socket.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// Decodes a non-P-DATA PDU with dicom-ul's reader (the header is rebuilt from `kind` and the
/// body's length, which [`Link::read_pdu`] has already checked).
pub fn decode_pdu(kind: u8, body: &[u8]) -> Result<Pdu, String> {
    let mut whole = Vec::with_capacity(pdata::PDU_HEADER + body.len());
    whole.extend_from_slice(&[kind, 0]);
    whole.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    whole.extend_from_slice(body);
    match dicom_ul::read_pdu(&whole[..], dicom_ul::pdu::MAXIMUM_PDU_SIZE, false) {
        Ok(Some(pdu)) => Ok(pdu),
        Ok(None) => Err(format!("incomplete PDU of type {kind:02X}H")),
        Err(e) => Err(format!("malformed PDU of type {kind:02X}H: {e}")),
    }
}

/// A PDU's name, for messages.
pub fn pdu_name(pdu: &Pdu) -> String {
    match pdu {
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ".into(),
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC".into(),
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ".into(),
        Pdu::PData { .. } => "P-DATA-TF".into(),
        Pdu::ReleaseRQ => "A-RELEASE-RQ".into(),
        Pdu::ReleaseRP => "A-RELEASE-RP".into(),
        Pdu::AbortRQ { source } => format!("A-ABORT ({source:?})"),
        Pdu::Unknown { pdu_type, .. } => format!("unknown PDU type {pdu_type:02X}H"),
    }
}
