//! Stitching overlapping stations — full-spine and long-leg radiographs taken in 2–5 exposures (at
//! most [`plan::MAX_STATIONS`]) — into one long 16-bit image on the GPU, keeping the modality values
//! a radiologist measures on.
//!
//! One production path, [`pipeline::stitch`]; the folders follow its stages:
//! - [`layout`]: where each station sits nominally (from `--offsets` or the DICOM geometry), one pixel
//!   spacing for all, and the checks that refuse inconsistent inputs;
//! - [`atlas`]: every station in one f32 buffer, and the station table the GPU stages read;
//! - [`register`]: NCC registration of every neighbour pair, searched on the GPU;
//! - [`place`]: the final layout decided on the GPU from the registration (zero corrections
//!   without it), with the blend records;
//! - [`compensate`]: exposure compensation — gain, block gains, histogram matching — solved on the
//!   GPU over the overlaps where the layout put the stations;
//! - [`blend`]: linear, feather and multi-band (Laplacian pyramid) blending, and the final pack;
//! - [`plan`]: the words those stages share on the GPU, defined once in
//!   `shaders/common/plan_layout.wgsl` and read from there;
//! - [`pipeline`]: the stages recorded end to end, one wait;
//! - [`simulate`]: stations cut from a real radiograph with known shifts, rotations, gains and noise —
//!   no multi-station acquisition ships with radpipe, so tests, demo and bench make their own truth.
//!
//! Every GPU model has exactly one CPU reference here (`reference_*`, used only by the tests), written
//! from the same definition; the f64 host stitch the single path replaced is the tests' oracle
//! (`tests/it/stitch_oracle/`).

pub mod atlas;
pub mod blend;
pub mod compensate;
pub mod layout;
pub mod pipeline;
pub mod place;
pub mod plan;
pub mod register;
pub mod simulate;

pub use blend::BlendMode;
pub use compensate::Compensation;
pub use layout::{Layout, Placement};
pub use pipeline::{StationReport, StitchParams, Stitched, stitch};

use crate::image::HostImage;

/// One station to stitch: its stored values (with geometry when the file had it) and what must agree
/// between stations.
#[derive(Debug, Clone)]
pub struct Station {
    /// Stored values; geometry (pixel spacing, position, orientation) when known.
    pub image: HostImage,
    /// Name for reports and errors (usually the file name).
    pub name: String,
    /// Modality (0008,0060), when known.
    pub modality: Option<String>,
    /// Photometric interpretation (e.g. "MONOCHROME2"), when known.
    pub photometric: Option<String>,
}

impl Station {
    /// A station from an image, with no modality or photometric interpretation to check.
    pub fn new(name: impl Into<String>, image: HostImage) -> Self {
        Station {
            image,
            name: name.into(),
            modality: None,
            photometric: None,
        }
    }
}

/// Why a set of stations cannot be stitched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StitchError {
    /// Fewer than two stations.
    #[error("stitching needs at least two stations, got {0}")]
    TooFewStations(usize),
    /// More stations than the GPU stitch solves for (its gain system lives in one invocation).
    #[error("stitching takes at most {limit} stations, got {count}")]
    TooManyStations {
        /// Stations given.
        count: usize,
        /// The most one stitch takes.
        limit: usize,
    },
    /// Stations of different modalities.
    #[error("stations differ in modality: {first} is {a}, {other} is {b}")]
    MixedModality {
        /// First station.
        first: String,
        /// Its modality.
        a: String,
        /// The station that differs.
        other: String,
        /// Its modality.
        b: String,
    },
    /// Stations of different photometric interpretations.
    #[error("stations differ in photometric interpretation: {first} is {a}, {other} is {b}")]
    MixedPhotometric {
        /// First station.
        first: String,
        /// Its interpretation.
        a: String,
        /// The station that differs.
        other: String,
        /// Its interpretation.
        b: String,
    },
    /// Stations with different sample formats.
    #[error("stations differ in sample format: {first} is {a}, {other} is {b}")]
    MixedFormat {
        /// First station.
        first: String,
        /// Its format.
        a: String,
        /// The station that differs.
        other: String,
        /// Its format.
        b: String,
    },
    /// Neither offsets nor complete geometry.
    #[error(
        "{station} has no geometry (Image Position/Orientation Patient and Pixel Spacing) and no --offsets were given: cannot place the stations"
    )]
    NoPlacement {
        /// The station lacking geometry.
        station: String,
    },
    /// Offsets given for a different number of stations.
    #[error("{given} offsets given for {stations} stations")]
    OffsetCount {
        /// Offsets given.
        given: usize,
        /// Stations.
        stations: usize,
    },
    /// A station overlaps none of the stations before it.
    #[error("{station} does not overlap any earlier station (placed at {x:.1},{y:.1})")]
    NoOverlap {
        /// The station.
        station: String,
        /// Its offset on the canvas.
        x: f64,
        /// Its offset on the canvas.
        y: f64,
    },
}

impl From<StitchError> for crate::Error {
    fn from(e: StitchError) -> Self {
        crate::Error::Stitch(e)
    }
}
