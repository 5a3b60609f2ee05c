//! Registration: each station's offset refined against its neighbour by normalised
//! cross-correlation over their overlap, on the GPU.
//!
//! - [`ncc`]: the score of one grid of candidate shifts (`shaders/stitch_ncc.wgsl`) and its CPU
//!   reference;
//! - [`search`]: the coarse-to-fine search of every pair recorded as one submission, the best shifts,
//!   the sub-pixel peak, the acceptance and the chained corrections kept on the GPU in the search
//!   state (the first words of each plan block, [`crate::stitch::plan`]).
//!
//! Why a folder: the two are one stage — the search only ever scores through `ncc` — and nothing
//! else in the stitch imports `ncc`.

pub mod ncc;
pub mod search;
