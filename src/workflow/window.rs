//! `radpipe window`: read a DICOM or raster file, apply its Modality LUT and a VOI window on the GPU,
//! write PNG, TIFF, raw or a derived DICOM.

use std::path::Path;

use crate::image::PixelFormat;
use crate::io::dicom::{Axes, DicomImage, Samples};
use crate::io::{Input, OutputMeta, atomic, output_kind, read_input, write_output};
use crate::ops::window::{WindowRequest, WindowSettings, WindowSource, window_image};
use crate::transforms::Voi;
use crate::{Engine, Error, Result};

/// What was done, for the CLI to print and tests to check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowReport {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// Output bits.
    pub bits: u32,
    /// Window centre used (None for a VOI LUT table).
    pub center: Option<f64>,
    /// Window width used.
    pub width_window: Option<f64>,
    /// VOI function name (LINEAR, LINEAR_EXACT, SIGMOID or TABLE).
    pub function: String,
    /// Where the window came from.
    pub source: WindowSource,
    /// Whether the input was MONOCHROME1 and inverted.
    pub inverted: bool,
}

/// Windows `input` (frame `frame` for multi-frame DICOM) into `output`.
pub fn window_file(
    engine: &Engine,
    input: &Path,
    output: &Path,
    request: &WindowRequest,
    frame: u32,
) -> Result<WindowReport> {
    atomic::ensure_not_input(output, &[input])?;
    let kind = output_kind(output)?;
    let with_file = |e: Error| e.in_file(input);
    let read = read_input(input)?;
    let (stored, settings, dicom) = match &read {
        Input::Dicom(d) => {
            let settings =
                WindowSettings::from_source(d.as_ref(), frame, request).map_err(with_file)?;
            (d.frame(frame)?, settings, Some(d.as_ref()))
        }
        Input::Raster(img) => {
            if frame != 0 {
                return Err(Error::InvalidParams(format!(
                    "frame {frame} requested, a raster image has one frame"
                ))
                .in_file(input));
            }
            let settings = WindowSettings::for_image(img, request).map_err(with_file)?;
            (img.clone(), settings, None)
        }
    };
    let display = window_image(engine, &stored, &settings).map_err(with_file)?;
    let meta = OutputMeta {
        frame,
        ..output_meta(&settings, dicom)
    };
    write_output(output, kind, &display, &meta)?;
    let window = settings.window();
    Ok(WindowReport {
        width: display.width,
        height: display.height,
        bits: settings.bits,
        center: window.map(|w| w.center),
        width_window: window.map(|w| w.width),
        function: match &settings.voi {
            Voi::Window(w) => w.function.dicom_name().to_string(),
            Voi::Table(_) => "TABLE".to_string(),
        },
        source: settings.source,
        inverted: settings.invert,
    })
}

/// Derivation description and bits of a windowed output. Its samples are display values (a
/// MONOCHROME1 source already inverted), so a DICOM output says MONOCHROME2.
pub fn output_meta<'a>(
    settings: &WindowSettings,
    source: Option<&'a DicomImage>,
) -> OutputMeta<'a> {
    let description = match settings.window() {
        Some(w) => format!(
            "windowed for display by radpipe: {} center {} width {}, {} bits",
            w.function.dicom_name(),
            w.center,
            w.width,
            settings.bits
        ),
        None => format!("VOI LUT applied by radpipe, {} bits", settings.bits),
    };
    OutputMeta {
        source,
        description,
        bits_stored: (settings.out_format() == PixelFormat::U16).then_some(settings.bits as u16),
        samples: Samples::Display,
        axes: Some(Axes::SAME),
        ..OutputMeta::default()
    }
}
