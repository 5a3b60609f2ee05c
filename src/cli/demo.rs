//! `radpipe demo`: the library's workflows on the bundled data (window/level of the CT and CR,
//! stitching of three CR stations, segmentation of two mid-sagittal slices with their overlay
//! pictures), saying where the outputs went.

use std::path::{Path, PathBuf};

use radpipe::image::Pixels;
use radpipe::ops::window::WindowRequest;
use radpipe::seg::dataset::read_mask;
use radpipe::seg::loss::dice;
use radpipe::stitch::{BlendMode, StitchParams};
use radpipe::workflow::segment::{
    DeviceChoice, SegmentRequest, input_size, resolve_model, segment_files,
};
use radpipe::workflow::stitch::{StitchRequest, stitch_files};
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
    radpipe::io::output_plan::OutputPlan::new()
        .output_folder(out, "--out")
        .check()?;
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
    // Stitching: three stations cut from the bundled CR (see data/demo/SOURCES.md), placed from their
    // DICOM geometry, refined by NCC, gain-compensated and multi-band blended.
    let request = StitchRequest {
        inputs: (1..=3)
            .map(|k| data.join(format!("stitch_station{k}.dcm")))
            .collect(),
        output: out.join("stitched.png"),
        params: StitchParams {
            refine: true,
            blend: BlendMode::Multiband,
            ..StitchParams::default()
        },
        report: Some(out.join("stitched_layout.json")),
        display: Some(out.join("stitched_view.png")),
    };
    let (stitched, _) = stitch_files(&engine, &request)?;
    println!(
        "  stitch  3 stations -> {} ({}x{} u16), view {}, layout {}",
        request.output.display(),
        stitched.image.width,
        stitched.image.height,
        out.join("stitched_view.png").display(),
        out.join("stitched_layout.json").display()
    );
    for s in &stitched.stations {
        let ncc = s.ncc.map(|v| format!(", ncc {v:.4}")).unwrap_or_default();
        println!(
            "          {} offset {:.2},{:.2} gain {:.3}{ncc}",
            s.file, s.offset[0], s.offset[1], s.gain
        );
    }
    segment_demo(&engine, &data, out);
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

/// The bundled mid-sagittal slices: ITK's example slice (no mask) and the ICBM152 template's
/// (with its corpus callosum mask from the template's white-matter map, see data/demo/SOURCES.md).
const SLICES: [(&str, Option<&str>); 2] = [
    ("brain_mid_sagittal.png", None),
    (
        "icbm152_mid_sagittal.png",
        Some("icbm152_mid_sagittal_cc_mask.png"),
    ),
];

/// Segments the bundled mid-sagittal slices with the shipped model (on the device `auto` picks),
/// writes their masks and overlay pictures and prints their angles (and the Dice against the bundled
/// mask where one ships); says so when no model ships (a failure here does not fail the window/level
/// demo).
fn segment_demo(engine: &Engine, data: &Path, out: &Path) {
    let model = match resolve_model(None) {
        Ok(m) => m,
        Err(_) => {
            println!("  segment: skipped, the shipped model (models/) is missing");
            return;
        }
    };
    let request = SegmentRequest {
        size: input_size(&model, None),
        model: Some(model),
        out_dir: out.to_path_buf(),
        batch: 1,
        device: DeviceChoice::Auto,
        overlay_dir: Some(out.to_path_buf()),
        preprocess: None,
    };
    let inputs: Vec<PathBuf> = SLICES.iter().map(|(f, _)| data.join(f)).collect();
    let entries = match segment_files(Some(engine), &inputs, &request) {
        Ok(entries) => entries,
        Err(e) => {
            println!("  segment: failed: {e}");
            return;
        }
    };
    if let Some(first) = entries.first() {
        println!(
            "  segment: network on {}, preprocessing {}",
            first.device, first.preprocess
        );
    }
    for (e, (_, mask)) in entries.iter().zip(SLICES) {
        match (&e.error, e.angle_deg) {
            (Some(m), _) => println!("  segment {}: failed: {m}", e.file),
            (None, Some(a)) => println!(
                "  segment {} -> {}, {}  ({} px, box {:.2}°, line {:.2}°, angle {a:.2}°{})",
                e.file,
                e.mask.as_deref().unwrap_or(""),
                e.overlay.as_deref().unwrap_or("no overlay"),
                e.area_px,
                e.bbox.map_or(f64::NAN, |b| b.angle_deg),
                e.line.map_or(f64::NAN, |l| l.angle_deg),
                mask.map_or(String::new(), |m| dice_note(
                    e.mask.as_deref(),
                    &data.join(m)
                ))
            ),
            (None, None) => println!("  segment {}: no angle (empty mask)", e.file),
        }
    }
}

/// ", Dice 0.94 vs <mask>" for a predicted mask file against a bundled one (or why not).
fn dice_note(predicted: Option<&str>, truth: &Path) -> String {
    let bits = |p: &Path| -> Result<Vec<u8>, Error> {
        match read_mask(p)?.pixels {
            Pixels::U8(v) => Ok(v),
            _ => Err(Error::format(p, "mask did not read as 8-bit")),
        }
    };
    let Some(predicted) = predicted else {
        return ", no Dice: no mask written".to_string();
    };
    match (bits(Path::new(predicted)), bits(truth)) {
        (Ok(p), Ok(t)) if p.len() == t.len() => {
            format!(", Dice {:.3} vs {}", dice(&p, &t), truth.display())
        }
        (Err(e), _) | (_, Err(e)) => format!(", no Dice: {e}"),
        _ => ", no Dice: mask sizes differ".to_string(),
    }
}
