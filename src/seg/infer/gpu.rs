//! The GPU stages around the network: preprocessing into burn's input buffer, the foreground margin
//! over the logits, and the mask resized back and thresholded (`shaders/seg_preprocess.wgsl`,
//! `shaders/seg_mask.wgsl`).

use burn::tensor::Tensor;

use super::Preprocess;
use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{Geometry, PixelFormat};
use crate::pipeline::{Bind, Recorder};
use crate::{Error, Result};

/// The foreground margin `[N, 1, H, W]`: class-1 logit minus the largest other class's logit
/// (> 0 exactly where argmax is class 1; a tie goes to the lower index as argmax does). For a
/// one-class network, the logit itself.
pub fn foreground_margin(logits: Tensor<4>) -> Tensor<4> {
    let c = logits.dims()[1];
    match c {
        0 | 1 => logits,
        2 => logits.clone().narrow(1, 1, 1) - logits.narrow(1, 0, 1),
        _ => {
            let fg = logits.clone().narrow(1, 1, 1);
            let others = Tensor::cat(
                vec![logits.clone().narrow(1, 0, 1), logits.narrow(1, 2, c - 2)],
                1,
            );
            fg - others.max_dim(1)
        }
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/seg_preprocess.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct PreprocessParams = SEG_PREPROCESS_PREPROCESS_PARAMS {
        src_width: u32,
        src_height: u32,
        dst_width: u32,
        dst_height: u32,
        in_format: u32,
        channels: u32,
        dst_offset: u32,
        _pad: u32,
        scale_x: f32,
        scale_y: f32,
        gain: f32,
        bias: f32,
    }
}

crate::wgsl_struct! {
    /// Uniform block of `shaders/seg_mask.wgsl`.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct MaskParams = SEG_MASK_MASK_PARAMS {
        src_width: u32,
        src_height: u32,
        dst_width: u32,
        dst_height: u32,
        src_offset: u32,
        count: u32,
        scale_x: f32,
        scale_y: f32,
    }
}

pub(super) fn scale(src: u32, dst: u32) -> f32 {
    (f64::from(src) / f64::from(dst)) as f32
}

/// Records the preprocessing of `display` into `batch` (f32 words) at element `offset`: `channels`
/// equal planes of the resized, normalised image.
pub fn encode_preprocess(
    rec: &mut Recorder<'_>,
    display: &GpuImage,
    batch: &GpuImage,
    offset: u32,
    channels: u32,
    pre: &Preprocess,
) -> Result<()> {
    let plane = u64::from(pre.width) * u64::from(pre.height);
    let end = u64::from(offset) + plane * u64::from(channels);
    if batch.format != PixelFormat::F32 || end > batch.pixel_count() as u64 {
        return Err(Error::InvalidParams(format!(
            "seg_preprocess: batch buffer of {} {} samples cannot take {end}",
            batch.pixel_count(),
            batch.format
        )));
    }
    let params = PreprocessParams {
        src_width: display.width,
        src_height: display.height,
        dst_width: pre.width,
        dst_height: pre.height,
        in_format: display.format.shader_code(),
        channels,
        dst_offset: offset,
        _pad: 0,
        scale_x: scale(display.width, pre.width),
        scale_y: scale(display.height, pre.height),
        gain: pre.gain(),
        bias: pre.bias(),
    };
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::SEG_PREPROCESS_MAIN)?;
    let uniform = rec.uniform(&params, "seg_preprocess params")?;
    let groups = rec.groups_1d(&kernel, plane);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(display)),
            (2, Bind::Image(batch)),
        ],
        groups,
    )
}

/// Records the mask of one image: the margin plane at element `offset` of `margin` (network size
/// `net_w`×`net_h`) resized to `width`×`height` and thresholded, as a new u8 image (0/255).
pub fn encode_mask(
    rec: &mut Recorder<'_>,
    margin: &GpuImage,
    offset: u32,
    net: (u32, u32),
    width: u32,
    height: u32,
    geometry: Geometry,
) -> Result<GpuImage> {
    let (net_w, net_h) = net;
    let end = u64::from(offset) + u64::from(net_w) * u64::from(net_h);
    if margin.format != PixelFormat::F32 || end > margin.pixel_count() as u64 {
        return Err(Error::InvalidParams(format!(
            "seg_mask: margin buffer of {} {} samples cannot give {end}",
            margin.pixel_count(),
            margin.format
        )));
    }
    let output = rec.alloc_image(width, height, PixelFormat::U8, geometry)?;
    let params = MaskParams {
        src_width: net_w,
        src_height: net_h,
        dst_width: width,
        dst_height: height,
        src_offset: offset,
        count: width * height,
        scale_x: scale(net_w, width),
        scale_y: scale(net_h, height),
    };
    let kernel = rec.engine().shaders().kernel(kernels::SEG_MASK_MAIN)?;
    let uniform = rec.uniform(&params, "seg_mask params")?;
    let words = u64::from(width * height).div_ceil(4);
    let groups = rec.groups_1d(&kernel, words);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(margin)),
            (2, Bind::Image(&output)),
        ],
        groups,
    )?;
    Ok(output)
}
