//! The `radpipe` command line: parse arguments, call the library, report. No image maths here.
//! Errors print one line naming the file and the problem and exit non-zero; nothing panics.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use radpipe::Error;

#[derive(Parser, Debug)]
#[command(
    name = "radpipe",
    version,
    about = "GPU compute pipelines for medical images"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List GPU adapters and the one radpipe would use.
    Info(cli::info::InfoArgs),
    /// Apply the Modality LUT and a VOI window (DICOM PS3.3 C.11) for display.
    Window(cli::window::WindowArgs),
    /// Run the demo on the bundled data and say where the outputs are.
    Demo(cli::demo::DemoArgs),
    /// Measure GPU throughput per op and size against the device's copy bandwidth.
    Bench(cli::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Error> = match &cli.command {
        Command::Info(a) => cli::info::run(a),
        Command::Window(a) => cli::window::run(a),
        Command::Demo(a) => cli::demo::run(a),
        Command::Bench(a) => cli::bench::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("radpipe: error: {e}");
            ExitCode::FAILURE
        }
    }
}
