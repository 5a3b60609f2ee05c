//! One module per subcommand: its clap arguments and a `run` that calls the library and prints a
//! report. Adding a command means a new file here and one line in `Command` (src/main.rs).

pub mod bench;
pub mod crop;
pub mod decode_pixels;
pub mod demo;
pub mod equalize;
pub mod evaluate;
pub mod info;
pub mod match_hist;
pub mod resize;
pub mod rotate;
pub mod run;
pub mod runtime_dir;
pub mod segment;
pub mod serve;
pub mod status;
pub mod stitch;
pub mod train;
pub mod warp;
pub mod window;
pub mod worker;
