//! `radpipe serve --config NODE.toml`: the DICOM node ([`radpipe::serve`]). It reads and checks the
//! whole configuration first, runs until SIGINT or SIGTERM, then stops (see
//! [`radpipe::serve::node`]) and exits 0. `--check` only validates the configuration.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use radpipe::Error;
use radpipe::serve::config::Node;

/// Arguments of `radpipe serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The node's configuration file (TOML; see docs/node.md).
    #[arg(long)]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

/// Runs the node.
pub fn run(args: &ServeArgs) -> Result<(), Error> {
    let node = Node::read(&args.config)?;
    if args.check {
        println!(
            "{}: ok ({} routes, {} destinations, listen {}, spool {})",
            args.config.display(),
            node.routes.len(),
            node.raw.destinations.len(),
            node.listen,
            node.spool.display()
        );
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| Error::InvalidParams(format!("cannot install the signal handler: {e}")))?;
    }
    match &node.raw.queue {
        // With a queue the node only receives; `radpipe worker`s compute (docs/cluster.md).
        Some(url) => radpipe::serve::cluster::receiver::serve(&node, url, stop, |_| {}),
        None => radpipe::serve::node::serve(&node, stop, |_| {}),
    }
}
