//! `radpipe status --queue nats://…`: receivers, workers, queue depth and dead letters of a
//! cluster ([`radpipe::serve::cluster::status`]).

use radpipe::Error;

/// Arguments of `radpipe status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The queue server (`nats://host:port`).
    #[arg(long)]
    queue: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints the cluster's state.
pub fn run(args: &StatusArgs) -> Result<(), Error> {
    let status = radpipe::serve::cluster::status::read(&args.queue)?;
    if args.json {
        let text = serde_json::to_string_pretty(&status)
            .map_err(|e| Error::InvalidParams(format!("cannot serialise the status: {e}")))?;
        println!("{text}");
    } else {
        print!("{status}");
    }
    Ok(())
}
