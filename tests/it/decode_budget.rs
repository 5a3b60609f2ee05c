//! Decoders under a budget. The `radpipe` command decodes encapsulated DICOM pixel data in a helper
//! process (`radpipe decode-pixels`) with an address-space and a CPU-time limit derived from the
//! declared frame size: a decoder that allocates without end or spins ends in one `radpipe:` line
//! naming the file, the codec and the budget that ran out — for every command that reads an image,
//! under a 1 GiB address-space limit — and the helper's bytes equal the in-process decoder's.
//! PNG/TIFF/JPEG rasters decode under the `image` crate's own allocation budget.
//!
//! The runaways are injected (`RADPIPE_FAULT_DECODE`) into the helper after its limits are set, so
//! what is tested is the containment, whichever decoder would run away.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use radpipe::Pixels;
use radpipe::io::dicom::read_dicom;

use crate::common::cli::{s, stderr};
use crate::common::repo_path;
use crate::input_gate::{assert_clean_refusal, radpipe_limited_env, run_all_env};

/// JPEG Lossless SV1 made by dcmtk's `dcmcjpeg` from an uncompressed fixture.
fn jpeg_lossless(dir: &Path) -> PathBuf {
    let out = dir.join("mr_jpeg_lossless.dcm");
    let made = Command::new("dcmcjpeg")
        .arg("+e1")
        .arg(repo_path("tests/data/dicom/mr_small.dcm"))
        .arg(&out)
        .status()
        .expect("dcmcjpeg (dcmtk) must be installed");
    assert!(made.success(), "dcmcjpeg failed");
    out
}

fn compressed_fixtures(dir: &Path) -> Vec<PathBuf> {
    vec![
        repo_path("tests/data/dicom/ct_j2k.dcm"),
        repo_path("tests/data/dicom/mr_j2k_lossless.dcm"),
        jpeg_lossless(dir),
    ]
}

#[test]
fn a_decoder_that_allocates_without_end_is_stopped_at_its_memory_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in compressed_fixtures(dir.path()) {
        let before = std::fs::read(&file).expect("read");
        run_all_env(
            &file,
            "decoder went over its memory budget of",
            &[("RADPIPE_FAULT_DECODE", "alloc")],
        );
        assert_eq!(std::fs::read(&file).expect("read"), before, "input changed");
    }
}

#[test]
fn a_decoder_that_spins_is_stopped_at_its_cpu_time_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("a.png");
    let file = repo_path("tests/data/dicom/ct_j2k.dcm");
    let args = ["window", s(&file), "-o", s(&out)];
    assert_clean_refusal(
        &args,
        "ct_j2k.dcm",
        "JPEG 2000 (1.2.840.10008.1.2.4.91) decoder went over its CPU-time budget of 1 s",
        &[
            ("RADPIPE_FAULT_DECODE", "spin"),
            ("RADPIPE_DECODE_CPU_SECONDS", "1"),
        ],
    );
    assert!(!out.exists(), "an output was written");
}

/// Samples of `p` as their low `bits` bits.
fn low_bits(p: &Pixels, bits: u16) -> Vec<u16> {
    let mask = if bits >= 16 {
        u16::MAX
    } else {
        (1u16 << bits) - 1
    };
    match p {
        Pixels::U8(v) => v.iter().map(|&x| u16::from(x) & mask).collect(),
        Pixels::U16(v) => v.iter().map(|&x| x & mask).collect(),
        Pixels::I16(v) => v.iter().map(|&x| x as u16 & mask).collect(),
        Pixels::F32(_) => panic!("float samples from a DICOM reader"),
    }
}

#[test]
fn the_helper_returns_the_bytes_the_in_process_decoder_gives() {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in compressed_fixtures(dir.path()) {
        // The library decodes in-process (this test binary never turns isolation on).
        let image = read_dicom(&file).unwrap_or_else(|e| panic!("{e}"));
        let expected = low_bits(&image.frame(0).expect("frame 0").pixels, image.bits_stored);
        let (o, took) = radpipe_limited_env(
            &[
                "decode-pixels",
                "--memory-bytes",
                "536870912",
                "--cpu-seconds",
                "20",
                s(&file),
            ],
            &[],
        );
        assert!(o.status.success(), "{}: {}", file.display(), stderr(&o));
        assert!(took < Duration::from_secs(20));
        let got: Vec<u16> = if image.bits_allocated == 16 {
            o.stdout
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        } else {
            o.stdout.iter().map(|&b| u16::from(b)).collect()
        };
        let got = low_bits(&Pixels::U16(got), image.bits_stored);
        assert_eq!(got.len(), expected.len(), "{}", file.display());
        assert!(got == expected, "{}: samples differ", file.display());
    }
}

#[test]
fn native_and_rle_pixel_data_are_read_without_a_helper() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["mr_small.dcm", "mr_rle.dcm", "mr_bigendian.dcm"] {
        let file = repo_path(&format!("tests/data/dicom/{name}"));
        let out = dir.path().join(format!("{name}.png"));
        // A helper would run away: these must not start one.
        let (o, _) = radpipe_limited_env(
            &["window", s(&file), "-o", s(&out)],
            &[("RADPIPE_FAULT_DECODE", "alloc")],
        );
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(out.exists());
    }
}

/// CRC-32 (ISO 3309, as PNG chunks use).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_png_claiming_60000_squared_16_bit_pixels_is_refused_by_the_raster_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = dir.path().join("small.png");
    image::GrayImage::from_pixel(4, 4, image::Luma([7u8]))
        .save(&small)
        .expect("write png");
    let mut png = std::fs::read(&small).expect("read");
    // IHDR is the first chunk: signature (8), length (4), "IHDR" (4), width, height, depth, colour.
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    png[24] = 16;
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let claims = dir.path().join("claims_60000.png");
    std::fs::write(&claims, &png).expect("write");
    run_all_env(&claims, "cannot decode PNG file", &[]);
}
