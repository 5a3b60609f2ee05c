//! File-to-file workflows: what a CLI command does, as a library call a host application or a test can
//! make too (read the inputs, run the GPU stages, write the outputs atomically, report).

pub mod auto_window;
pub mod equalize;
pub mod segment;
pub mod stitch;
pub mod warp;
pub mod window;
