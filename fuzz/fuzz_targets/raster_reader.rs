//! The PNG/TIFF/JPEG reader (and the format sniffing in front of it) on arbitrary bytes.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ext = match data.first() {
        Some(0x89) => "png",
        Some(b'I' | b'M') => "tif",
        _ => "jpg",
    };
    let path = scratch::write(data, ext);
    let _ = radpipe::io::read_input(&path);
});
