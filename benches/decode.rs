//! What the decoder budget costs: compressed DICOM read in-process (the library's default) against
//! the same read with its JPEG / JPEG 2000 decoding in a budgeted helper process, as the `radpipe`
//! command and the DICOM node do (`io::dicom::isolate_decoders`, docs/cli.md "Decoders run under a
//! budget"). Uncompressed data never starts a helper and is shown for scale.
//!
//! Files: the committed JPEG 2000 fixtures (128² lossy, 64² lossless) and JPEG Lossless copies of the
//! 64² MR and the 460×488 CR made with dcmtk's `dcmcjpeg`.
//!
//! `cargo bench --bench decode` (`RADPIPE_BENCH_READS=N` per file and mode, default 100). Needs dcmtk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn jpeg_lossless(src: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!(
        "{}_jpeg_lossless.dcm",
        Path::new(src)
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
    ));
    let ok = Command::new("dcmcjpeg")
        .arg("+e1")
        .arg(repo(src))
        .arg(&out)
        .status()
        .expect("dcmcjpeg (dcmtk) must be installed");
    assert!(ok.success(), "dcmcjpeg failed on {src}");
    out
}

/// Mean and 99th percentile of `n` reads of `file`, milliseconds.
fn time_reads(file: &Path, n: usize) -> (f64, f64) {
    let mut ms: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let image = radpipe::io::dicom::read_dicom(file).unwrap_or_else(|e| panic!("{e}"));
            std::hint::black_box(image.frame(0).expect("frame"));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / n as f64;
    let p99 = ms[((n as f64 * 0.99).ceil() as usize).clamp(1, n) - 1];
    (mean, p99)
}

fn main() {
    let n: usize = std::env::var("RADPIPE_BENCH_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [
        (
            "JPEG 2000 128² (ct_j2k)",
            repo("tests/data/dicom/ct_j2k.dcm"),
        ),
        (
            "JPEG 2000 lossless 64² (mr_j2k_lossless)",
            repo("tests/data/dicom/mr_j2k_lossless.dcm"),
        ),
        (
            "JPEG Lossless 64² (mr_small)",
            jpeg_lossless("tests/data/dicom/mr_small.dcm", dir.path()),
        ),
        (
            "JPEG Lossless 460×488 (cr_chest)",
            jpeg_lossless("data/demo/cr_chest.dcm", dir.path()),
        ),
        (
            "uncompressed 460×488 (cr_chest)",
            repo("data/demo/cr_chest.dcm"),
        ),
    ];
    // In-process first: isolation, once on, stays on for the process.
    let in_process: Vec<(f64, f64)> = files.iter().map(|(_, f)| time_reads(f, n)).collect();
    radpipe::io::dicom::isolate_decoders(PathBuf::from(env!("CARGO_BIN_EXE_radpipe")));
    let isolated: Vec<(f64, f64)> = files.iter().map(|(_, f)| time_reads(f, n)).collect();
    println!("read_dicom + frame(0), {n} reads each: mean / p99 ms");
    println!(
        "{:<42} {:>17} {:>17} {:>10}",
        "file", "in-process", "helper", "cost"
    );
    for (((name, _), a), b) in files.iter().zip(&in_process).zip(&isolated) {
        println!(
            "{name:<42} {:>8.2} / {:>6.2} {:>8.2} / {:>6.2} {:>+8.2} ms",
            a.0,
            a.1,
            b.0,
            b.1,
            b.0 - a.0
        );
    }
}
