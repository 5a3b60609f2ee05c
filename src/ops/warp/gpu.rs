//! The GPU path: recording the warp into a [`Recorder`], the one-submission host round trip, and the
//! tiled round trip for images over the adapter's binding limit.

use super::map::{dst_to_src, mul3, warp_geometry};
use super::plan::{MODE_EXACT_AFFINE, MODE_EXACT_PERSPECTIVE, MODE_OPENCV_AFFINE, plan};
use super::{Border, Transform, WarpParams};
use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::HostImage;
use crate::ops::resample::{check_device, output_words};
use crate::ops::tiling;
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Result};

/// Records the warp of `input` into a new image (`params.width`×`params.height`, format
/// `params.out_format` or the input's), with the geometry updated by [`warp_geometry`].
pub fn encode(rec: &mut Recorder<'_>, input: &GpuImage, params: &WarpParams) -> Result<GpuImage> {
    let plan = plan(
        input.width,
        input.height,
        input.format,
        &input.geometry,
        params,
    )?;
    check_device(
        rec.engine(),
        "warp",
        params.width,
        params.height,
        plan.out_format,
    )?;
    let entry = match plan.params.mode {
        MODE_EXACT_AFFINE => kernels::WARP_BILINEAR_EXACT_AFFINE,
        MODE_EXACT_PERSPECTIVE => kernels::WARP_BILINEAR_EXACT_PERSPECTIVE,
        MODE_OPENCV_AFFINE => kernels::WARP_BILINEAR_OPENCV_AFFINE,
        _ => kernels::WARP_BILINEAR_OPENCV_PERSPECTIVE,
    };
    let kernel = rec.engine().shaders().specialized(
        entry,
        &[
            ("IN_FORMAT", f64::from(plan.params.in_format)),
            ("OUT_FORMAT", f64::from(plan.params.out_format)),
            ("BORDER", f64::from(plan.params.border)),
        ],
    )?;
    let output = rec.alloc_image(params.width, params.height, plan.out_format, plan.geometry)?;
    let uniform = rec.uniform(&plan.params, "warp_bilinear params")?;
    let table = rec.storage_table(bytemuck::cast_slice(&plan.table), "warp_bilinear table")?;
    let words = output_words(plan.out_format, output.pixel_count());
    let groups = rec.groups_1d(&kernel, words);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(input)),
            (2, Bind::Table(&table)),
            (3, Bind::Image(&output)),
        ],
        groups,
    )?;
    Ok(output)
}

/// Uploads `input`, warps it on the GPU and reads the result back: one upload, one submission, one
/// readback — or, when the input or output is over the adapter's binding limit, the same in tiles
/// (see [`crate::ops::tiling`]).
pub fn warp_image(engine: &Engine, input: &HostImage, params: &WarpParams) -> Result<HostImage> {
    let out_format = params.out_format.unwrap_or(input.format());
    let too_big = !tiling::fits(engine, input.width, input.height, input.format())
        || !tiling::fits(engine, params.width, params.height, out_format);
    if too_big && tiling::tileable(params.width, params.height, out_format) {
        return warp_tiled(engine, input, params);
    }
    let gpu = engine.upload(input)?;
    let mut rec = Recorder::new(engine);
    let output = encode(&mut rec, &gpu, params)?;
    let download = rec.download(&output)?;
    rec.submit()?;
    download.wait()
}

/// [`warp_image`] for images over the binding limit: output tiles, each warped from the source region
/// it reads with the map shifted by the tile and region origins; one submission per tile.
fn warp_tiled(engine: &Engine, input: &HostImage, params: &WarpParams) -> Result<HostImage> {
    // Everything the untiled path validates (size, matrix, border value), before any tile.
    plan(
        input.width,
        input.height,
        input.format(),
        &input.geometry,
        params,
    )?;
    let map = dst_to_src(&params.transform, params.inverse)?;
    let out_format = params.out_format.unwrap_or(input.format());
    let reflect = params.border == Border::Reflect101;
    let m = map.matrix;
    let region = |t: tiling::Rect| tiling::source_region(&m, t, input.width, input.height, reflect);
    let area = tiling::Rect {
        x: 0,
        y: 0,
        width: params.width,
        height: params.height,
    };
    let tiles = tiling::split(area, &mut |t| {
        let r = region(t);
        tiling::fits(engine, t.width, t.height, out_format)
            && tiling::fits(engine, r.width, r.height, input.format())
    })?;
    let mut canvas = tiling::blank(params.width, params.height, out_format)?;
    for tile in tiles {
        let r = region(tile);
        let source = tiling::crop(input, r)?;
        let (tx, ty, rx, ry) = (
            f64::from(tile.x),
            f64::from(tile.y),
            f64::from(r.x),
            f64::from(r.y),
        );
        // M' = S(−r) · M · T(t): tile-local destination → region-local source.
        let shifted = mul3(
            &[[1.0, 0.0, -rx], [0.0, 1.0, -ry], [0.0, 0.0, 1.0]],
            &mul3(&m, &[[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]]),
        );
        let transform = if map.perspective {
            Transform::Perspective(shifted)
        } else {
            Transform::Affine([shifted[0], shifted[1]])
        };
        let tile_params = WarpParams {
            transform,
            inverse: true,
            width: tile.width,
            height: tile.height,
            out_format: Some(out_format),
            ..params.clone()
        };
        // Tile and source region fit by construction, so this takes the untiled path.
        let part = warp_image(engine, &source, &tile_params)?;
        tiling::paste(&mut canvas, &part, tile.x, tile.y)?;
    }
    Ok(canvas.with_geometry(warp_geometry(&input.geometry, &m)))
}
