//! `radpipe._radpipe`: the compiled half of the Python package (`python/radpipe/` is the other half).
//!
//! This module converts between NumPy arrays and radpipe's images, maps radpipe's errors onto
//! Python exceptions, releases the GIL around file reads and GPU work, and records resident chains.
//! Argument defaults, pydicom datasets and the default engine live in the Python layer, so every
//! function here takes plain, already-normalised values.

// The private methods mirror the Python functions' keyword signatures one to one (the Python layer
// calls them positionally), so an argument struct would only move the list elsewhere.
#![allow(clippy::too_many_arguments)]

use pyo3::prelude::*;

mod chain;
mod convert;
mod engine;
mod errors;
mod params;

/// The module: exception types, `Engine`, `Chain`, `Handle`, `list_adapters`.
#[pymodule]
fn _radpipe(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RadpipeError", py.get_type::<errors::RadpipeError>())?;
    m.add(
        "InvalidInputError",
        py.get_type::<errors::InvalidInputError>(),
    )?;
    m.add(
        "DeviceLimitError",
        py.get_type::<errors::DeviceLimitError>(),
    )?;
    m.add("GpuError", py.get_type::<errors::GpuError>())?;
    m.add("NoAdapterError", py.get_type::<errors::NoAdapterError>())?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<chain::Chain>()?;
    m.add_class::<chain::Handle>()?;
    m.add_function(wrap_pyfunction!(engine::list_adapters, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
