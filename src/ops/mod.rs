//! Image operations. Each module holds one operation: its validated parameters, `encode` (record it
//! into a [`crate::pipeline::Recorder`]) and `reference` (the same operation on the CPU, written from the
//! specification, which the tests compare the GPU against).

pub mod display;
pub mod window;
