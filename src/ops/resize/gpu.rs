//! The GPU path: recording the resize into a [`Recorder`] (refusing area kernels whose per-pixel loop
//! would outrun the CPU adapter's budget) and the one-submission host round trip.

use super::ResizeParams;
use super::plan::{AREA_BLOCKS, AreaParams, Kernel, LINEAR_EXACT, LINEAR_OPENCV, plan};
use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{HostImage, PixelFormat};
use crate::ops::resample::{check_device, output_words};
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Error, Result};

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
