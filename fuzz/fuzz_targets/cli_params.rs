//! The parameter parsers behind the CLI's options and `radpipe run`'s pipeline files: matrices, sizes,
//! points, numbers, percentiles, VOI function names and pipeline TOML. Each must accept or refuse
//! with an error, never panic; accepted pipelines are then prepared against a small image.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use radpipe::batch::PipelineSpec;
use radpipe::workflow::warp::{parse_matrix, parse_number, parse_point, parse_size};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_matrix(text);
    let _ = parse_size(text);
    let _ = parse_point(text, "--center");
    let _ = parse_number(text, "--angle");
    let _ = radpipe::ops::histogram::parse_percentiles(text);
    let _ = radpipe::transforms::VoiFunction::parse(text);
    if let Ok(spec) = PipelineSpec::parse(text, Path::new("fuzz.toml")) {
        let _ = spec.output_kind();
    }
});
