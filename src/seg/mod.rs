//! Corpus callosum segmentation and auto-positioning angles: PaddleSeg's BiSeNetV2 running in burn on
//! the engine's own wgpu device (or on burn's CPU backend), fed and drained by radpipe's shaders, and
//! the geometry that turns its mask into the scan-plane angle.
//!
//! - [`bisenet`]: the network, layer for layer as PaddleSeg defines it, with PaddleSeg's parameter names.
//! - [`pickle`]: a reader for the Python pickles PaddlePaddle checkpoints are.
//! - [`weights`]: `.pdparams` import, safetensors and burn-record load/save, checked by tensor name.
//! - [`infer`]: preprocessing → network → mask on the GPU with no CPU trip, or on the CPU.
//! - [`geometry`]: largest component, minimum-area box, least-squares line, final angle.
//! - [`dataset`], [`augment`], [`loss`], [`train`]: training on image/mask folders (`radpipe train`).
//! - [`evaluate`]: Dice per site and angle error on labelled images (`radpipe evaluate`).
//! - [`overlay`]: the picture of a result: contour, box, line, centre and angle drawn on the localizer.

pub mod augment;
pub mod bisenet;
pub mod dataset;
pub mod evaluate;
pub mod geometry;
pub mod infer;
pub mod loss;
pub mod overlay;
pub mod pickle;
pub mod postprocess;
pub mod train;
pub mod weights;

pub use bisenet::{BiSeNetV2, BiSeNetV2Config};
pub use geometry::{MaskMeasurement, measure, measure_mask};
pub use infer::{Backend, Preprocess, SegInput, Segmenter};
