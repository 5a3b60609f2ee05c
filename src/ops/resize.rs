//! Resizing to a given output size: bilinear with OpenCV `resize(INTER_LINEAR)` semantics (half-pixel
//! centres, `src = (dst + ½)·src_size/dst_size − ½`, clamped at the edges), and area averaging (a box
//! filter over each output pixel's footprint, OpenCV `INTER_AREA`) as its own explicit mode for
//! shrinking. OpenCV quietly switches `INTER_LINEAR` to area averaging for an exact 2× reduction; radpipe
//! does that only in [`Sampling::OpenCv`] mode, where matching OpenCV is the point (at exactly 2× the two
//! agree up to how ties round).
//!
//! Both modes are separable: the host tabulates per output column and per output row which source
//! samples contribute with what weight, in f64 (`shaders/resize_linear.wgsl`,
//! `shaders/resize_area.wgsl`); the shaders gather and blend, and [`reference()`] does the same on the
//! CPU from the same tables.
//!
//! - [`Sampling::Exact`]: linear = two lerps in f32 (x, then y), round to nearest (ties to even); area
//!   = exact coverage weights, f32 sums.
//! - [`Sampling::OpenCv`]: linear = OpenCV's float weights (16-bit, f32) or its 11-bit fixed-point
//!   weights and vertical rounding (`INTER_RESIZE_COEF_BITS`, 8-bit), with its row clamping; area =
//!   OpenCV's `computeResizeAreaTab` weights, or integer block sums for integer factors
//!   (`resizeAreaFast`). With Intel IPP enabled (the default in opencv-python wheels) OpenCV resizes
//!   16-bit images with IPP's own arithmetic instead, which differs from its C++ code by 1 LSB on a few
//!   percent of pixels; radpipe follows the C++ code.
//!
//! The output's pixel spacing scales by input/output size per axis and its position moves to the first
//! output pixel's centre ([`super::warp::warp_geometry`] with the resize's map).

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{Geometry, HostImage, PixelFormat};
use crate::ops::resample::{
    check_device, check_reference_size, check_size, cv_round_i32, output_pixels, output_words,
    samples_f32,
};
use crate::ops::warp::{Sampling, warp_geometry};
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Error, Result};

/// How output pixels are made from input pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Bilinear interpolation at half-pixel centres (enlarging and shrinking).
    #[default]
    Linear,
    /// Area averaging: each output pixel is the mean of the input area it covers (shrinking only).
    Area,
}

/// Everything a resize needs besides the input image.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeParams {
    /// Output columns.
    pub width: u32,
    /// Output rows.
    pub height: u32,
    /// Interpolation.
    pub mode: ResizeMode,
    /// Arithmetic: exact (default) or OpenCV's.
    pub sampling: Sampling,
    /// Output sample format; `None` keeps the input's.
    pub out_format: Option<PixelFormat>,
}

impl ResizeParams {
    /// A bilinear, exact resize to `width`×`height`, keeping the input's format.
    pub fn new(width: u32, height: u32) -> Self {
        ResizeParams {
            width,
            height,
            mode: ResizeMode::Linear,
            sampling: Sampling::Exact,
            out_format: None,
        }
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/resize_linear.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct LinearParams = RESIZE_LINEAR_PARAMS {
        src_width: u32,
        src_height: u32,
        dst_width: u32,
        dst_height: u32,
        in_format: u32,
        out_format: u32,
        kind: u32,
        row_table: u32,
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/resize_area.wgsl`.
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct AreaParams = RESIZE_AREA_PARAMS {
        src_width: u32,
        src_height: u32,
        dst_width: u32,
        dst_height: u32,
        in_format: u32,
        out_format: u32,
        kind: u32,
        kx: u32,
        ky: u32,
        inv_area: f32,
        row_index: u32,
        col_entries: u32,
        row_entries: u32,
        _pad: [u32; 3],
    }
}

const LINEAR_EXACT: u32 = 0;
const LINEAR_OPENCV: u32 = 1;
const LINEAR_OPENCV_U8: u32 = 2;
const AREA_WEIGHTED: u32 = 0;
const AREA_BLOCKS: u32 = 1;

#[derive(Debug, Clone)]
enum Kernel {
    Linear(LinearParams),
    Area(AreaParams),
}

#[derive(Debug, Clone)]
struct Plan {
    kernel: Kernel,
    table: Vec<u32>,
    out_format: PixelFormat,
    geometry: Geometry,
}

/// One output column's (or row's) two source indices and weights: `[i0, i1, w0, w1, iw0 | iw1 << 16]`.
type LinearEntry = [u32; 5];

fn exact_linear_axis(src: u32, dst: u32) -> Vec<LinearEntry> {
    let scale = f64::from(src) / f64::from(dst);
    let last = src - 1;
    (0..dst)
        .map(|d| {
            let s = (f64::from(d) + 0.5) * scale - 0.5;
            let (i0, i1, f) = if s <= 0.0 {
                (0, 0, 0.0)
            } else if s >= f64::from(last) {
                (last, last, 0.0)
            } else {
                let i0 = s.floor();
                (i0 as u32, i0 as u32 + 1, (s - i0) as f32)
            };
            [i0, i1, (1.0 - f).to_bits(), f.to_bits(), 0]
        })
        .collect()
}

/// OpenCV resize's coefficient tables: `fx = (float)((dx + 0.5)·scale − 0.5)` with `scale` =
/// 1/(dst/src) in double; columns clamp index and fraction at both edges, rows clamp only the two
/// indices (the weights stay those of the unclamped position), as `resizeGeneric_` fetches rows.
fn opencv_linear_axis(src: u32, dst: u32, rows: bool) -> Vec<LinearEntry> {
    let scale = 1.0 / (f64::from(dst) / f64::from(src));
    let last = src as i32 - 1;
    (0..dst)
        .map(|d| {
            let mut f = ((f64::from(d) + 0.5) * scale - 0.5) as f32;
            let mut i = f.floor() as i32;
            f -= i as f32;
            let (i0, i1) = if rows {
                (i.clamp(0, last), (i + 1).clamp(0, last))
            } else {
                if i < 0 {
                    f = 0.0;
                    i = 0;
                }
                if i >= last {
                    f = 0.0;
                    i = last;
                }
                (i, (i + 1).min(last))
            };
            let (w0, w1) = (1.0 - f, f);
            let fixed = |w: f32| (w * 2048.0).round_ties_even().clamp(-32768.0, 32767.0) as i32;
            let packed = (fixed(w0) as u32 & 0xFFFF) | ((fixed(w1) as u32 & 0xFFFF) << 16);
            [i0 as u32, i1 as u32, w0.to_bits(), w1.to_bits(), packed]
        })
        .collect()
}

/// OpenCV's `scale = 1/(dst/src)` and whether it is an integer (`is_area_fast`), per axis.
fn integer_factor(src: u32, dst: u32) -> Option<u32> {
    let scale = 1.0 / (f64::from(dst) / f64::from(src));
    let k = cv_round_i32(scale);
    ((scale - f64::from(k)).abs() < f64::EPSILON && k >= 1).then_some(k as u32)
}

/// One output column's (or row's) run of (source index, weight).
type AreaAxis = Vec<Vec<(u32, f32)>>;

fn exact_area_axis(src: u32, dst: u32) -> AreaAxis {
    let scale = f64::from(src) / f64::from(dst);
    (0..dst)
        .map(|d| {
            let f0 = f64::from(d) * scale;
            let f1 = if d + 1 == dst {
                f64::from(src)
            } else {
                (f64::from(d + 1) * scale).min(f64::from(src))
            };
            let width = f1 - f0;
            let first = f0.floor() as u32;
            let end = (f1.ceil() as u32).min(src);
            (first..end)
                .filter_map(|i| {
                    let overlap = (f64::from(i + 1)).min(f1) - f64::from(i).max(f0);
                    (overlap > 0.0).then_some((i, (overlap / width) as f32))
                })
                .collect()
        })
        .collect()
}

/// OpenCV's `computeResizeAreaTab` (slivers under 1e-3 px are dropped, weights rounded to float).
fn opencv_area_axis(src: u32, dst: u32) -> AreaAxis {
    let scale = 1.0 / (f64::from(dst) / f64::from(src));
    let ssize = f64::from(src);
    (0..dst)
        .map(|d| {
            let fsx1 = f64::from(d) * scale;
            let fsx2 = fsx1 + scale;
            let cell = scale.min(ssize - fsx1);
            let sx2 = (fsx2.floor() as i64).min(i64::from(src) - 1);
            let sx1 = (fsx1.ceil() as i64).min(sx2);
            let mut run = Vec::new();
            if sx1 as f64 - fsx1 > 1e-3 {
                run.push(((sx1 - 1) as u32, ((sx1 as f64 - fsx1) / cell) as f32));
            }
            for sx in sx1..sx2 {
                run.push((sx as u32, (1.0 / cell) as f32));
            }
            if fsx2 - sx2 as f64 > 1e-3 {
                let w = (fsx2 - sx2 as f64).min(1.0).min(cell) / cell;
                run.push((sx2 as u32, w as f32));
            }
            run
        })
        .collect()
}

fn linear_plan(
    src: (u32, u32),
    in_format: PixelFormat,
    out_format: PixelFormat,
    p: &ResizeParams,
) -> (Kernel, Vec<u32>) {
    let (cols, rows, kind) = match p.sampling {
        Sampling::Exact => (
            exact_linear_axis(src.0, p.width),
            exact_linear_axis(src.1, p.height),
            LINEAR_EXACT,
        ),
        Sampling::OpenCv => (
            opencv_linear_axis(src.0, p.width, false),
            opencv_linear_axis(src.1, p.height, true),
            if in_format == PixelFormat::U8 {
                LINEAR_OPENCV_U8
            } else {
                LINEAR_OPENCV
            },
        ),
    };
    let table: Vec<u32> = cols.iter().chain(&rows).flatten().copied().collect();
    let params = LinearParams {
        src_width: src.0,
        src_height: src.1,
        dst_width: p.width,
        dst_height: p.height,
        in_format: in_format.shader_code(),
        out_format: out_format.shader_code(),
        kind,
        row_table: p.width * 5,
    };
    (Kernel::Linear(params), table)
}

fn area_plan(
    src: (u32, u32),
    in_format: PixelFormat,
    out_format: PixelFormat,
    p: &ResizeParams,
    blocks: Option<(u32, u32)>,
) -> (Kernel, Vec<u32>) {
    let mut params = AreaParams {
        src_width: src.0,
        src_height: src.1,
        dst_width: p.width,
        dst_height: p.height,
        in_format: in_format.shader_code(),
        out_format: out_format.shader_code(),
        kind: AREA_WEIGHTED,
        kx: 1,
        ky: 1,
        inv_area: 1.0,
        row_index: 0,
        col_entries: 0,
        row_entries: 0,
        _pad: [0; 3],
    };
    if let Some((kx, ky)) = blocks {
        params.kind = AREA_BLOCKS;
        params.kx = kx;
        params.ky = ky;
        params.inv_area = 1.0 / (kx * ky) as f32;
        return (Kernel::Area(params), Vec::new());
    }
    let (cols, rows) = match p.sampling {
        Sampling::Exact => (
            exact_area_axis(src.0, p.width),
            exact_area_axis(src.1, p.height),
        ),
        Sampling::OpenCv => (
            opencv_area_axis(src.0, p.width),
            opencv_area_axis(src.1, p.height),
        ),
    };
    let mut index = Vec::new();
    let mut entries = [Vec::new(), Vec::new()];
    for (axis, runs) in [&cols, &rows].into_iter().enumerate() {
        let mut first = 0u32;
        for run in runs {
            index.extend([first, run.len() as u32]);
            first += run.len() as u32;
            for &(i, w) in run {
                entries[axis].extend([i, w.to_bits()]);
            }
        }
    }
    params.row_index = 2 * p.width;
    params.col_entries = 2 * (p.width + p.height);
    params.row_entries = params.col_entries + entries[0].len() as u32;
    let [col_entries, row_entries] = entries;
    let table = index
        .into_iter()
        .chain(col_entries)
        .chain(row_entries)
        .collect();
    (Kernel::Area(params), table)
}

fn plan(
    src_width: u32,
    src_height: u32,
    in_format: PixelFormat,
    geometry: &Geometry,
    p: &ResizeParams,
) -> Result<Plan> {
    check_size("resize", p.width, p.height)?;
    let out_format = p.out_format.unwrap_or(in_format);
    let src = (src_width, src_height);
    let factors = (
        integer_factor(src_width, p.width),
        integer_factor(src_height, p.height),
    );
    let blocks = match factors {
        (Some(kx), Some(ky)) if p.sampling == Sampling::OpenCv => Some((kx, ky)),
        _ => None,
    };
    let (kernel, table) = match p.mode {
        ResizeMode::Linear => match blocks {
            // OpenCV: INTER_LINEAR at exactly 2× in both directions is computed as INTER_AREA.
            Some((2, 2)) => area_plan(src, in_format, out_format, p, blocks),
            _ => linear_plan(src, in_format, out_format, p),
        },
        ResizeMode::Area => {
            if p.width > src_width || p.height > src_height {
                return Err(Error::InvalidParams(format!(
                    "area averaging shrinks: output {}x{} must not exceed the input {src_width}x{src_height} \
                     in either direction (use linear to enlarge)",
                    p.width, p.height
                )));
            }
            area_plan(src, in_format, out_format, p, blocks)
        }
    };
    let sx = f64::from(src_width) / f64::from(p.width);
    let sy = f64::from(src_height) / f64::from(p.height);
    let map = [
        [sx, 0.0, 0.5 * sx - 0.5],
        [0.0, sy, 0.5 * sy - 0.5],
        [0.0, 0.0, 1.0],
    ];
    Ok(Plan {
        kernel,
        table,
        out_format,
        geometry: warp_geometry(geometry, &map),
    })
}

/// Records the resize of `input` into a new `params.width`×`params.height` image (format
/// `params.out_format` or the input's) with the pixel spacing scaled by input/output size.
pub fn encode(rec: &mut Recorder<'_>, input: &GpuImage, params: &ResizeParams) -> Result<GpuImage> {
    let plan = plan(
        input.width,
        input.height,
        input.format,
        &input.geometry,
        params,
    )?;
    check_device(
        rec.engine(),
        "resize",
        params.width,
        params.height,
        plan.out_format,
    )?;
    if let Kernel::Area(p) = &plan.kernel {
        check_loop_budget(rec.engine(), input, p, &plan.table, plan.out_format)?;
    }
    let (id, uniform) = match &plan.kernel {
        Kernel::Linear(p) => (
            match p.kind {
                LINEAR_EXACT => kernels::RESIZE_LINEAR_EXACT,
                LINEAR_OPENCV => kernels::RESIZE_LINEAR_OPENCV,
                _ => kernels::RESIZE_LINEAR_OPENCV_U8,
            },
            rec.uniform(p, "resize_linear params")?,
        ),
        Kernel::Area(p) => (
            if p.kind == AREA_BLOCKS {
                kernels::RESIZE_AREA_BLOCKS_MAIN
            } else {
                kernels::RESIZE_AREA_WEIGHTED_MAIN
            },
            rec.uniform(p, "resize_area params")?,
        ),
    };
    let kernel = rec.engine().shaders().specialized(
        id,
        &[
            ("IN_FORMAT", f64::from(input.format.shader_code())),
            ("OUT_FORMAT", f64::from(plan.out_format.shader_code())),
        ],
    )?;
    let output = rec.alloc_image(params.width, params.height, plan.out_format, plan.geometry)?;
    let table = rec.storage_table(bytemuck::cast_slice(&plan.table), "resize table")?;
    let words = output_words(plan.out_format, output.pixel_count());
    let groups = rec.groups_1d(&kernel, words);
    let mut binds = vec![
        (0, Bind::Pooled(&uniform)),
        (1, Bind::Image(input)),
        (3, Bind::Image(&output)),
    ];
    // Integer area blocks need no weight table.
    if id != kernels::RESIZE_AREA_BLOCKS_MAIN {
        binds.push((2, Bind::Table(&table)));
    }
    rec.dispatch(&kernel, &binds, groups)?;
    Ok(output)
}

/// Loop iterations llvmpipe (the CPU Vulkan adapter) allows one shader invocation, over all its loops
/// together; past it every loop ends early, silently (Mesa `LP_MAX_TGSI_LOOP_ITERATIONS`).
pub const CPU_ADAPTER_LOOP_BUDGET: u64 = 65_535;

/// The most loop iterations one invocation of `shaders/resize_area.wgsl` runs: the lanes of an
/// output word, each over its source window (two columns per step for integer blocks).
fn area_loop_iterations(p: &AreaParams, table: &[u32], out_format: PixelFormat) -> u64 {
    let lanes =
        (out_format.pixels_per_word() as u64).min(u64::from(p.dst_width) * u64::from(p.dst_height));
    if p.kind == AREA_BLOCKS {
        return lanes * u64::from(p.ky) * (u64::from(p.kx) / 2 + 2);
    }
    let most = |first: usize, count: usize| {
        table[first..first + 2 * count]
            .chunks(2)
            .map(|e| u64::from(e[1]))
            .max()
            .unwrap_or(1)
    };
    let cols = most(0, p.dst_width as usize);
    let rows = most(p.row_index as usize, p.dst_height as usize);
    lanes * rows * (cols + 1)
}

/// Refuses, on a CPU adapter, an area resize whose invocations would outrun llvmpipe's loop budget
/// (the result would be wrong without an error); a GPU has no such limit.
fn check_loop_budget(
    engine: &crate::Engine,
    input: &GpuImage,
    p: &AreaParams,
    table: &[u32],
    out_format: PixelFormat,
) -> Result<()> {
    let summary = engine.summary();
    if summary.device_type != "cpu" {
        return Ok(());
    }
    let loops = area_loop_iterations(p, table, out_format);
    if loops <= CPU_ADAPTER_LOOP_BUDGET {
        return Ok(());
    }
    let step =
        |from: u32, to: u32| (f64::from(from) * f64::from(to)).sqrt().round().max(1.0) as u32;
    Err(Error::InvalidParams(format!(
        "area resize {}x{} -> {}x{}: on the CPU adapter ({}) one shader invocation would loop {loops} \
         times, past llvmpipe's loop budget of {CPU_ADAPTER_LOOP_BUDGET}, after which it stops without \
         an error; resize in two steps (e.g. to {}x{} first)",
        input.width,
        input.height,
        p.dst_width,
        p.dst_height,
        summary.name,
        step(input.width, p.dst_width),
        step(input.height, p.dst_height),
    )))
}

/// Uploads `input`, resizes it on the GPU and reads the result back: one upload, one submission, one
/// readback.
pub fn resize_image(
    engine: &Engine,
    input: &HostImage,
    params: &ResizeParams,
) -> Result<HostImage> {
    let gpu = engine.upload(input)?;
    let mut rec = Recorder::new(engine);
    let output = encode(&mut rec, &gpu, params)?;
    let download = rec.download(&output)?;
    rec.submit()?;
    download.wait()
}

/// The CPU reference: the same tables as the GPU, then the blending written out in Rust with the same
/// f32 and integer operations as `shaders/resize_linear.wgsl` and `shaders/resize_area.wgsl`.
pub fn reference(input: &HostImage, params: &ResizeParams) -> Result<HostImage> {
    let plan = plan(
        input.width,
        input.height,
        input.format(),
        &input.geometry,
        params,
    )?;
    check_reference_size("resize", params.width, params.height)?;
    let src = samples_f32(input);
    let t = &plan.table;
    let w = input.width as usize;
    let at = |x: u32, y: u32| src[y as usize * w + x as usize];
    let f = |i: usize| f32::from_bits(t[i]);
    let mut values = Vec::with_capacity(params.width as usize * params.height as usize);
    for dy in 0..params.height {
        for dx in 0..params.width {
            let v = match &plan.kernel {
                Kernel::Linear(p) => {
                    let c = dx as usize * 5;
                    let r = (p.row_table + dy * 5) as usize;
                    let (x0, x1, y0, y1) = (t[c], t[c + 1], t[r], t[r + 1]);
                    let (p00, p01, p10, p11) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
                    match p.kind {
                        LINEAR_EXACT => {
                            let (fx, fy) = (f(c + 3), f(r + 3));
                            let h0 = p00 + fx * (p01 - p00);
                            let h1 = p10 + fx * (p11 - p10);
                            h0 + fy * (h1 - h0)
                        }
                        LINEAR_OPENCV => {
                            let h0 = p00 * f(c + 2) + p01 * f(c + 3);
                            let h1 = p10 * f(c + 2) + p11 * f(c + 3);
                            h0 * f(r + 2) + h1 * f(r + 3)
                        }
                        _ => {
                            let (ia, ib) = (t[c + 4], t[r + 4]);
                            let (a0, a1) = ((ia & 0xFFFF) as i32, (ia >> 16) as i32);
                            let (b0, b1) = ((ib & 0xFFFF) as i32, (ib >> 16) as i32);
                            let h0 = p00 as i32 * a0 + p01 as i32 * a1;
                            let h1 = p10 as i32 * a0 + p11 as i32 * a1;
                            let s = (((h0 >> 4) * b0) >> 16) + (((h1 >> 4) * b1) >> 16);
                            ((s + 2) >> 2).clamp(0, 255) as f32
                        }
                    }
                }
                Kernel::Area(p) if p.kind == AREA_BLOCKS => {
                    let (x0, y0) = (dx * p.kx, dy * p.ky);
                    let cells = (0..p.ky).flat_map(|j| (0..p.kx).map(move |i| (x0 + i, y0 + j)));
                    if input.format() == PixelFormat::F32 {
                        cells.fold(0.0f32, |s, (x, y)| s + at(x, y)) * p.inv_area
                    } else {
                        let sum: i32 = cells.map(|(x, y)| at(x, y) as i32).sum();
                        if p.kx == 2 && p.ky == 2 {
                            ((sum + 2) >> 2) as f32
                        } else {
                            sum as f32 * p.inv_area
                        }
                    }
                }
                Kernel::Area(p) => {
                    let (cf, cn) = (t[dx as usize * 2], t[dx as usize * 2 + 1]);
                    let ri = (p.row_index + dy * 2) as usize;
                    let (rf, rn) = (t[ri], t[ri + 1]);
                    let mut sum = 0.0f32;
                    for j in 0..rn {
                        let re = (p.row_entries + (rf + j) * 2) as usize;
                        let (sy, beta) = (t[re], f(re + 1));
                        let mut buf = 0.0f32;
                        for i in 0..cn {
                            let ce = (p.col_entries + (cf + i) * 2) as usize;
                            buf += at(t[ce], sy) * f(ce + 1);
                        }
                        sum += buf * beta;
                    }
                    sum
                }
            };
            values.push(v);
        }
    }
    Ok(HostImage::new(
        params.width,
        params.height,
        output_pixels(&values, plan.out_format),
    )?
    .with_geometry(plan.geometry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Pixels;

    #[test]
    fn params_blocks_match_the_shader_sizes() {
        assert_eq!(std::mem::size_of::<LinearParams>(), 32);
        assert_eq!(std::mem::size_of::<AreaParams>(), 64);
    }

    #[test]
    fn linear_uses_half_pixel_centres_and_clamps() {
        // 4 → 8: output 0 sits at −0.25 (clamped to 0), output 1 at 0.25.
        let t = exact_linear_axis(4, 8);
        assert_eq!((t[0][0], t[0][1], f32::from_bits(t[0][3])), (0, 0, 0.0));
        assert_eq!((t[1][0], t[1][1], f32::from_bits(t[1][3])), (0, 1, 0.25));
        assert_eq!((t[7][0], t[7][1]), (3, 3));
        let img = HostImage::new(2, 1, Pixels::U8(vec![0, 100])).expect("image");
        let out = reference(&img, &ResizeParams::new(4, 1)).expect("resize");
        assert_eq!(out.pixels, Pixels::U8(vec![0, 25, 75, 100]));
    }

    #[test]
    fn area_weights_cover_each_footprint_once() {
        for (src, dst) in [(10, 3), (7, 7), (100, 37), (9, 1)] {
            for axis in [exact_area_axis(src, dst), opencv_area_axis(src, dst)] {
                for run in &axis {
                    let total: f32 = run.iter().map(|&(_, w)| w).sum();
                    assert!((total - 1.0).abs() < 1e-5, "{src}->{dst}: {run:?}");
                }
            }
        }
        let img = HostImage::new(4, 2, Pixels::U16(vec![1, 3, 10, 20, 5, 7, 30, 40])).expect("img");
        let mut p = ResizeParams::new(2, 1);
        p.mode = ResizeMode::Area;
        let out = reference(&img, &p).expect("area");
        assert_eq!(out.pixels, Pixels::U16(vec![4, 25]));
        p.width = 5;
        assert!(matches!(reference(&img, &p), Err(Error::InvalidParams(_))));
    }

    #[test]
    fn spacing_scales_with_the_size_ratio() {
        let img = HostImage::new(8, 4, Pixels::U8(vec![0; 32]))
            .expect("image")
            .with_geometry(Geometry::with_spacing(0.2, 0.1));
        let out = reference(&img, &ResizeParams::new(16, 2)).expect("resize");
        assert_eq!(out.geometry.pixel_spacing, Some([0.4, 0.05]));
    }
}
