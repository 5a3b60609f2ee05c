//! Batch mode for reconstruction nodes: one pipeline file, a folder of images, a folder of outputs.
//! Decoding, GPU work and encoding of consecutive images overlap (a reader thread decodes ahead, the
//! GPU keeps two images in flight, a writer thread encodes behind), memory stays bounded by those
//! depths and the buffer pool, and a failing file is recorded and skipped — it never stops the batch
//! and never leaves a partial output (every output is written atomically).

pub mod run;
pub mod spec;

pub use run::{BatchEvent, BatchReport, collect_inputs, run_batch};
pub use spec::{PipelineSpec, StageSpec};
