//! `radpipe window --auto LOW,HIGH`: turn a window request without centre/width into one whose window
//! comes from percentiles of the frame's histogram (see [`crate::ops::autowindow`]). The histogram is
//! counted on the GPU and read back once (1 KiB for 8-bit, 256 KiB for 16-bit samples); the caller then
//! renders with the ordinary window workflow, which reads the file again.

use std::path::Path;

use crate::io::{Input, read_input};
use crate::ops::autowindow::{encode_stored_histogram, window_from_histogram};
use crate::ops::histogram::Region;
use crate::ops::window::WindowRequest;
use crate::pipeline::Recorder;
use crate::transforms::{ModalityLut, Window};
use crate::{Engine, Error, Result};

/// The window found, for the CLI to report.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AutoWindow {
    /// Lower percentile (percent).
    pub low: f64,
    /// Upper percentile (percent).
    pub high: f64,
    /// The window (LINEAR unless the request names another function).
    pub window: Window,
}

/// `request` with its centre and width set from the LOW..HIGH percentiles of frame `frame` of `input`.
pub fn auto_request(
    engine: &Engine,
    input: &Path,
    request: &WindowRequest,
    frame: u32,
    (low, high): (f64, f64),
) -> Result<(WindowRequest, AutoWindow)> {
    if request.center.is_some() || request.width.is_some() {
        return Err(Error::InvalidParams(
            "--auto derives the window: give either --auto or --center/--width".into(),
        ));
    }
    let (stored, modality) = match read_input(input)? {
        Input::Dicom(d) => (
            d.frame(frame).map_err(|e| e.in_file(input))?,
            d.modality_lut(frame),
        ),
        Input::Raster(img) => {
            if frame != 0 {
                return Err(Error::InvalidParams(format!(
                    "frame {frame} requested, a raster image has one frame"
                ))
                .in_file(input));
            }
            (img, ModalityLut::IDENTITY)
        }
    };
    let with_file = |e: Error| e.in_file(input);
    let gpu = engine.upload(&stored).map_err(with_file)?;
    let mut rec = Recorder::new(engine);
    let hist = encode_stored_histogram(&mut rec, &gpu, &Region::ALL).map_err(with_file)?;
    let download = hist.counts.download(&mut rec).map_err(with_file)?;
    rec.submit().map_err(with_file)?;
    let counts = download.wait().map_err(with_file)?;
    let function = request.function.unwrap_or_default();
    let window = window_from_histogram(&counts, &hist.binning, &modality, (low, high), function)
        .map_err(with_file)?;
    let resolved = WindowRequest {
        center: Some(window.center),
        width: Some(window.width),
        ..request.clone()
    };
    Ok((resolved, AutoWindow { low, high, window }))
}
