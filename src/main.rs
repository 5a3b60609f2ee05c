//! The `radpipe` command line: parse arguments, call the library, report. No image maths here.
//! Errors print one line naming the file and the problem and exit non-zero; nothing panics.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use radpipe::ops::window::WindowRequest;
use radpipe::transforms::VoiFunction;
use radpipe::workflow::window::window_file;
use radpipe::{Engine, Error};

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
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Apply the Modality LUT and a VOI window (DICOM PS3.3 C.11) for display.
    Window {
        /// Input: DICOM, PNG, TIFF or JPEG.
        input: PathBuf,
        /// Output: .png, .tif, .dcm or .raw (by extension).
        #[arg(short, long)]
        output: PathBuf,
        /// Window centre (with --width); default: the file's window, else its VOI LUT, else min–max.
        #[arg(long, allow_negative_numbers = true)]
        center: Option<f64>,
        /// Window width (with --center).
        #[arg(long, allow_negative_numbers = true)]
        width: Option<f64>,
        /// VOI LUT function; default: the file's, else linear.
        #[arg(long, value_enum)]
        function: Option<FunctionArg>,
        /// Output bits: 8, 12 (0..4095) or 16.
        #[arg(long, default_value_t = 8)]
        bits: u32,
        /// Frame of a multi-frame file (0-based).
        #[arg(long, default_value_t = 0)]
        frame: u32,
    },
    /// Run the demo on the bundled data and say where the outputs are.
    Demo {
        /// Output folder.
        #[arg(long, default_value = "radpipe-demo")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FunctionArg {
    Linear,
    LinearExact,
    Sigmoid,
}

impl From<FunctionArg> for VoiFunction {
    fn from(f: FunctionArg) -> Self {
        match f {
            FunctionArg::Linear => VoiFunction::Linear,
            FunctionArg::LinearExact => VoiFunction::LinearExact,
            FunctionArg::Sigmoid => VoiFunction::Sigmoid,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("radpipe: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Info { json } => info(json),
        Command::Window {
            input,
            output,
            center,
            width,
            function,
            bits,
            frame,
        } => {
            let engine = Engine::new()?;
            let request = WindowRequest {
                center,
                width,
                function: function.map(Into::into),
                bits,
            };
            let report = window_file(&engine, &input, &output, &request, frame)?;
            println!(
                "{} -> {} ({}x{}, {} bits, {} window {} from {:?}{})",
                input.display(),
                output.display(),
                report.width,
                report.height,
                report.bits,
                report.function,
                match (report.center, report.width_window) {
                    (Some(c), Some(w)) => format!("C={c} W={w}"),
                    _ => "table".to_string(),
                },
                report.source,
                if report.inverted {
                    ", MONOCHROME1 inverted"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Command::Demo { out } => demo(&out),
    }
}

fn info(json: bool) -> Result<(), Error> {
    let adapters = Engine::list_adapters();
    let chosen = Engine::new().map(|e| e.summary());
    if json {
        let value = serde_json::json!({
            "adapters": adapters,
            "chosen": chosen.as_ref().ok(),
            "error": chosen.as_ref().err().map(ToString::to_string),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("adapters:");
        for a in &adapters {
            println!(
                "  {} [{}; {}; {}]",
                a.name, a.backend, a.device_type, a.driver
            );
        }
        match &chosen {
            Ok(c) => println!("chosen: {} [{}; {}]", c.name, c.backend, c.device_type),
            Err(e) => println!("chosen: none ({e})"),
        }
    }
    chosen.map(|_| ())
}

/// The bundled data: `data/demo` beside the working directory, else in the source tree.
fn demo_data() -> PathBuf {
    let local = PathBuf::from("data/demo");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo")
    }
}

fn demo(out: &Path) -> Result<(), Error> {
    let data = demo_data();
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let engine = Engine::new()?;
    let s = engine.summary();
    println!(
        "radpipe demo on {} ({}, {})",
        s.name, s.backend, s.device_type
    );
    let jobs: [(&str, &str, WindowRequest); 3] = [
        (
            "ct_small.dcm",
            "ct_small_window.png",
            WindowRequest::default(),
        ),
        (
            "ct_small.dcm",
            "ct_small_soft_tissue.png",
            WindowRequest {
                center: Some(40.0),
                width: Some(400.0),
                ..WindowRequest::default()
            },
        ),
        (
            "cr_chest.dcm",
            "cr_chest_window.png",
            WindowRequest::default(),
        ),
    ];
    for (input, output, request) in jobs {
        let input = data.join(input);
        let output = out.join(output);
        let r = window_file(&engine, &input, &output, &request, 0)?;
        println!(
            "  {} -> {}  ({}x{}, {} {:?}{})",
            input.display(),
            output.display(),
            r.width,
            r.height,
            r.function,
            r.source,
            if r.inverted {
                ", MONOCHROME1 inverted"
            } else {
                ""
            }
        );
    }
    let stats = engine.stats();
    println!(
        "outputs in {}/ — {} submissions, {} readbacks, {} pipelines built",
        out.display(),
        stats.submissions,
        stats.readbacks,
        stats.pipelines_created
    );
    Ok(())
}
