//! The render-loop output stage: a resident image of stored values, windowed and panned/zoomed into a
//! storage texture the host owns and presents. Nothing comes back to the CPU and nothing is created per
//! frame except a bind group; the host calls this every frame inside its own loop.

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{HostImage, Pixels};
use crate::ops::window::{WindowSettings, WindowUniform, shader_params};
use crate::pipeline::{Bind, Recorder};
use crate::transforms::round_to_output;
use crate::{Error, Result};

/// Where the texture looks: the source position at its centre and the magnification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Source coordinate (pixel centres at integers) shown at the texture's centre.
    pub center: [f64; 2],
    /// Texels per source pixel (2 = magnified twice).
    pub zoom: f64,
}

impl View {
    /// The whole image, centred, as large as fits.
    pub fn fit(src: (u32, u32), texture: (u32, u32)) -> View {
        let zoom =
            (f64::from(texture.0) / f64::from(src.0)).min(f64::from(texture.1) / f64::from(src.1));
        View {
            center: [
                (f64::from(src.0) - 1.0) / 2.0,
                (f64::from(src.1) - 1.0) / 2.0,
            ],
            zoom,
        }
    }

    /// Source coordinate of texel (0, 0)'s centre and the step per texel.
    fn origin_and_step(&self, texture: (u32, u32)) -> ([f64; 2], f64) {
        let step = 1.0 / self.zoom;
        let origin = [
            self.center[0] + (0.5 - f64::from(texture.0) / 2.0) * step,
            self.center[1] + (0.5 - f64::from(texture.1) / 2.0) * step,
        ];
        (origin, step)
    }

    fn validate(&self) -> Result<()> {
        if !(self.zoom.is_finite() && self.zoom > 0.0 && self.center.iter().all(|c| c.is_finite()))
        {
            return Err(Error::InvalidParams(format!(
                "view centre {:?} / zoom {} must be finite, zoom > 0",
                self.center, self.zoom
            )));
        }
        Ok(())
    }
}

crate::wgsl_struct! {
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct ViewUniform = DISPLAY_TO_TEXTURE_VIEW_PARAMS {
        src_width: u32,
        src_height: u32,
        tex_width: u32,
        tex_height: u32,
        origin_x: f32,
        origin_y: f32,
        step: f32,
        background: f32,
    }
}

/// Records the display of `input` (stored values) into `target`, a `texture_size` rgba8unorm storage
/// texture view. `settings.bits` must be 8.
pub fn encode_to_texture(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    settings: &WindowSettings,
    view: &View,
    target: &wgpu::TextureView,
    texture_size: (u32, u32),
) -> Result<()> {
    if settings.bits != 8 {
        return Err(Error::InvalidParams(format!(
            "display to an rgba8unorm texture needs 8-bit window settings, not {}",
            settings.bits
        )));
    }
    view.validate()?;
    let (window, luts): (WindowUniform, Vec<f32>) =
        shader_params(input.pixel_count(), input.format, settings)?;
    let (origin, step) = view.origin_and_step(texture_size);
    let view_uniform = ViewUniform {
        src_width: input.width,
        src_height: input.height,
        tex_width: texture_size.0,
        tex_height: texture_size.1,
        origin_x: origin[0] as f32,
        origin_y: origin[1] as f32,
        step: step as f32,
        background: 0.0,
    };
    let kernel = rec
        .engine()
        .shaders()
        .kernel(kernels::DISPLAY_TO_TEXTURE_MAIN)?;
    let window_buf = rec.uniform(&window, "display window params")?;
    let view_buf = rec.uniform(&view_uniform, "display view params")?;
    let table = rec.storage_table(bytemuck::cast_slice(&luts), "display luts")?;
    let groups = [texture_size.0.div_ceil(16), texture_size.1.div_ceil(16), 1];
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&window_buf)),
            (1, Bind::Pooled(&view_buf)),
            (2, Bind::Image(input)),
            (3, Bind::Table(&table)),
            (4, Bind::Texture(target)),
        ],
        groups,
    )
}

/// CPU reference of [`encode_to_texture`]: the grey value of each texel as u8.
pub fn reference(
    stored: &HostImage,
    settings: &WindowSettings,
    view: &View,
    texture_size: (u32, u32),
) -> Result<HostImage> {
    view.validate()?;
    let (origin, step) = view.origin_and_step(texture_size);
    let out_max = settings.out_max();
    let (w, h) = (stored.width as usize, stored.height as usize);
    let modality = |x: usize, y: usize| settings.modality.apply(stored.pixels.get_f64(y * w + x));
    let mut out = Vec::with_capacity(texture_size.0 as usize * texture_size.1 as usize);
    for ty in 0..texture_size.1 {
        for tx in 0..texture_size.0 {
            let sx = origin[0] + f64::from(tx) * step;
            let sy = origin[1] + f64::from(ty) * step;
            let inside = sx >= -0.5 && sy >= -0.5 && sx < w as f64 - 0.5 && sy < h as f64 - 0.5;
            let y = if inside {
                let fx = sx.clamp(0.0, w as f64 - 1.0);
                let fy = sy.clamp(0.0, h as f64 - 1.0);
                let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
                let (ax, ay) = (fx - fx.floor(), fy - fy.floor());
                let top = modality(x0, y0) * (1.0 - ax) + modality(x1, y0) * ax;
                let bottom = modality(x0, y1) * (1.0 - ax) + modality(x1, y1) * ax;
                let m = top * (1.0 - ay) + bottom * ay;
                let v = settings.voi.apply(m, out_max);
                if settings.invert { out_max - v } else { v }
            } else {
                0.0
            };
            out.push(round_to_output(y, out_max) as u8);
        }
    }
    HostImage::new(texture_size.0, texture_size.1, Pixels::U8(out))
}
