//! The DICOM reader on arbitrary bytes: parsing, the length guard, attribute decoding (UN, VOI/Modality
//! LUTs, functional groups) and pixel decoding of the first frame must return `Ok` or `Err`, never
//! panic, hang or allocate what the file does not hold.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = scratch::write(data, "dcm");
    if let Ok(image) = radpipe::io::dicom::read_dicom(&path) {
        let _ = image.frame(0);
        let _ = image.modality_lut(0);
        let _ = image.windows(0);
    }
});
