//! Shared test harness: one engine per test binary (or a fresh one when counters matter), seeded random
//! inputs whose seed is printed so a failure can be replayed, and failure images written to
//! `test-output/` for a person to look at.
#![allow(dead_code)]

pub mod cli;
pub mod procs;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use radpipe::{Engine, EngineOptions, HostImage, Pixels};

/// The poison pattern new output buffers are filled with: a NaN as f32, 0xBEEF/0xDEAD as u16.
pub const POISON: u32 = 0xDEAD_BEEF;

const NO_ADAPTER: &str = "radpipe's GPU tests need a wgpu adapter. Without a GPU, install Mesa's lavapipe \
     Vulkan driver: `apt-get install mesa-vulkan-drivers` (the CI script .ci/run does this)";

/// A fresh engine with poisoned output buffers. Panics with install instructions if there is no adapter
/// — GPU tests never silently pass.
pub fn fresh_engine() -> Engine {
    Engine::with_options(EngineOptions {
        poison: Some(POISON),
        ..EngineOptions::default()
    })
    .unwrap_or_else(|e| panic!("{NO_ADAPTER}\n({e})"))
}

/// The engine shared by the tests of one binary.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(fresh_engine)
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// SplitMix64: small, fast, good enough for test data, and identical everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform integer in [lo, hi].
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
}

/// The seed for this run: `RADPIPE_SEED` when set (to replay a failure), else fresh from the clock.
/// Printed, so a failing run's output says how to replay it.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("RADPIPE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{test}: seed {seed} (replay with RADPIPE_SEED={seed})");
    seed
}

/// Where failure images go (gitignored).
pub fn output_dir() -> PathBuf {
    let dir = root().join("test-output");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn to_u16_view(img: &HostImage) -> Vec<u16> {
    match &img.pixels {
        Pixels::U8(v) => v.iter().map(|&x| u16::from(x) * 257).collect(),
        Pixels::U16(v) => v.clone(),
        Pixels::I16(v) => v.iter().map(|&x| (i32::from(x) + 32768) as u16).collect(),
        Pixels::F32(v) => {
            let (lo, hi) = v
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            let span = (hi - lo).max(f32::EPSILON);
            v.iter()
                .map(|&x| (((x - lo) / span) * 65535.0) as u16)
                .collect()
        }
    }
}

/// Writes actual, expected and |difference| (scaled ×64) as 16-bit PNGs under `test-output/`.
pub fn write_failure_images(name: &str, actual: &HostImage, expected: &HostImage) -> PathBuf {
    let dir = output_dir();
    let a = to_u16_view(actual);
    let e = to_u16_view(expected);
    let d: Vec<u16> = a
        .iter()
        .zip(&e)
        .map(|(&x, &y)| {
            (i32::from(x) - i32::from(y))
                .unsigned_abs()
                .saturating_mul(64)
                .min(65535) as u16
        })
        .collect();
    for (suffix, data) in [("actual", a), ("expected", e), ("diff", d)] {
        let img = HostImage::new(actual.width, actual.height, Pixels::U16(data)).expect("image");
        let path = dir.join(format!("{name}.{suffix}.png"));
        let _ = radpipe::io::raster::write_png(&path, &img);
    }
    dir.join(name)
}

/// Per-pixel absolute differences between two integer images of the same size and format.
pub fn abs_diffs(actual: &HostImage, expected: &HostImage) -> Vec<f64> {
    assert_eq!(
        (actual.width, actual.height),
        (expected.width, expected.height),
        "size"
    );
    assert_eq!(actual.format(), expected.format(), "format");
    (0..actual.pixel_count())
        .map(|i| (actual.pixels.get_f64(i) - expected.pixels.get_f64(i)).abs())
        .collect()
}

/// Asserts every pixel within `max_diff` and at most `max_off_fraction` of pixels differing at all;
/// on failure writes the images and names them.
pub fn assert_close(
    name: &str,
    actual: &HostImage,
    expected: &HostImage,
    max_diff: f64,
    max_off_fraction: f64,
) {
    let diffs = abs_diffs(actual, expected);
    let worst = diffs.iter().cloned().fold(0.0, f64::max);
    let off = diffs.iter().filter(|&&d| d > 0.0).count();
    let fraction = off as f64 / diffs.len() as f64;
    // Small images: a fraction below one pixel still allows one differing pixel.
    let allowed_off = ((max_off_fraction * diffs.len() as f64).ceil() as usize).max(1);
    if worst > max_diff || off > allowed_off {
        let first = diffs
            .iter()
            .position(|&d| d > max_diff)
            .or_else(|| diffs.iter().position(|&d| d > 0.0))
            .unwrap_or(0);
        let at = write_failure_images(name, actual, expected);
        panic!(
            "{name}: max |diff| {worst} (allowed {max_diff}), {off} of {} pixels differ ({:.4}%, allowed {:.4}%); \
             first bad pixel {first}: actual {} expected {}; images at {}.*.png",
            diffs.len(),
            fraction * 100.0,
            max_off_fraction * 100.0,
            actual.pixels.get_f64(first),
            expected.pixels.get_f64(first),
            at.display()
        );
    }
}

/// Path relative to the repository root.
pub fn repo_path(rel: &str) -> PathBuf {
    root().join(rel)
}

/// True when `path` exists (fixture presence check with a helpful message).
pub fn require(path: &Path) -> &Path {
    assert!(
        path.exists(),
        "missing fixture {}: regenerate with `.venv/bin/python scripts/make_fixtures.py`",
        path.display()
    );
    path
}
