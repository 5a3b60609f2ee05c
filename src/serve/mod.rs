//! `radpipe serve`: a DICOM node. It owns sockets, the spool and job state; the image work is the
//! library's workflows, called on one shared [`Engine`](crate::Engine).
//!
//! - [`dimse`], [`scp`], [`scu`]: the DIMSE layer dicom-ul 0.10 lacks (command sets, C-ECHO,
//!   C-STORE) over its associations and PDUs — the receiving side and the sending side.
//! - [`config`]: the node's TOML file.
//! - [`spool`]: durable storage of received instances (temp file, fsync, rename), per association
//!   until it is released, then by series.
//! - [`series`]: grouping instances into series and deciding when a series is complete.
//! - [`jobs`]: the job queue, job status files and the job runners (stitch, segment, pipeline).
//! - [`forward`]: sending results on to the route's destinations, with retries and backoff.
//! - [`node`]: the single-process node: the worker threads and shutdown; [`listen`]: the socket.
//! - [`cluster`]: the optional NATS JetStream queue between receivers and `radpipe worker`s.

pub mod clock;
pub mod cluster;
pub mod config;
pub mod dimse;
pub mod forward;
pub mod jobs;
pub mod listen;
pub mod log;
pub mod node;
pub mod receive;
pub mod scp;
pub mod scu;
pub mod series;
pub mod spool;
pub mod tls;
