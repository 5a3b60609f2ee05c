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
    /// Run a pipeline file over a folder of images (batch mode).
    Run(cli::run::RunArgs),
    /// Measure GPU throughput per op and size against the device's copy bandwidth.
    Bench(cli::bench::BenchArgs),
    /// Histogram equalization (global or CLAHE) on the GPU.
    Equalize(cli::equalize::EqualizeArgs),
    /// Match an image's histogram to a reference image's on the GPU.
    Match(cli::match_hist::MatchArgs),
    /// Warp by an affine or perspective matrix (bilinear, OpenCV conventions) on the GPU.
    Warp(cli::warp::WarpArgs),
    /// Resize (bilinear or area averaging) on the GPU.
    Resize(cli::resize::ResizeArgs),
    /// Rotate about a centre with scale (OpenCV getRotationMatrix2D) on the GPU.
    Rotate(cli::rotate::RotateArgs),
    /// Cut a rotated rectangle out of an image as an upright image, on the GPU.
    Crop(cli::crop::CropArgs),
    /// Segment the corpus callosum (BiSeNetV2) and measure the scan-plane angle.
    Segment(cli::segment::SegmentArgs),
    /// Stitch overlapping stations (full spine, long leg) into one 16-bit image on the GPU.
    Stitch(cli::stitch::StitchArgs),
    /// Train BiSeNetV2 on image/mask folders (checkpoints every epoch, resumable).
    Train(cli::train::TrainArgs),
    /// Dice per site and angle error of a model on image/mask folders.
    Evaluate(cli::evaluate::EvaluateArgs),
    /// Run a DICOM node: receive by C-STORE, stitch/segment/run pipelines, send the results on.
    Serve(cli::serve::ServeArgs),
    /// Take jobs from a node's NATS JetStream queue and run them on one GPU.
    Worker(cli::worker::WorkerArgs),
    /// Show a queue's receivers, workers, depth and dead letters.
    Status(cli::status::StatusArgs),
    /// The budgeted decoder helper process (internal).
    #[command(name = "decode-pixels", hide = true)]
    DecodePixels(cli::decode_pixels::DecodePixelsArgs),
}

fn main() -> ExitCode {
    cli::runtime_dir::ensure();
    let cli = Cli::parse();
    if let Command::DecodePixels(a) = &cli.command {
        return ExitCode::from(cli::decode_pixels::run(a));
    }
    cli::decode_pixels::isolate();
    let result: Result<(), Error> = match &cli.command {
        Command::Info(a) => cli::info::run(a),
        Command::Window(a) => cli::window::run(a),
        Command::Demo(a) => cli::demo::run(a),
        Command::Bench(a) => cli::bench::run(a),
        Command::Run(a) => cli::run::run(a),
        Command::Equalize(a) => cli::equalize::run(a),
        Command::Match(a) => cli::match_hist::run(a),
        Command::Warp(a) => cli::warp::run(a),
        Command::Resize(a) => cli::resize::run(a),
        Command::Rotate(a) => cli::rotate::run(a),
        Command::Crop(a) => cli::crop::run(a),
        Command::Segment(a) => cli::segment::run(a),
        Command::Stitch(a) => cli::stitch::run(a),
        Command::Train(a) => cli::train::run(a),
        Command::Evaluate(a) => cli::evaluate::run(a),
        Command::Serve(a) => cli::serve::run(a),
        Command::Worker(a) => cli::worker::run(a),
        Command::Status(a) => cli::status::run(a),
        // Answered above, before isolation is turned on.
        Command::DecodePixels(_) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("radpipe: error: {e}");
            ExitCode::FAILURE
        }
    }
}
