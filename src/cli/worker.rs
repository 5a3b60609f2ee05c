//! `radpipe worker --config NODE.toml`: one queue worker on one GPU ([`radpipe::serve::cluster`]),
//! until SIGINT or SIGTERM; then it finishes or hands back the jobs in hand and exits 0.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use radpipe::Error;
use radpipe::serve::config::Node;

/// Arguments of `radpipe worker`.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The node's configuration file, with `queue = "nats://…"` (docs/cluster.md).
    #[arg(long)]
    config: PathBuf,
    /// This worker's name in `radpipe status` (default: the config's `name`, else host-pid).
    #[arg(long)]
    name: Option<String>,
}

/// Runs the worker.
pub fn run(args: &WorkerArgs) -> Result<(), Error> {
    let node = Node::read(&args.config)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::InvalidParams(format!("cannot install the signal handler: {e}")))?;
    }
    radpipe::serve::cluster::worker::run(&node, args.name.clone(), stop)
}
