//! CLAHE (contrast-limited adaptive histogram equalization) on the GPU, OpenCV-compatible for 8-bit
//! and 16-bit images, in three stages (four dispatches) of one recording:
//!
//! 1. tile histograms (`histogram_count.wgsl`, one region per tile). When the tile grid does not
//!    divide the image, OpenCV pads it on the right and bottom with BORDER_REFLECT_101 by
//!    `tiles − size % tiles` pixels in *both* directions (a whole extra tile row or column of padding
//!    when only the other direction is uneven) and sizes tiles from the padded image; so does this.
//! 2. tile LUTs (`clahe_lut.wgsl`): clip limit `max(int(clip · tile_area / bins), 1)` (no clipping when
//!    clip ≤ 0), the clipped excess returned evenly plus a residual spread with OpenCV's step, then
//!    `lut = saturate(round(f32(cdf) · f32(bins − 1) / f32(tile_area)))`.
//! 3. bilinear blend of the four nearest tile LUTs per pixel (`clahe_apply.wgsl`) in OpenCV's f32
//!    coordinates; a small first dispatch packs the LUTs into horizontal pairs of tiles, so a pixel
//!    reads its four values in two loads.
//!
//! OpenCV uses 256 bins for 8-bit and 65536 for 16-bit images. radpipe adds `bits` (e.g. 12-bit data
//! in 16-bit containers: 4096 bins, output 0..=4095, larger values clamped) and fewer bins than values
//! (`bins = 2^(bits − shift)`: samples are shifted right into bins and results shifted back, as
//! OpenCV's templated `shift` does). Signed 16-bit input is binned as offset binary and written as u16.

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{HostImage, PixelFormat, Pixels};
use crate::ops::equalize::output_format;
use crate::ops::histogram::{Binning, CountLayout, GpuTable, ShaderBinning, encode_count};
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Error, Result};

/// CLAHE parameters (defaults: OpenCV's `createCLAHE()`: clip limit 40, 8×8 tiles).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClaheParams {
    /// Contrast limit relative to a flat histogram (OpenCV's `clipLimit`); 0 disables clipping.
    pub clip_limit: f64,
    /// Tiles across.
    pub tiles_x: u32,
    /// Tiles down.
    pub tiles_y: u32,
    /// Significant bits of integer samples (default 8 or 16 by format).
    pub bits: Option<u32>,
    /// Bins (power of two; default `2^bits`, OpenCV's 256 / 65536).
    pub bins: Option<u32>,
    /// Invert the output (`max − v`), for MONOCHROME1 sources displayed as MONOCHROME2.
    pub invert: bool,
}

impl Default for ClaheParams {
    fn default() -> Self {
        ClaheParams {
            clip_limit: 40.0,
            tiles_x: 8,
            tiles_y: 8,
            bits: None,
            bins: None,
            invert: false,
        }
    }
}

/// Everything CLAHE derives from the image size and parameters, as OpenCV derives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClahePlan {
    /// Binning of the samples.
    pub binning: Binning,
    /// Image columns.
    pub width: u32,
    /// Image rows.
    pub height: u32,
    /// Tiles across.
    pub tiles_x: u32,
    /// Tiles down.
    pub tiles_y: u32,
    /// Tile width in the (possibly padded) image.
    pub tile_w: u32,
    /// Tile height.
    pub tile_h: u32,
    /// Clip limit in pixels per bin (0: none).
    pub clip_limit: u32,
    /// `f32(bins − 1) / f32(tile area)`.
    pub lut_scale: f32,
    /// `1.0f32 / tile_w`.
    pub inv_tw: f32,
    /// `1.0f32 / tile_h`.
    pub inv_th: f32,
    /// Invert the output.
    pub invert: bool,
}

impl ClahePlan {
    /// The plan for a `width`×`height` image of `format`.
    pub fn new(
        width: u32,
        height: u32,
        format: PixelFormat,
        params: &ClaheParams,
    ) -> Result<ClahePlan> {
        if format == PixelFormat::F32 {
            return Err(Error::InvalidParams(
                "CLAHE works on 8- and 16-bit integer images, not f32".into(),
            ));
        }
        if width == 0 || height == 0 {
            return Err(Error::InvalidImage(format!(
                "image size {width}x{height} has no pixels"
            )));
        }
        let (tx, ty) = (params.tiles_x, params.tiles_y);
        if tx == 0 || ty == 0 || tx > 256 || ty > 256 {
            return Err(Error::InvalidParams(format!(
                "tile grid {tx}x{ty}: each side must be 1..=256"
            )));
        }
        if !(params.clip_limit.is_finite() && params.clip_limit >= 0.0) {
            return Err(Error::InvalidParams(format!(
                "clip limit {} must be a finite number >= 0 (0 disables clipping)",
                params.clip_limit
            )));
        }
        let binning = Binning::new(format, params.bits, params.bins)?;
        let (ext_w, ext_h) = if width.is_multiple_of(tx) && height.is_multiple_of(ty) {
            (width, height)
        } else {
            (width + tx - width % tx, height + ty - height % ty)
        };
        let (tile_w, tile_h) = (ext_w / tx, ext_h / ty);
        let area = u64::from(tile_w) * u64::from(tile_h);
        if area > u64::from(u32::MAX) {
            return Err(Error::InvalidParams(format!(
                "tiles of {tile_w}x{tile_h} pixels are too large"
            )));
        }
        let bins = binning.bins;
        let clip_limit = if params.clip_limit > 0.0 {
            let c = (params.clip_limit * area as f64 / f64::from(bins)).trunc();
            c.clamp(1.0, f64::from(u32::MAX)) as u32
        } else {
            0
        };
        Ok(ClahePlan {
            binning,
            width,
            height,
            tiles_x: tx,
            tiles_y: ty,
            tile_w,
            tile_h,
            clip_limit,
            lut_scale: (bins - 1) as f32 / area as f32,
            inv_tw: 1.0f32 / tile_w as f32,
            inv_th: 1.0f32 / tile_h as f32,
            invert: params.invert,
        })
    }

    /// Number of tiles.
    pub fn tiles(&self) -> u32 {
        self.tiles_x * self.tiles_y
    }

    /// Output sample format.
    pub fn out_format(&self) -> PixelFormat {
        output_format(self.binning.format)
    }
}

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct LutParams = CLAHE_LUT_PARAMS {
        bins: u32,
        per: u32,
        clip_limit: u32,
        lut_scale: f32,
    }
}

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct ApplyParams = CLAHE_APPLY_PARAMS {
        binning: ShaderBinning,
        width: u32,
        height: u32,
        tiles_x: u32,
        tiles_y: u32,
        inv_tw: f32,
        inv_th: f32,
        out_max: u32,
        _pad: u32,
    }
}

fn check_input(input: &GpuImage, plan: &ClahePlan) -> Result<()> {
    if input.format != plan.binning.format
        || input.width != plan.width
        || input.height != plan.height
    {
        return Err(Error::InvalidParams(format!(
            "CLAHE plan for a {}x{} {} image used on a {}x{} {} image",
            plan.width, plan.height, plan.binning.format, input.width, input.height, input.format
        )));
    }
    Ok(())
}

/// Records stage 1: one histogram per tile (rows of `bins`, tile index `ty · tiles_x + tx`).
pub fn encode_tile_histograms(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    plan: &ClahePlan,
) -> Result<GpuTable> {
    check_input(input, plan)?;
    let bytes = u64::from(plan.binning.bins) * u64::from(plan.tiles()) * 4;
    let limits = rec.engine().limits();
    let limit = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    if bytes > limit {
        return Err(Error::InvalidParams(format!(
            "CLAHE with {} bins x {} tiles needs {} MiB per table, over this adapter's {} MiB \
             storage buffer limit; use fewer tiles, or fewer bins (--bits / --bins)",
            plan.binning.bins,
            plan.tiles(),
            bytes >> 20,
            limit >> 20
        )));
    }
    let layout = CountLayout {
        region_w: plan.tile_w,
        region_h: plan.tile_h,
        regions_x: plan.tiles_x,
        regions_y: plan.tiles_y,
        origin_x: 0,
        origin_y: 0,
    };
    encode_count(rec, input, &plan.binning, None, layout, None)
}

/// Records stage 2: clip, redistribute and scan every tile histogram into its LUT.
pub fn encode_tile_luts(
    rec: &mut Recorder<'_>,
    hists: &GpuTable,
    plan: &ClahePlan,
) -> Result<GpuTable> {
    if hists.len() != plan.binning.bins || hists.rows() != plan.tiles() {
        return Err(Error::InvalidParams(format!(
            "CLAHE needs {} tile histograms of {} bins",
            plan.tiles(),
            plan.binning.bins
        )));
    }
    let luts = GpuTable::alloc(rec, plan.binning.bins, plan.tiles())?;
    let kernel = rec.engine().shaders().kernel(kernels::CLAHE_LUT_MAIN)?;
    let uniform = rec.uniform(
        &LutParams {
            bins: plan.binning.bins,
            per: plan.binning.per_invocation(),
            clip_limit: plan.clip_limit,
            lut_scale: plan.lut_scale,
        },
        "clahe_lut params",
    )?;
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, hists.bind()),
            (2, luts.bind()),
        ],
        [plan.tiles(), 1, 1],
    )?;
    Ok(luts)
}

/// Records stage 3: pack the tile LUTs into horizontal pairs, then blend them for every pixel.
pub fn encode_interpolate(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    luts: &GpuTable,
    plan: &ClahePlan,
) -> Result<GpuImage> {
    check_input(input, plan)?;
    if luts.len() != plan.binning.bins || luts.rows() != plan.tiles() {
        return Err(Error::InvalidParams(format!(
            "CLAHE needs {} tile LUTs of {} entries",
            plan.tiles(),
            plan.binning.bins
        )));
    }
    let out_format = plan.out_format();
    let output = rec.alloc_image(
        input.width,
        input.height,
        out_format,
        input.geometry.clone(),
    )?;
    // The tile LUTs as horizontal pairs (two loads per pixel instead of four; see the shader).
    let pairs = GpuTable::alloc(rec, plan.binning.bins, plan.tiles_y * (plan.tiles_x + 1))?;
    let pair_kernel = rec.engine().shaders().kernel(kernels::CLAHE_APPLY_PAIRS)?;
    let pair_groups = rec.groups_1d(
        &pair_kernel,
        u64::from(plan.binning.bins) * u64::from(plan.tiles_y * (plan.tiles_x + 1)),
    );
    let kernel = rec.engine().shaders().specialized(
        kernels::CLAHE_APPLY_MAIN,
        &[
            ("IN_FORMAT", f64::from(input.format.shader_code())),
            ("OUT_FORMAT", f64::from(out_format.shader_code())),
            ("INVERT", f64::from(u32::from(plan.invert))),
        ],
    )?;
    let uniform = rec.uniform(
        &ApplyParams {
            binning: plan.binning.shader(),
            width: plan.width,
            height: plan.height,
            tiles_x: plan.tiles_x,
            tiles_y: plan.tiles_y,
            inv_tw: plan.inv_tw,
            inv_th: plan.inv_th,
            out_max: plan.binning.vmax(),
            _pad: 0,
        },
        "clahe_apply params",
    )?;
    rec.dispatch(
        &pair_kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, luts.bind()),
            (3, pairs.bind()),
        ],
        pair_groups,
    )?;
    let words = out_format.gpu_bytes(input.pixel_count()) / 4;
    let groups = rec.groups_1d(&kernel, words);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(input)),
            (2, pairs.bind()),
            (3, Bind::Image(&output)),
        ],
        groups,
    )?;
    Ok(output)
}

/// Records the whole of CLAHE on `input` (one submission, no readback).
pub fn encode(rec: &mut Recorder<'_>, input: &GpuImage, params: &ClaheParams) -> Result<GpuImage> {
    let plan = ClahePlan::new(input.width, input.height, input.format, params)?;
    let hists = encode_tile_histograms(rec, input, &plan)?;
    let luts = encode_tile_luts(rec, &hists, &plan)?;
    encode_interpolate(rec, input, &luts, &plan)
}

/// Uploads `image`, applies CLAHE and reads the result back: one upload, one submission, one readback.
pub fn clahe_image(engine: &Engine, image: &HostImage, params: &ClaheParams) -> Result<HostImage> {
    let input = engine.upload(image)?;
    let mut rec = Recorder::new(engine);
    let output = encode(&mut rec, &input, params)?;
    let download = rec.download(&output)?;
    rec.submit()?;
    download.wait()
}

// ---------------------------------------------------------------------------------------------------
// CPU reference

/// OpenCV's `borderInterpolate` for BORDER_REFLECT_101.
pub fn reflect101(p: i64, len: i64) -> i64 {
    if len == 1 {
        return 0;
    }
    let mut q = p;
    while q < 0 || q >= len {
        q = if q < 0 { -q } else { 2 * len - 2 - q };
    }
    q
}

/// Stage 1 on the CPU: tile histograms, tile after tile.
pub fn reference_tile_histograms(image: &HostImage, plan: &ClahePlan) -> Result<Vec<u32>> {
    if image.format() != plan.binning.format || image.width != plan.width {
        return Err(Error::InvalidParams(
            "CLAHE plan does not fit the image".into(),
        ));
    }
    let bins = plan.binning.bins as usize;
    let mut hist = vec![0u32; bins * plan.tiles() as usize];
    let (w, h) = (i64::from(plan.width), i64::from(plan.height));
    for ty in 0..plan.tiles_y {
        for tx in 0..plan.tiles_x {
            let base = (ty * plan.tiles_x + tx) as usize * bins;
            for py in 0..plan.tile_h {
                let sy = reflect101(i64::from(ty * plan.tile_h + py), h);
                for px in 0..plan.tile_w {
                    let sx = reflect101(i64::from(tx * plan.tile_w + px), w);
                    let i = (sy * w + sx) as usize;
                    let bin = plan
                        .binning
                        .int_bin(plan.binning.domain_value(&image.pixels, i));
                    hist[base + bin as usize] += 1;
                }
            }
        }
    }
    Ok(hist)
}

/// Stage 2 on the CPU: OpenCV's clip, redistribution and LUT, per tile.
pub fn reference_tile_luts(hists: &[u32], plan: &ClahePlan) -> Vec<u32> {
    let bins = plan.binning.bins as usize;
    let limit = plan.clip_limit;
    let top = (bins - 1) as f32;
    let mut luts = vec![0u32; hists.len()];
    for (tile, lut) in hists.chunks_exact(bins).zip(luts.chunks_exact_mut(bins)) {
        let mut h = tile.to_vec();
        if limit > 0 {
            let mut clipped = 0u32;
            for v in h.iter_mut() {
                if *v > limit {
                    clipped += *v - limit;
                    *v = limit;
                }
            }
            let batch = clipped / bins as u32;
            let mut residual = clipped - batch * bins as u32;
            for v in h.iter_mut() {
                *v += batch;
            }
            if residual != 0 {
                let step = (bins / residual as usize).max(1);
                let mut i = 0;
                while i < bins && residual > 0 {
                    h[i] += 1;
                    i += step;
                    residual -= 1;
                }
            }
        }
        let mut sum = 0u32;
        for (out, v) in lut.iter_mut().zip(&h) {
            sum += v;
            *out = (sum as f32 * plan.lut_scale).round_ties_even().min(top) as u32;
        }
    }
    luts
}

/// Stage 3 on the CPU: OpenCV's bilinear blend between tile LUTs.
pub fn reference_interpolate(
    image: &HostImage,
    luts: &[u32],
    plan: &ClahePlan,
) -> Result<HostImage> {
    let bins = plan.binning.bins as usize;
    let top = (plan.binning.bins - 1) as f32;
    let shift = plan.binning.shift();
    let vmax = plan.binning.vmax();
    let axis = |coord: u32, inv: f32, tiles: u32| {
        let f = coord as f32 * inv - 0.5;
        let t1 = f.floor();
        let a = f - t1;
        let t1 = t1 as i64;
        let lo = t1.max(0) as u32;
        let hi = (t1 + 1).min(i64::from(tiles) - 1) as u32;
        (lo, hi, a, 1.0 - a)
    };
    let n = image.pixel_count();
    let mut values = Vec::with_capacity(n);
    for y in 0..plan.height {
        let (ty1, ty2, ya, ya1) = axis(y, plan.inv_th, plan.tiles_y);
        for x in 0..plan.width {
            let (tx1, tx2, xa, xa1) = axis(x, plan.inv_tw, plan.tiles_x);
            let i = (y * plan.width + x) as usize;
            let bin =
                plan.binning
                    .int_bin(plan.binning.domain_value(&image.pixels, i)) as usize;
            let l = |ty: u32, tx: u32| luts[(ty * plan.tiles_x + tx) as usize * bins + bin] as f32;
            let res = (l(ty1, tx1) * xa1 + l(ty1, tx2) * xa) * ya1
                + (l(ty2, tx1) * xa1 + l(ty2, tx2) * xa) * ya;
            let mut v = (res.round_ties_even().clamp(0.0, top) as u32) << shift;
            if plan.invert {
                v = vmax - v.min(vmax);
            }
            values.push(v);
        }
    }
    let pixels = match plan.out_format() {
        PixelFormat::U8 => Pixels::U8(values.into_iter().map(|v| v as u8).collect()),
        _ => Pixels::U16(values.into_iter().map(|v| v as u16).collect()),
    };
    Ok(HostImage::new(image.width, image.height, pixels)?.with_geometry(image.geometry.clone()))
}

/// CLAHE on the CPU.
pub fn reference(image: &HostImage, params: &ClaheParams) -> Result<HostImage> {
    let plan = ClahePlan::new(image.width, image.height, image.format(), params)?;
    let hists = reference_tile_histograms(image, &plan)?;
    let luts = reference_tile_luts(&hists, &plan);
    reference_interpolate(image, &luts, &plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_blocks_match_the_shaders() {
        assert_eq!(std::mem::size_of::<LutParams>(), 16);
        assert_eq!(std::mem::size_of::<ApplyParams>(), 48);
    }

    #[test]
    fn padding_follows_opencv() {
        let p = ClaheParams::default();
        let divisible = ClahePlan::new(64, 32, PixelFormat::U8, &p).expect("plan");
        assert_eq!((divisible.tile_w, divisible.tile_h), (8, 4));
        // Width uneven, height divisible: OpenCV still pads the height by a whole `tiles_y` rows.
        let uneven = ClahePlan::new(60, 32, PixelFormat::U8, &p).expect("plan");
        assert_eq!((uneven.tile_w, uneven.tile_h), (8, 5));
        let tiny = ClahePlan::new(3, 2, PixelFormat::U8, &p).expect("plan");
        assert_eq!((tiny.tile_w, tiny.tile_h), (1, 1));
    }

    #[test]
    fn clip_limit_follows_opencv() {
        let p = ClaheParams {
            clip_limit: 2.0,
            ..ClaheParams::default()
        };
        let plan = ClahePlan::new(256, 256, PixelFormat::U8, &p).expect("plan");
        assert_eq!(plan.clip_limit, 2 * 32 * 32 / 256);
        let plan16 = ClahePlan::new(256, 256, PixelFormat::U16, &p).expect("plan");
        assert_eq!(plan16.clip_limit, 1, "at least 1");
        let none = ClaheParams {
            clip_limit: 0.0,
            ..p
        };
        assert_eq!(
            ClahePlan::new(256, 256, PixelFormat::U8, &none)
                .expect("plan")
                .clip_limit,
            0
        );
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            let q = ClaheParams {
                clip_limit: bad,
                ..p
            };
            assert!(ClahePlan::new(8, 8, PixelFormat::U8, &q).is_err());
        }
    }

    #[test]
    fn reflect_101_folds_repeatedly() {
        assert_eq!(reflect101(5, 5), 3);
        assert_eq!(reflect101(9, 5), 1);
        assert_eq!(reflect101(7, 3), 1);
        assert_eq!(reflect101(4, 1), 0);
    }

    #[test]
    fn residual_goes_to_every_step_th_bin() {
        let plan = ClahePlan::new(
            16,
            16,
            PixelFormat::U8,
            &ClaheParams {
                clip_limit: 40.0,
                tiles_x: 1,
                tiles_y: 1,
                ..ClaheParams::default()
            },
        )
        .expect("plan");
        assert_eq!(plan.clip_limit, 40);
        // One bin of 256 pixels: 216 clipped → no batch, residual 216, step 1 → bins 0..216 get +1.
        let mut hist = vec![0u32; 256];
        hist[100] = 256;
        let lut = reference_tile_luts(&hist, &plan);
        assert_eq!(lut[255], 255);
        assert_eq!(lut[0], 1); // round(1 · 255/256)
    }
}
