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
//!   `shaders/common/plan.wgsl` and read from there;
//! - [`pipeline`]: the stages recorded end to end, one wait;
//! - [`simulate`]: stations cut from a real radiograph with known shifts, rotations, gains and noise —
//!   no multi-station acquisition ships with radpipe, so tests, demo and bench make their own truth.
//!
//! Every GPU model has exactly one CPU reference here (`reference_*`, used only by the tests), written
//! from the same definition; the f64 host stitch the single path replaced is the tests' oracle
//! (`tests/it/stitch_oracle/`).

// The stage modules are public so that the integration tests can check each GPU stage against its
// CPU reference on its own, but they are not the API: a library user calls [`stitch`] with
// [`StitchParams`] (re-exported below) and reads [`Stitched`]. They are hidden from the docs and
// carry no stability promise. (A `testing` cargo feature would hide them from the compiler too, but
// `cargo test` would then build the crate with other features than `cargo run`, and the demo after
// the tests would recompile it.)
#[doc(hidden)]
pub mod atlas;
#[doc(hidden)]
pub mod blend;
#[doc(hidden)]
pub mod compensate;
pub mod layout;
#[doc(hidden)]
pub mod pipeline;
#[doc(hidden)]
pub mod place;
#[doc(hidden)]
pub mod plan;
#[doc(hidden)]
pub mod register;
pub mod simulate;

pub use blend::BlendMode;
pub use compensate::Compensation;
pub use layout::{Layout, Placement};
pub use pipeline::{StationReport, StitchParams, Stitched, stitch};

pub use crate::error::StitchError;
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
