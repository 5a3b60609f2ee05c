//! Image operations. Each module holds one operation: its validated parameters, `encode` (record it
//! into a [`crate::pipeline::Recorder`]) and `reference` (the same operation on the CPU, written from the
//! specification, which the tests compare the GPU against).

pub mod autowindow;
pub mod clahe;
pub mod display;
pub mod equalize;
pub mod histmatch;
pub mod histogram;
pub mod resize;
pub mod tiling;
pub mod warp;
pub mod window;

mod resample;
