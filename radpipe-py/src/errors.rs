//! radpipe's [`radpipe::Error`] as Python exceptions, with the CLI's one-line message.
//!
//! `RadpipeError` is the base; a caller branches on `InvalidInputError` (bad parameters, images or
//! files: fix the input), `DeviceLimitError` (the image is over this adapter's limits: use a bigger
//! device or a smaller image) and `GpuError` (the device failed; `NoAdapterError` when there is none).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use radpipe::Error;

create_exception!(
    _radpipe,
    RadpipeError,
    PyException,
    "Base of every error radpipe raises; str(e) is the CLI's one-line message."
);
create_exception!(
    _radpipe,
    InvalidInputError,
    RadpipeError,
    "Bad parameters, an image radpipe cannot process, or a file it cannot read (the file is named)."
);
create_exception!(
    _radpipe,
    DeviceLimitError,
    RadpipeError,
    "The image or dispatch is over the adapter's limits (storage buffer size, workgroups)."
);
create_exception!(
    _radpipe,
    GpuError,
    RadpipeError,
    "The GPU device reported an error (validation, out of memory, device lost)."
);
create_exception!(
    _radpipe,
    NoAdapterError,
    GpuError,
    "No usable GPU adapter (or none matching the requested name / PCI bus id)."
);

/// The innermost error (the cause under the file names [`Error::InFile`] adds).
fn innermost(e: &Error) -> &Error {
    match e {
        Error::InFile { source, .. } => innermost(source),
        other => other,
    }
}

/// Converts a radpipe error into the matching Python exception, keeping its message.
pub fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match innermost(&e) {
        Error::NoAdapter(_) => NoAdapterError::new_err(message),
        Error::Gpu(_) => GpuError::new_err(message),
        // The device-limit refusals (Engine::check_fits, tiling, dispatch sizes) say "this adapter's".
        Error::InvalidImage(m) | Error::InvalidParams(m) if m.contains("this adapter's") => {
            DeviceLimitError::new_err(message)
        }
        Error::BatchFailures { .. } => RadpipeError::new_err(message),
        _ => InvalidInputError::new_err(message),
    }
}

/// `.map_err(to_py)` for results.
pub trait IntoPy<T> {
    /// The result with its error converted.
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for radpipe::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
