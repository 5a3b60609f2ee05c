//! Reading and writing images: DICOM (with its value transforms and geometry), PNG/TIFF/JPEG, raw.
//! Every reader names the file in its errors; every writer goes through [`atomic::write_atomic`].

pub mod atomic;
pub mod contained;
pub mod dicom;
pub(crate) mod file_identity;
pub mod gate;
pub mod output_plan;
pub mod raster;
pub mod raw;

use std::io::Read;
use std::path::Path;

use crate::image::HostImage;
use crate::{Error, Result};

/// What a file is, by its signature (extension only as a last resort).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// DICOM Part 10 (preamble + "DICM"), or a `.dcm` file without preamble.
    Dicom,
    /// PNG, TIFF or JPEG.
    Raster,
}

/// Identifies a file's kind from its first bytes.
pub fn sniff(path: &Path) -> Result<FileKind> {
    let mut head = [0u8; 132];
    let mut file = gate::open(path, gate::InputKind::Image)?;
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    let head = &head[..read];
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        return Ok(FileKind::Dicom);
    }
    let raster_magic: [&[u8]; 4] = [b"\x89PNG", b"II*\0", b"MM\0*", b"\xFF\xD8\xFF"];
    if raster_magic.iter().any(|m| head.starts_with(m)) {
        return Ok(FileKind::Raster);
    }
    let ext = extension(path);
    if matches!(ext.as_str(), "dcm" | "dicom" | "ima") || ext.is_empty() {
        return Ok(FileKind::Dicom);
    }
    Err(Error::format(
        path,
        "not a DICOM, PNG, TIFF or JPEG file (no known signature)",
    ))
}

/// Lowercase extension of a path ("" when none).
pub fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// An input file, read.
#[derive(Debug)]
pub enum Input {
    /// A DICOM file with its transforms and attributes.
    Dicom(Box<dicom::DicomImage>),
    /// A raster image.
    Raster(HostImage),
}

/// Reads a DICOM, PNG, TIFF or JPEG file.
pub fn read_input(path: &Path) -> Result<Input> {
    match sniff(path)? {
        FileKind::Dicom => Ok(Input::Dicom(Box::new(dicom::read_dicom(path)?))),
        FileKind::Raster => Ok(Input::Raster(raster::read_raster(path)?)),
    }
}

/// Output formats chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `.png`
    Png,
    /// `.tif` / `.tiff`
    Tiff,
    /// `.dcm`
    Dicom,
    /// `.raw` (little-endian samples, no header)
    Raw,
}

/// The output kind for `path`'s extension.
pub fn output_kind(path: &Path) -> Result<OutputKind> {
    match extension(path).as_str() {
        "png" => Ok(OutputKind::Png),
        "tif" | "tiff" => Ok(OutputKind::Tiff),
        "dcm" | "dicom" => Ok(OutputKind::Dicom),
        "raw" => Ok(OutputKind::Raw),
        other => Err(Error::InvalidParams(format!(
            "{}: output format '.{other}' not supported (use .png, .tif, .dcm or .raw)",
            path.display()
        ))),
    }
}

/// What a derived DICOM output says about itself; ignored by the raster and raw writers.
#[derive(Debug, Clone, Default)]
pub struct OutputMeta<'a> {
    /// Source DICOM whose patient/study attributes the output inherits.
    pub source: Option<&'a dicom::DicomImage>,
    /// The frame of the source that was used (0-based).
    pub frame: u32,
    /// Derivation Description.
    pub description: String,
    /// Bits Stored of a 16-bit output (e.g. 12 for a 12-bit display image).
    pub bits_stored: Option<u16>,
    /// Rescale slope and intercept when the samples are stored values of modality units.
    pub rescale: Option<(f64, f64)>,
    /// Window to write with stored values (the source's).
    pub window: Option<crate::transforms::Window>,
    /// What the samples are: the source's stored values (photometric interpretation kept), display
    /// values (MONOCHROME2) or labels.
    pub samples: dicom::Samples,
    /// How the output's pixel axes lie in the source's (for Patient Orientation); `None` if unknown.
    pub axes: Option<dicom::Axes>,
}

/// Writes `image` to `path` in `kind`'s format, atomically.
pub fn write_output(
    path: &Path,
    kind: OutputKind,
    image: &HostImage,
    meta: &OutputMeta<'_>,
) -> Result<()> {
    match kind {
        OutputKind::Png => raster::write_png(path, image),
        OutputKind::Tiff => raster::write_tiff(path, image),
        OutputKind::Raw => raw::write_raw(path, image),
        OutputKind::Dicom => dicom::write_derived_dicom(
            path,
            image,
            &dicom::DerivedDicom {
                sources: meta.source.into_iter().collect(),
                frame: meta.frame,
                description: meta.description.clone(),
                rescale: meta.rescale,
                bits_stored: meta.bits_stored,
                window: meta.window,
                samples: meta.samples,
                axes: meta.axes,
                ..dicom::DerivedDicom::default()
            },
        ),
    }
}
