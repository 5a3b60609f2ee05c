//! One error type for the library. Every variant that concerns a file carries its path, so the CLI can
//! print a single line that names the file and the problem — a radiology node logs it and moves on.

use std::path::PathBuf;

/// Everything that can go wrong in radpipe.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is malformed or inconsistent.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A file is well formed but uses something radpipe does not handle.
    #[error("{}: unsupported: {message}", path.display())]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// What is not supported.
        message: String,
    },
    /// An image that cannot be processed (empty, wrong sample count, too large for the device...).
    #[error("invalid image: {0}")]
    InvalidImage(String),
    /// Parameters out of their valid range (NaN, zero width, singular matrix...).
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// No usable GPU adapter could be found or opened.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// An error while processing a particular file (parameters that do not suit it, a device error...).
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file being processed.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// Some files of a batch failed (each was reported as it happened).
    #[error("{failed} of {total} files failed (listed above)")]
    BatchFailures {
        /// Files that failed.
        failed: usize,
        /// Files in the batch.
        total: usize,
    },
    /// The device reported an error (validation, out of memory, device lost, map failure).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// Stations that cannot be stitched together (see [`StitchError`]).
    #[error("stitch: {0}")]
    Stitch(StitchError),
}

impl Error {
    /// A [`Error::Format`] for `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`Error::Unsupported`] for `path`.
    pub fn unsupported(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Unsupported {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Names `path` on an error that does not already concern a file.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        match self {
            e @ (Error::Io { .. }
            | Error::Format { .. }
            | Error::Unsupported { .. }
            | Error::InFile { .. }) => e,
            other => Error::InFile {
                path: path.into(),
                source: Box::new(other),
            },
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with radpipe's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a set of stations cannot be stitched (re-exported as `radpipe::stitch::StitchError`; it lives
/// here, at the bottom of the import layers, so that `Error` imports nothing above it).
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
    /// A station whose pixel spacing is so far from the first station's that the two cannot be one
    /// acquisition (resampling it would make it vanish or explode).
    #[error(
        "{other} has Pixel Spacing {b:?} mm, {ratio:.3e} times the first station's ({first}: {a:?} mm); stations of one acquisition differ by at most a factor of {limit}"
    )]
    MismatchedSpacing {
        /// First station.
        first: String,
        /// Its spacing (row, column) in mm.
        a: [f64; 2],
        /// The station that differs.
        other: String,
        /// Its spacing.
        b: [f64; 2],
        /// The larger of the two per-axis ratios (or the smaller's inverse).
        ratio: f64,
        /// The largest ratio accepted.
        limit: f64,
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
        "{station} has no geometry (no usable {missing}) and no --offsets were given: cannot place the stations"
    )]
    NoPlacement {
        /// The station lacking geometry.
        station: String,
        /// Which attributes are missing or unusable.
        missing: String,
    },
    /// An Image Orientation (Patient) that is not two perpendicular unit vectors, or a station whose
    /// image plane is not the first station's.
    #[error(
        "{station}: Image Orientation (Patient) {why}; cannot place it by geometry (give --offsets)"
    )]
    BadOrientation {
        /// The station.
        station: String,
        /// What is wrong.
        why: String,
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

impl From<StitchError> for Error {
    fn from(e: StitchError) -> Self {
        Error::Stitch(e)
    }
}
