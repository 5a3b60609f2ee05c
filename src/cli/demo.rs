//! `radpipe demo`: the library's workflows on the bundled data, saying where the outputs went.

use std::path::{Path, PathBuf};

use radpipe::ops::window::WindowRequest;
use radpipe::workflow::window::window_file;
use radpipe::{Engine, Error};

/// Arguments of `radpipe demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "radpipe-demo")]
    out: PathBuf,
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

/// Runs every demo step.
pub fn run(args: &DemoArgs) -> Result<(), Error> {
    let out = &args.out;
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
            "  window  {} -> {}  ({}x{}, {} {:?}{})",
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
