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
    /// Stations that cannot be stitched together (see [`crate::stitch::StitchError`]).
    #[error("stitch: {0}")]
    Stitch(crate::stitch::StitchError),
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
