//! The node's configuration file (`radpipe serve --config NODE.toml`), read and checked in full before
//! the node binds a socket: a department finds a typo in a route when it starts the node, not when the
//! first modality sends. Unknown keys are refused (a misspelt `quiet_secods` would otherwise silently
//! be the default), every number is range-checked, every AE title checked against PS3.5's rules, every
//! route's destinations must exist, and relative paths are taken relative to the config file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::batch::spec::PipelineSpec;
use crate::stitch::StitchParams;
use crate::{Error, Result};

/// What a route does with a complete series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Stitch the series' stations into one derived image.
    Stitch,
    /// Segment each localizer and send an overlay with the scan plane.
    Segment,
    /// Run a `radpipe run` pipeline file over the series.
    Pipeline,
}

/// One `[[route]]`: the called AE title that selects it and what to do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Called AE title that selects this route.
    pub ae_title: String,
    /// The job run on each complete series.
    pub job: JobKind,
    /// For `job = "pipeline"`: the pipeline file (relative to the config file).
    pub pipeline: Option<PathBuf>,
    /// Instances that complete a series; without it only `quiet_seconds` (or the maximum age) does.
    pub expected: Option<u32>,
    /// A series is complete this long after its last instance.
    #[serde(default = "default_quiet")]
    pub quiet_seconds: f64,
    /// Stitch: refine offsets by NCC.
    #[serde(default)]
    pub refine: bool,
    /// Stitch: search range of the refinement in pixels.
    #[serde(default = "default_max_shift")]
    pub max_shift: f64,
    /// Stitch: lowest NCC accepted.
    #[serde(default = "default_min_ncc")]
    pub min_ncc: f64,
    /// Stitch: exposure compensation (none | gain | blocks | histogram).
    #[serde(default = "default_compensate")]
    pub compensate: String,
    /// Stitch: blending (linear | multiband | ...).
    #[serde(default = "default_blend")]
    pub blend: String,
    /// Stitch: pyramid levels of multiband blending.
    #[serde(default = "default_bands")]
    pub bands: u32,
    /// Segment: weights file (relative to the config file); default the bundled model.
    pub model: Option<PathBuf>,
    /// Segment: network input size.
    pub size: Option<u32>,
    /// Destination names the results go to.
    #[serde(default)]
    pub forward: Vec<String>,
}

/// One `[[destination]]`: a C-STORE SCP results are sent to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Name routes refer to.
    pub name: String,
    /// Its AE title (the called AE title of our associations).
    pub ae_title: String,
    /// `host:port`.
    pub address: String,
    /// Attempts after the first.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before the first retry; each later wait doubles (capped at ten times this).
    #[serde(default = "default_retry_seconds")]
    pub retry_seconds: f64,
    /// Connect/read timeout of one attempt.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// `address:port` to listen on; the default binds loopback only.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Spool folder (relative to the config file); created if missing.
    #[serde(default = "default_spool")]
    pub spool: PathBuf,
    /// The node's own AE title (C-ECHO, and the calling title of its own associations).
    #[serde(default = "default_ae")]
    pub ae_title: String,
    /// Calling AE titles let in; empty = any.
    #[serde(default)]
    pub allowed_callers: Vec<String>,
    /// Simultaneous associations; more are rejected (transient, local limit exceeded).
    #[serde(default = "default_max_associations")]
    pub max_associations: usize,
    /// An association with no PDU for this long is aborted.
    #[serde(default = "default_idle")]
    pub idle_timeout_seconds: f64,
    /// An association older than this is aborted.
    #[serde(default = "default_association_timeout")]
    pub association_timeout_seconds: f64,
    /// Maximum PDU length announced to peers.
    #[serde(default = "default_max_pdu")]
    pub max_pdu_length: u32,
    /// One instance larger than this is refused.
    #[serde(default = "default_max_instance_mb")]
    pub max_instance_mb: u64,
    /// C-STORE answers A700 (out of resources) when the spool's file system has less free space.
    #[serde(default = "default_min_free_mb")]
    pub min_free_mb: u64,
    /// A series is complete at the latest this long after its first instance.
    #[serde(default = "default_max_age")]
    pub max_series_age_seconds: f64,
    /// Jobs held in memory waiting for the engine; more wait on disk (state `received`).
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Adapter name (substring) for the engine; default: wgpu's high-performance choice.
    pub adapter: Option<String>,
    /// DICOM TLS certificate chain (PEM); with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// DICOM TLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// The work queue (`nats://host:port`): with it the node only receives — it stores each complete
    /// series in the queue for `radpipe worker`s to compute (docs/cluster.md). Without it the node
    /// computes itself.
    pub queue: Option<String>,
    /// This member's name in `radpipe status --queue`; default `<host>-<pid>`.
    pub name: Option<String>,
    /// `radpipe worker` settings.
    #[serde(default)]
    pub worker: WorkerConfig,
    /// Routes by called AE title.
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    /// Where results go.
    #[serde(default, rename = "destination")]
    pub destinations: Vec<Destination>,
}

/// `[worker]`: how `radpipe worker` takes jobs from the queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Adapter name (substring); default the node's `adapter`.
    pub adapter: Option<String>,
    /// PCI bus id of the adapter (`0000:17:00.0`), to pick one of several alike GPUs.
    pub pci_bus_id: Option<String>,
    /// Jobs this worker holds at once (one computes, the others are fetched ahead).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// A job neither acked nor reported in progress for this long goes to another worker.
    #[serde(default = "default_ack_wait")]
    pub ack_wait_seconds: f64,
    /// Attempts per job; a job that failed (or whose worker died) this often goes to the
    /// dead-letter stream with the reason.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            adapter: None,
            pci_bus_id: None,
            max_in_flight: default_in_flight(),
            ack_wait_seconds: default_ack_wait(),
            attempts: default_attempts(),
        }
    }
}

fn default_in_flight() -> usize {
    2
}
fn default_ack_wait() -> f64 {
    30.0
}
fn default_attempts() -> u32 {
    3
}

fn default_listen() -> String {
    "127.0.0.1:11112".into()
}
fn default_spool() -> PathBuf {
    "spool".into()
}
fn default_ae() -> String {
    "RADPIPE".into()
}
fn default_quiet() -> f64 {
    10.0
}
fn default_max_shift() -> f64 {
    StitchParams::default().max_shift
}
fn default_min_ncc() -> f64 {
    StitchParams::default().min_ncc
}
fn default_compensate() -> String {
    "gain".into()
}
fn default_blend() -> String {
    "linear".into()
}
fn default_bands() -> u32 {
    StitchParams::default().bands
}
fn default_retries() -> u32 {
    5
}
fn default_retry_seconds() -> f64 {
    5.0
}
fn default_timeout() -> f64 {
    30.0
}
fn default_max_associations() -> usize {
    16
}
fn default_idle() -> f64 {
    60.0
}
fn default_association_timeout() -> f64 {
    3600.0
}
fn default_max_pdu() -> u32 {
    65_536
}
fn default_max_instance_mb() -> u64 {
    1024
}
fn default_min_free_mb() -> u64 {
    512
}
fn default_max_age() -> f64 {
    3600.0
}
fn default_queue() -> usize {
    64
}

/// A checked configuration with resolved paths.
#[derive(Debug, Clone)]
pub struct Node {
    /// The file as written.
    pub raw: NodeConfig,
    /// Where it was read from.
    pub path: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Spool folder, resolved.
    pub spool: PathBuf,
    /// Routes with their stitch parameters and pipeline read.
    pub routes: Vec<ResolvedRoute>,
    /// TLS certificate chain and key, resolved.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// A route with everything a job needs.
#[derive(Debug, Clone)]
pub struct ResolvedRoute {
    /// As written.
    pub route: Route,
    /// Stitch parameters (stitch routes).
    pub stitch: StitchParams,
    /// The pipeline file, resolved and parsed (pipeline routes).
    pub pipeline: Option<(PathBuf, PipelineSpec)>,
    /// The weights file, resolved (segment routes).
    pub model: Option<PathBuf>,
    /// Indexes into `raw.destinations`.
    pub forward: Vec<usize>,
}

impl Node {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Node> {
        let text = crate::io::gate::read_to_string(path, crate::io::gate::InputKind::Text)?;
        Node::parse(&text, path)
    }

    /// Parses and checks `text` as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Node> {
        let bad = |m: String| Error::format(path, m);
        let raw: NodeConfig = toml::from_str(text).map_err(|e| bad(one_line(&e.to_string())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let listen: SocketAddr = raw.listen.parse().map_err(|_| {
            bad(format!(
                "listen = {:?} is not an address:port (for example \"127.0.0.1:11112\")",
                raw.listen
            ))
        })?;
        check_ae(&raw.ae_title, "ae_title").map_err(bad)?;
        for c in &raw.allowed_callers {
            check_ae(c, "allowed_callers").map_err(bad)?;
        }
        positive(raw.idle_timeout_seconds, "idle_timeout_seconds").map_err(bad)?;
        positive(
            raw.association_timeout_seconds,
            "association_timeout_seconds",
        )
        .map_err(bad)?;
        positive(raw.max_series_age_seconds, "max_series_age_seconds").map_err(bad)?;
        if raw.max_associations == 0 || raw.max_associations > 1024 {
            return Err(bad(format!(
                "max_associations = {} must be between 1 and 1024",
                raw.max_associations
            )));
        }
        if raw.queue_capacity == 0 || raw.queue_capacity > 100_000 {
            return Err(bad(format!(
                "queue_capacity = {} must be between 1 and 100000",
                raw.queue_capacity
            )));
        }
        // PS3.8 9.3.1: 0 means unlimited, which a bounded node cannot offer; below 4096 is unusable.
        if !(4096..=16 * 1024 * 1024).contains(&raw.max_pdu_length) {
            return Err(bad(format!(
                "max_pdu_length = {} must be between 4096 and 16777216 bytes",
                raw.max_pdu_length
            )));
        }
        if raw.max_instance_mb == 0 || raw.max_instance_mb > 4096 {
            return Err(bad(format!(
                "max_instance_mb = {} must be between 1 and 4096",
                raw.max_instance_mb
            )));
        }
        if let Some(q) = &raw.queue
            && !(q.starts_with("nats://") || q.starts_with("tls://"))
        {
            return Err(bad(format!(
                "queue = {q:?} is not a nats:// address (for example \"nats://127.0.0.1:4222\")"
            )));
        }
        let w = &raw.worker;
        if w.max_in_flight == 0 || w.max_in_flight > 64 {
            return Err(bad(format!(
                "worker max_in_flight = {} must be between 1 and 64",
                w.max_in_flight
            )));
        }
        if w.attempts == 0 || w.attempts > 100 {
            return Err(bad(format!(
                "worker attempts = {} must be between 1 and 100",
                w.attempts
            )));
        }
        positive(w.ack_wait_seconds, "worker ack_wait_seconds").map_err(bad)?;
        if raw.tls_cert.is_some() != raw.tls_key.is_some() {
            return Err(bad("tls_cert and tls_key go together".into()));
        }
        let mut names = std::collections::BTreeSet::new();
        for d in &raw.destinations {
            if d.name.trim().is_empty() || !names.insert(d.name.as_str()) {
                return Err(bad(format!(
                    "destination name {:?} is empty or used twice",
                    d.name
                )));
            }
            check_ae(&d.ae_title, &format!("destination {:?} ae_title", d.name)).map_err(bad)?;
            if d.address
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().map_or(true, |p| p == 0))
            {
                return Err(bad(format!(
                    "destination {:?}: address = {:?} is not host:port",
                    d.name, d.address
                )));
            }
            if d.retries > 100 {
                return Err(bad(format!(
                    "destination {:?}: retries = {} (at most 100)",
                    d.name, d.retries
                )));
            }
            positive(
                d.retry_seconds,
                &format!("destination {:?} retry_seconds", d.name),
            )
            .map_err(bad)?;
            positive(
                d.timeout_seconds,
                &format!("destination {:?} timeout_seconds", d.name),
            )
            .map_err(bad)?;
        }
        let mut titles = std::collections::BTreeSet::new();
        let mut routes = Vec::new();
        for r in &raw.routes {
            let what = format!("route {:?}", r.ae_title);
            check_ae(&r.ae_title, &format!("{what} ae_title")).map_err(bad)?;
            if r.ae_title.trim() == raw.ae_title.trim() || !titles.insert(r.ae_title.trim()) {
                return Err(bad(format!(
                    "{what}: the AE title is the node's own or another route's"
                )));
            }
            if r.expected == Some(0) || r.expected.is_some_and(|n| n > 10_000) {
                return Err(bad(format!("{what}: expected must be between 1 and 10000")));
            }
            positive(r.quiet_seconds, &format!("{what} quiet_seconds")).map_err(bad)?;
            let stitch = StitchParams {
                refine: r.refine,
                max_shift: r.max_shift,
                min_ncc: r.min_ncc,
                compensate: r
                    .compensate
                    .parse()
                    .map_err(|e: Error| bad(format!("{what}: {e}")))?,
                blend: r
                    .blend
                    .parse()
                    .map_err(|e: Error| bad(format!("{what}: {e}")))?,
                bands: r.bands,
                ..StitchParams::default()
            };
            stitch.check().map_err(|e| bad(format!("{what}: {e}")))?;
            let pipeline = match (r.job, &r.pipeline) {
                (JobKind::Pipeline, Some(p)) => {
                    let file = resolve(p);
                    let spec =
                        PipelineSpec::read(&file).map_err(|e| bad(format!("{what}: {e}")))?;
                    let kind = spec
                        .output_kind()
                        .map_err(|e| bad(format!("{what}: {e}")))?;
                    if kind != crate::io::OutputKind::Dicom && !r.forward.is_empty() {
                        return Err(bad(format!(
                            "{what}: {} writes {kind:?} files, which cannot be forwarded by C-STORE; \
                             give it a DICOM output",
                            file.display()
                        )));
                    }
                    Some((file, spec))
                }
                (JobKind::Pipeline, None) => {
                    return Err(bad(format!(
                        "{what}: job = \"pipeline\" needs pipeline = \"FILE\""
                    )));
                }
                (_, Some(_)) => {
                    return Err(bad(format!(
                        "{what}: pipeline = is only for job = \"pipeline\""
                    )));
                }
                (_, None) => None,
            };
            let mut forward = Vec::new();
            for name in &r.forward {
                let i = raw
                    .destinations
                    .iter()
                    .position(|d| &d.name == name)
                    .ok_or_else(|| {
                        bad(format!(
                            "{what}: forward names {name:?}, which is no [[destination]]"
                        ))
                    })?;
                forward.push(i);
            }
            routes.push(ResolvedRoute {
                route: r.clone(),
                stitch,
                pipeline,
                model: r.model.as_deref().map(resolve),
                forward,
            });
        }
        Ok(Node {
            tls: raw
                .tls_cert
                .as_deref()
                .zip(raw.tls_key.as_deref())
                .map(|(c, k)| (resolve(c), resolve(k))),
            spool: resolve(&raw.spool),
            path: path.to_path_buf(),
            listen,
            routes,
            raw,
        })
    }

    /// The route selected by a called AE title.
    pub fn route(&self, called_ae: &str) -> Option<&ResolvedRoute> {
        self.routes
            .iter()
            .find(|r| r.route.ae_title.trim() == called_ae.trim())
    }

    /// What route `called_ae` runs and the names of its destinations (a route no longer in the
    /// configuration: a pipeline job with none — the job then fails, saying so).
    pub fn job_of(&self, called_ae: &str) -> (JobKind, Vec<String>) {
        match self.route(called_ae) {
            Some(r) => (
                r.route.job,
                r.forward
                    .iter()
                    .map(|&i| self.raw.destinations[i].name.clone())
                    .collect(),
            ),
            None => (JobKind::Pipeline, Vec::new()),
        }
    }

    /// Every called AE title the node answers on: its own and each route's.
    pub fn called_titles(&self) -> Vec<String> {
        std::iter::once(self.raw.ae_title.trim().to_string())
            .chain(
                self.routes
                    .iter()
                    .map(|r| r.route.ae_title.trim().to_string()),
            )
            .collect()
    }

    /// This member's name: `name`, else `<host>-<pid>`.
    pub fn member_name(&self) -> String {
        self.raw.name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "host".into());
            format!("{host}-{}", std::process::id())
        })
    }

    /// `idle_timeout_seconds` as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.raw.idle_timeout_seconds)
    }

    /// `association_timeout_seconds` as a duration.
    pub fn association_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.raw.association_timeout_seconds)
    }
}

/// PS3.5 6.2 (AE VR): 1–16 characters of the default repertoire, no backslash or control
/// characters, not only spaces.
pub fn check_ae(title: &str, what: &str) -> std::result::Result<(), String> {
    let ok = !title.trim().is_empty()
        && title.len() <= 16
        && title
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'\\');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} = {title:?} is not an AE title (1-16 printable ASCII characters, no backslash)"
        ))
    }
}

fn positive(v: f64, what: &str) -> std::result::Result<(), String> {
    if v.is_finite() && v > 0.0 && v <= 7.0 * 86_400.0 {
        Ok(())
    } else {
        Err(format!(
            "{what} = {v} must be a number of seconds above 0 (at most a week)"
        ))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
listen = "127.0.0.1:11112"
spool = "spool"
ae_title = "RADPIPE"
allowed_callers = []
[[route]]
ae_title = "STITCH"
job = "stitch"
expected = 3
quiet_seconds = 10
refine = true
compensate = "gain"
blend = "multiband"
forward = ["PACS"]
[[destination]]
name = "PACS"
ae_title = "PACS"
address = "127.0.0.1:11113"
retries = 5
retry_seconds = 5
"#;

    #[test]
    fn the_issue_example_parses_with_paths_relative_to_the_file() {
        let n = Node::parse(EXAMPLE, Path::new("/etc/radpipe/node.toml")).expect("the example");
        assert_eq!(n.spool, Path::new("/etc/radpipe/spool"));
        assert_eq!(n.listen.port(), 11112);
        let r = n.route("STITCH").expect("the route");
        assert!(r.stitch.refine);
        assert_eq!(r.forward, vec![0]);
        assert_eq!(n.called_titles(), vec!["RADPIPE", "STITCH"]);
        assert!(n.route("RADPIPE").is_none());
    }

    #[test]
    fn the_example_in_docs_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/node.toml");
        let n = Node::read(&path).expect("docs/examples/node.toml");
        assert_eq!(n.routes.len(), 2);
        assert!(n.spool.ends_with("spool"));
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/cluster.toml");
        let n = Node::read(&path).expect("docs/examples/cluster.toml");
        assert_eq!(n.raw.queue.as_deref(), Some("nats://127.0.0.1:4222"));
        assert_eq!(n.raw.worker.max_in_flight, 2);
    }

    #[test]
    fn queue_and_worker_keys_are_checked() {
        let ok = format!("queue = \"nats://127.0.0.1:4222\"\n{EXAMPLE}");
        let n = Node::parse(&ok, Path::new("n.toml")).expect("a queue");
        assert_eq!(n.raw.worker.attempts, 3);
        for (text, word) in [
            ("queue = \"127.0.0.1:4222\"\n", "nats://"),
            ("[worker]\nmax_in_flight = 0\n", "max_in_flight"),
            ("[worker]\nattempts = 0\n", "attempts"),
            ("[worker]\nack_wait_seconds = -1\n", "ack_wait_seconds"),
            ("[worker]\nack_wiat_seconds = 3\n", "ack_wiat_seconds"),
        ] {
            // After the example's top-level keys, before its [[route]] tables.
            let text = EXAMPLE.replacen("[[route]]", &format!("{text}[[route]]"), 1);
            let e = Node::parse(&text, Path::new("n.toml"))
                .expect_err("refused")
                .to_string();
            assert!(e.contains(word), "{word}: {e}");
        }
    }

    #[test]
    fn mistakes_are_refused_with_the_key_named() {
        let cases = [
            ("quiet_secods = 3", "quiet_secods"),
            ("forward = [\"NOPE\"]", "NOPE"),
            ("bands = 0", "bands"),
            ("compensate = \"magic\"", "magic"),
        ];
        for (line, word) in cases {
            let text = EXAMPLE.replace("forward = [\"PACS\"]", line);
            let e = Node::parse(&text, Path::new("n.toml"))
                .expect_err("refused")
                .to_string();
            assert!(e.contains(word) && e.starts_with("n.toml"), "{line}: {e}");
        }
        let text = EXAMPLE.replace(
            "ae_title = \"STITCH\"",
            "ae_title = \"MUCH_TOO_LONG_TITLE\"",
        );
        assert!(Node::parse(&text, Path::new("n.toml")).is_err());
        let text = EXAMPLE.replace("127.0.0.1:11113", "nowhere");
        assert!(Node::parse(&text, Path::new("n.toml")).is_err());
        let text = EXAMPLE.replace("listen = \"127.0.0.1:11112\"", "listen = \"localhost\"");
        assert!(Node::parse(&text, Path::new("n.toml")).is_err());
    }
}
