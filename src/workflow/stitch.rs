//! `radpipe stitch`: read the stations (DICOM, PNG, TIFF), stitch them on the GPU
//! ([`crate::stitch`]) and write the canvas — derived DICOM with the canvas geometry, or 16-bit
//! PNG/TIFF — plus, on request, a windowed 8-bit view and a JSON layout report.
//!
//! Stored values are never re-mapped beyond the exposure compensation: a DICOM output carries the
//! first station's Rescale Slope/Intercept, window and photometric interpretation, so modality values
//! and display are preserved; [`write_stitched_dicom`] is the library entry for a stitch result.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::image::PixelFormat;
use crate::io::dicom::{Axes, DerivedDicom, DicomImage, Photometric, write_derived_dicom};
use crate::io::{Input, OutputKind, atomic, output_kind, raster, raw, read_input};
use crate::ops::window::{WindowRequest, WindowSettings, window_image};
use crate::stitch::{Station, StitchParams, Stitched, stitch};
use crate::transforms::ModalityLut;
use crate::{Engine, Error, Result};

/// Everything `radpipe stitch` does.
#[derive(Debug, Clone)]
pub struct StitchRequest {
    /// Station files, first = reference.
    pub inputs: Vec<PathBuf>,
    /// Stitched output (.dcm, .png, .tif, .raw).
    pub output: PathBuf,
    /// Stitching parameters.
    pub params: StitchParams,
    /// JSON layout report.
    pub report: Option<PathBuf>,
    /// Windowed 8-bit PNG view.
    pub display: Option<PathBuf>,
}

/// `{"canvas":[w,h],"stations":[{"file":..,"offset":[x,y],"gain":g,"ncc":s},...]}`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LayoutReport {
    /// Canvas `[width, height]`.
    pub canvas: [u32; 2],
    /// Stations, the first first.
    pub stations: Vec<crate::stitch::StationReport>,
    /// What the stitch accepted but a reader should know (refused registrations, resampled
    /// stations, more stations than a full-spine or long-leg study has), as printed.
    pub warnings: Vec<String>,
}

/// Refuses a station given twice (the same file by identity: links and other spellings included);
/// stitching a station onto itself is a slip of the command line, never an intention.
fn refuse_repeated_stations(inputs: &[PathBuf]) -> Result<()> {
    for (j, later) in inputs.iter().enumerate() {
        for (i, earlier) in inputs[..j].iter().enumerate() {
            if crate::io::file_identity::same_file(earlier, later) {
                return Err(Error::InvalidParams(format!(
                    "station {} ({}) is the same file as station {} ({}); give each station once",
                    j + 1,
                    later.display(),
                    i + 1,
                    earlier.display()
                )));
            }
        }
    }
    Ok(())
}

/// Reads one station file.
pub fn read_station(path: &Path) -> Result<(Station, Option<DicomImage>)> {
    let name = path.display().to_string();
    match read_input(path)? {
        Input::Dicom(d) => {
            let image = d.frame(0)?;
            let photometric = match d.photometric {
                Photometric::Monochrome1 => "MONOCHROME1",
                Photometric::Monochrome2 => "MONOCHROME2",
            };
            let station = Station {
                image,
                name,
                modality: d.modality.clone(),
                photometric: Some(photometric.to_string()),
            };
            Ok((station, Some(*d)))
        }
        Input::Raster(img) => Ok((Station::new(name, img), None)),
    }
}

/// Stitches the files of `request` and writes its outputs.
pub fn stitch_files(engine: &Engine, request: &StitchRequest) -> Result<(Stitched, LayoutReport)> {
    let inputs: Vec<&Path> = request.inputs.iter().map(PathBuf::as_path).collect();
    let mut outputs = vec![request.output.as_path()];
    outputs.extend(request.report.as_deref());
    outputs.extend(request.display.as_deref());
    for o in &outputs {
        atomic::ensure_not_input(o, &inputs)?;
    }
    refuse_repeated_stations(&request.inputs)?;
    let kind = output_kind(&request.output)?;
    if let Some(d) = &request.display
        && crate::io::extension(d) != "png"
    {
        return Err(Error::InvalidParams(format!(
            "{}: --display writes an 8-bit PNG; give a .png path",
            d.display()
        )));
    }
    let mut stations = Vec::new();
    let mut dicoms = Vec::new();
    for path in &request.inputs {
        let (s, d) = read_station(path)?;
        stations.push(s);
        dicoms.push(d);
    }
    let first = dicoms.first().and_then(Option::as_ref);
    super::warp::check_output_kind(
        &request.output,
        kind,
        &stations[0].image,
        "the stations are",
    )?;
    let result = stitch(engine, &stations, &request.params)?;
    match kind {
        OutputKind::Png => raster::write_png(&request.output, &result.image)?,
        OutputKind::Tiff => raster::write_tiff(&request.output, &result.image)?,
        OutputKind::Raw => raw::write_raw(&request.output, &result.image)?,
        OutputKind::Dicom => {
            let sources: Vec<&DicomImage> = dicoms.iter().flatten().collect();
            write_stitched_dicom(&request.output, &result, &sources)?
        }
    }
    if let Some(path) = &request.display {
        let settings = match first {
            Some(d) => WindowSettings::from_source(d, 0, &WindowRequest::default())?,
            None => WindowSettings::for_image(&result.image, &WindowRequest::default())?,
        };
        let view = window_image(engine, &result.image, &settings)?;
        raster::write_png(path, &view)?;
    }
    let report = LayoutReport {
        canvas: result.layout.canvas,
        stations: result.stations.clone(),
        warnings: result.warnings.clone(),
    };
    if let Some(path) = &request.report {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::InvalidParams(format!("report: {e}")))?;
        atomic::write_atomic(path, |w| {
            w.write_all(text.as_bytes())
                .and_then(|()| w.write_all(b"\n"))
                .map_err(|e| Error::io(path, e))
        })?;
    }
    Ok((result, report))
}

/// Writes a stitch result as a derived DICOM at `path`: `sources` are the stations that were DICOM
/// files, in station order (a station read from PNG/TIFF has none; then the result is Secondary
/// Capture). CR/DX stations with a pixel spacing give Digital X-Ray For Presentation, MONOCHROME1
/// kept, with every station in the Source Image Sequence (see [`crate::io::dicom`]'s writer); the
/// first station's Rescale Slope/Intercept, first window and Bits Stored are carried over. The
/// Derivation Description lists the placements and gains, so a rerun gives the same UIDs.
pub fn write_stitched_dicom(path: &Path, result: &Stitched, sources: &[&DicomImage]) -> Result<()> {
    let mut rescale = None;
    let mut window = None;
    let mut bits_stored = None;
    if let Some(src) = sources.first() {
        if let ModalityLut::Rescale { slope, intercept } = src.modality_lut(0) {
            rescale = Some((slope, intercept));
        }
        window = src.windows(0).first().copied();
        let fits = result.image.pixels.min_max().is_some_and(|(lo, hi)| {
            let bits = i32::from(src.bits_stored.clamp(1, 16));
            let (min, max) = if result.image.format() == PixelFormat::I16 {
                (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
            } else {
                (0.0, 2f64.powi(bits) - 1.0)
            };
            lo >= min && hi <= max
        });
        if fits && src.bits_stored <= result.image.format().bytes_per_pixel() as u16 * 8 {
            bits_stored = Some(src.bits_stored);
        }
    }
    let placements: Vec<String> = result
        .stations
        .iter()
        .map(|s| {
            format!(
                "({:.2}, {:.2}) gain {:.4}",
                s.offset[0], s.offset[1], s.gain
            )
        })
        .collect();
    write_derived_dicom(
        path,
        &result.image,
        &DerivedDicom {
            sources: sources.to_vec(),
            description: format!(
                "stitched by radpipe from {} stations at canvas offsets {}",
                result.stations.len(),
                placements.join(", ")
            ),
            rescale,
            bits_stored,
            window,
            axes: Some(Axes::SAME),
            raster_inputs: result.stations.len().saturating_sub(sources.len()),
            ..DerivedDicom::default()
        },
    )
}
