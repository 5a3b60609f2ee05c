//! radpipe's integration tests, in one binary: every module below links burn + wgpu once instead of
//! once per file (28 separate binaries cost ~25 of CI's 30 minutes in linking alone).
//!
//! Run one area with a filter: `cargo test --release --test it stitch_sim::`.

mod bad_inputs;
mod batch_run;
mod bench_cli;
mod cli;
mod common;
mod decode_budget;
mod derived_iod;
mod determinism;
mod device_limits;
mod dicom_io;
mod engine_from_device;
mod histogram_cli;
mod histogram_gpu_vs_cpu;
mod histogram_opencv_parity;
mod import_graph;
mod input_gate;
mod parameter_checks;
mod pydicom_parity;
mod render_loop;
mod seg_cli;
mod seg_device;
mod seg_geometry;
mod seg_gpu_vs_cpu;
mod seg_levers;
mod seg_overlay;
mod seg_overlay_cli;
mod seg_overlay_draw;
mod seg_parity;
mod seg_pickle;
mod seg_preprocess_paddle;
mod seg_sheet;
mod seg_train;
mod seg_weights;
mod serve_cluster;
mod serve_dimse;
mod serve_node;
mod shader_bundle;
mod side_outputs;
mod stitch_cli;
mod stitch_gpu_vs_cpu;
mod stitch_oracle;
mod stitch_sim;
mod warp_cli;
mod warp_gpu_vs_cpu;
mod warp_opencv_parity;
mod window_gpu_vs_cpu;
