//! Model files: a PaddleSeg `.pdparams` pickle and safetensors headers on arbitrary bytes (a corrupted
//! model must be an error naming the file, not a crash or a huge allocation).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = radpipe::seg::pickle::parse_pickled_arrays(data, Path::new("fuzz.pdparams"));
    let _ = radpipe::seg::weights::parse_safetensors(data, Path::new("fuzz.safetensors"));
});
