//! radpipe: a GPU compute pipeline engine for medical images.
//!
//! WGSL compute shaders on wgpu do the image work; burn runs the segmentation network on the same
//! device. Images stay on the GPU between stages: a [`pipeline::Recorder`] records many stages into one
//! command encoder, submits once, and reading back to the CPU is an explicit, counted step.
//!
//! ```no_run
//! use radpipe::{Engine, io, ops::window};
//! # fn main() -> radpipe::Result<()> {
//! let engine = Engine::new()?;
//! let dicom = io::dicom::read_dicom("data/demo/ct_small.dcm".as_ref())?;
//! let settings = window::WindowSettings::from_source(&dicom, 0, &window::WindowRequest::default())?;
//! let stored = dicom.frame(0)?;
//! let display = window::window_image(&engine, &stored, &settings)?;
//! io::raster::write_png("ct.png".as_ref(), &display)?;
//! # Ok(()) }
//! ```

pub use wgpu;

pub mod batch;
pub mod bench;
pub mod error;
pub mod gpu;
pub mod image;
pub mod io;
pub mod ops;
pub mod pipeline;
pub mod seg;
pub mod serve;
pub mod stitch;
pub mod transforms;
pub mod workflow;

pub use error::{Error, Result};
pub use gpu::GpuImage;
pub use gpu::adapter::AdapterSummary;
pub use gpu::context::{Engine, EngineOptions};
pub use gpu::stats::Stats;
pub use image::{Geometry, HostImage, PixelFormat, Pixels};
