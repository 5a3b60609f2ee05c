//! `radpipe bench`: honest, repeatable GPU figures. For each op and image size: the median GPU time,
//! pixels/s, the effective bandwidth (bytes the op must read and write, not bytes touched by caches),
//! and that bandwidth as a fraction of the same device's buffer-to-buffer copy bandwidth measured in
//! the same run — the ceiling a memory-bound op can approach. Timestamp queries time the GPU work when
//! the adapter has them; otherwise each iteration is timed as submit + wait on the CPU clock, and the
//! report says which.

pub mod cases;

use std::time::Instant;

use crate::gpu::adapter::AdapterSummary;
use crate::pipeline::Recorder;
use crate::{Engine, Error, Result};

pub use cases::{BenchCase, OpSpec, all_ops};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Square image sides.
    pub sizes: Vec<u32>,
    /// Op names (see [`all_ops`]); empty: all.
    pub ops: Vec<String>,
    /// Timed iterations per op and size (after warm-up).
    pub iters: u32,
    /// Untimed warm-up iterations.
    pub warmup: u32,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            sizes: vec![512, 2048, 4096],
            ops: Vec::new(),
            iters: 20,
            warmup: 3,
        }
    }
}

/// How GPU time was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimingMethod {
    /// GPU timestamp queries written before and after the op's commands.
    Timestamps,
    /// CPU wall clock around submit + wait for completion.
    SubmitWait,
}

/// One op at one size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpResult {
    /// Op name.
    pub op: String,
    /// Image side (square).
    pub size: u32,
    /// Pixels per iteration.
    pub pixels: u64,
    /// Bytes the op must read and write per iteration.
    pub bytes: u64,
    /// Median seconds per iteration.
    pub median_s: f64,
    /// Fastest iteration, seconds.
    pub min_s: f64,
    /// Pixels per second at the median.
    pub pixels_per_s: f64,
    /// Effective GB/s (1e9 bytes) at the median.
    pub gb_per_s: f64,
    /// `gb_per_s` over the copy bandwidth measured in this run.
    pub fraction_of_copy: f64,
}

/// The whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// The adapter that ran it.
    pub adapter: AdapterSummary,
    /// How GPU time was measured.
    pub timing: TimingMethod,
    /// Timed iterations per result.
    pub iters: u32,
    /// Buffer-to-buffer copy bandwidth, GB/s (read + write bytes), at the largest size.
    pub copy_gb_per_s: f64,
    /// Bytes copied per iteration for the copy figure.
    pub copy_bytes: u64,
    /// One entry per op and size.
    pub results: Vec<OpResult>,
}

struct Timer {
    method: TimingMethod,
    queries: Option<(wgpu::QuerySet, wgpu::Buffer)>,
}

impl Timer {
    fn new(engine: &Engine) -> Timer {
        let needed =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        if !engine.device().features().contains(needed) {
            return Timer {
                method: TimingMethod::SubmitWait,
                queries: None,
            };
        }
        let set = engine.device().create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("radpipe bench timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = engine.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("radpipe bench timestamp resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Timer {
            method: TimingMethod::Timestamps,
            queries: Some((set, resolve)),
        }
    }

    /// Seconds of one iteration of `case`.
    fn time(&self, engine: &Engine, case: &dyn BenchCase) -> Result<f64> {
        let mut rec = Recorder::new(engine);
        match &self.queries {
            Some((set, resolve)) => {
                rec.encoder().write_timestamp(set, 0);
                case.record(&mut rec)?;
                rec.encoder().write_timestamp(set, 1);
                rec.encoder().resolve_query_set(set, 0..2, resolve, 0);
                let download = rec.download_bytes(resolve, 16)?;
                rec.submit()?;
                let bytes = download.wait_bytes()?;
                let t0 = u64::from_le_bytes(bytes[0..8].try_into().unwrap_or_default());
                let t1 = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
                let period = f64::from(engine.queue().get_timestamp_period());
                Ok(t1.saturating_sub(t0) as f64 * period * 1e-9)
            }
            None => {
                case.record(&mut rec)?;
                let start = Instant::now();
                rec.submit()?;
                engine.wait_idle()?;
                Ok(start.elapsed().as_secs_f64())
            }
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn measure(
    engine: &Engine,
    timer: &Timer,
    case: &dyn BenchCase,
    opts: &BenchOptions,
) -> Result<(f64, f64)> {
    for _ in 0..opts.warmup {
        timer.time(engine, case)?;
    }
    let mut times = Vec::with_capacity(opts.iters as usize);
    for _ in 0..opts.iters.max(1) {
        times.push(timer.time(engine, case)?);
    }
    let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
    Ok((median(times), min))
}

/// Runs the benchmark.
pub fn run(
    engine: &Engine,
    opts: &BenchOptions,
    mut progress: impl FnMut(&OpResult),
) -> Result<BenchReport> {
    if opts.sizes.is_empty() || opts.sizes.iter().any(|&s| s == 0 || s > 16384) {
        return Err(Error::InvalidParams(format!(
            "sizes {:?} must be 1..=16384",
            opts.sizes
        )));
    }
    let specs = all_ops();
    let chosen: Vec<&OpSpec> = if opts.ops.is_empty() {
        specs.iter().collect()
    } else {
        opts.ops
            .iter()
            .map(|name| {
                specs.iter().find(|s| s.name == name).ok_or_else(|| {
                    let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                    Error::InvalidParams(format!(
                        "unknown op '{name}' (known: {})",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_>>()?
    };
    engine.shaders().warm_up()?;
    let timer = Timer::new(engine);

    // The ceiling: a plain buffer copy of the largest u16 image, measured the same way.
    let largest = opts.sizes.iter().copied().max().unwrap_or(512);
    let copy = cases::CopyCase::new(engine, largest)?;
    let (copy_median, _) = measure(engine, &timer, &copy, opts)?;
    let copy_gb_per_s = copy.bytes() as f64 / copy_median / 1e9;

    let mut results = Vec::new();
    for spec in chosen {
        for &size in &opts.sizes {
            let case = (spec.make)(engine, size)?;
            let (median_s, min_s) = measure(engine, &timer, case.as_ref(), opts)?;
            let gb_per_s = case.bytes() as f64 / median_s / 1e9;
            let result = OpResult {
                op: spec.name.to_string(),
                size,
                pixels: case.pixels(),
                bytes: case.bytes(),
                median_s,
                min_s,
                pixels_per_s: case.pixels() as f64 / median_s,
                gb_per_s,
                fraction_of_copy: gb_per_s / copy_gb_per_s,
            };
            progress(&result);
            results.push(result);
            engine.pool().trim();
        }
    }
    Ok(BenchReport {
        adapter: engine.summary(),
        timing: timer.method,
        iters: opts.iters,
        copy_gb_per_s,
        copy_bytes: copy.bytes(),
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![]).is_nan());
    }
}
