//! Window/level: the DICOM grey-scale display pipeline, Modality LUT then VOI LUT function
//! (PS3.3 C.11.1–C.11.2), in one GPU pass from packed stored values to 8-, 12- or 16-bit display values.
//!
//! Which window applies is decided here, in the order a radiology viewer uses: values given by the
//! caller; else the file's first Window Center/Width with its VOI LUT Function; else the file's VOI LUT
//! Sequence; else the range of the modality values. MONOCHROME1 is inverted so every output displays as
//! MONOCHROME2.

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{HostImage, PixelFormat, Pixels};
use crate::ops::tiling;
use crate::pipeline::{Bind, Recorder};
use crate::transforms::{
    DisplaySource, LutTable, ModalityLut, Voi, VoiFunction, Window, round_to_output,
};
use crate::{Engine, Error, Result};

/// What the caller asks for; unset fields come from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowRequest {
    /// Window centre (with `width`).
    pub center: Option<f64>,
    /// Window width (with `center`).
    pub width: Option<f64>,
    /// VOI LUT function; for a file's own window, overrides the file's function.
    pub function: Option<VoiFunction>,
    /// Output bits: 8, 12 (0..4095 in 16-bit samples, as the original stitching tool displayed) or 16.
    pub bits: u32,
}

impl Default for WindowRequest {
    fn default() -> Self {
        WindowRequest {
            center: None,
            width: None,
            function: None,
            bits: 8,
        }
    }
}

/// Where the window came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// Given by the caller.
    Explicit,
    /// The file's first Window Center/Width.
    File,
    /// The file's VOI LUT Sequence.
    VoiLutSequence,
    /// The minimum and maximum modality value of the frame.
    MinMax,
}

/// A fully resolved window/level: everything the shader needs.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSettings {
    /// Stored → modality values.
    pub modality: ModalityLut,
    /// Modality → display values.
    pub voi: Voi,
    /// Output bits (8, 12 or 16).
    pub bits: u32,
    /// Invert the output (MONOCHROME1 input).
    pub invert: bool,
    /// Where the window came from.
    pub source: WindowSource,
}

/// The LINEAR window that maps `lo` to 0 and `hi` to the output maximum exactly.
pub fn min_max_window(lo: f64, hi: f64, function: VoiFunction) -> Window {
    let width = hi - lo + 1.0;
    Window {
        center: lo + width / 2.0,
        width,
        function,
    }
}

impl WindowSettings {
    /// Settings for frame `frame` of a source that carries its own display attributes (a DICOM file:
    /// `io::dicom::DicomImage`).
    pub fn from_source(
        source: &impl DisplaySource,
        frame: u32,
        request: &WindowRequest,
    ) -> Result<Self> {
        let frames = source.frame_count();
        if frame >= frames {
            let e = Error::InvalidParams(format!(
                "frame {frame} requested, the file has {frames} frame(s)"
            ));
            return Err(match source.origin() {
                Some(path) => e.in_file(path),
                None => e,
            });
        }
        Self::resolve(
            source.modality_lut(frame),
            source.windows(frame),
            source.voi_lut(frame),
            || source.modality_range(frame),
            request,
            source.displays_inverted(),
        )
    }

    /// Settings for a plain image (PNG/TIFF/raw): stored values are modality values, MONOCHROME2.
    pub fn for_image(image: &HostImage, request: &WindowRequest) -> Result<Self> {
        Self::resolve(
            ModalityLut::IDENTITY,
            Vec::new(),
            None,
            || image.pixels.min_max(),
            request,
            false,
        )
    }

    fn resolve(
        modality: ModalityLut,
        windows: Vec<Window>,
        voi_lut: Option<LutTable>,
        range: impl FnOnce() -> Option<(f64, f64)>,
        request: &WindowRequest,
        invert: bool,
    ) -> Result<Self> {
        if !matches!(request.bits, 8 | 12 | 16) {
            return Err(Error::InvalidParams(format!(
                "output bits {} not supported (8, 12 or 16)",
                request.bits
            )));
        }
        let (voi, source) = match (request.center, request.width) {
            (Some(center), Some(width)) => {
                let w = Window {
                    center,
                    width,
                    function: request.function.unwrap_or_default(),
                };
                (Voi::Window(w), WindowSource::Explicit)
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(Error::InvalidParams(
                    "give both --center and --width, or neither".into(),
                ));
            }
            (None, None) => {
                if let Some(first) = windows.first() {
                    let mut w = *first;
                    if let Some(f) = request.function {
                        w.function = f;
                    }
                    (Voi::Window(w), WindowSource::File)
                } else if let (Some(table), None) = (voi_lut, request.function) {
                    (Voi::Table(table), WindowSource::VoiLutSequence)
                } else {
                    let (lo, hi) = range().ok_or_else(|| {
                        Error::InvalidImage("no finite pixel values to derive a window from".into())
                    })?;
                    let w = min_max_window(lo, hi, request.function.unwrap_or_default());
                    (Voi::Window(w), WindowSource::MinMax)
                }
            }
        };
        if let Voi::Window(w) = &voi {
            w.validate()?;
        }
        validate_modality(&modality)?;
        Ok(WindowSettings {
            modality,
            voi,
            bits: request.bits,
            invert,
            source,
        })
    }

    /// Largest output value, `2^bits − 1`.
    pub fn out_max(&self) -> f64 {
        ((1u32 << self.bits) - 1) as f64
    }

    /// Output sample format: u8 for 8 bits, u16 otherwise.
    pub fn out_format(&self) -> PixelFormat {
        if self.bits == 8 {
            PixelFormat::U8
        } else {
            PixelFormat::U16
        }
    }

    /// The window, when the VOI is a window rather than a table.
    pub fn window(&self) -> Option<Window> {
        match self.voi {
            Voi::Window(w) => Some(w),
            Voi::Table(_) => None,
        }
    }
}

fn validate_modality(m: &ModalityLut) -> Result<()> {
    match m {
        ModalityLut::Rescale { slope, intercept }
            if !(slope.is_finite() && intercept.is_finite()) =>
        {
            Err(Error::InvalidParams(format!(
                "rescale slope {slope} / intercept {intercept} must be finite"
            )))
        }
        ModalityLut::Table(t) if t.data.is_empty() => {
            Err(Error::InvalidParams("empty Modality LUT table".into()))
        }
        _ => Ok(()),
    }
}

crate::wgsl_struct! {
    /// `WindowParams` of `shaders/common/voi.wgsl` (same field order and sizes), shared by every stage that
    /// displays modality values.
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub struct WindowUniform = VOI_WINDOW_PARAMS {
        count: u32,
        in_format: u32,
        out_format: u32,
        invert: u32,
        modality_kind: u32,
        mlut_first: i32,
        mlut_len: u32,
        voi_kind: u32,
        slope: f32,
        intercept: f32,
        lo: f32,
        hi: f32,
        k: f32,
        vlut_first: i32,
        vlut_len: u32,
        vlut_scale: f32,
        out_max: f32,
        _pad: [u32; 3],
    }
}

fn lut_first(t: &LutTable) -> Result<i32> {
    i32::try_from(t.first_mapped).map_err(|_| {
        Error::InvalidParams(format!(
            "LUT first mapped value {} out of range",
            t.first_mapped
        ))
    })
}

/// The uniform block and the LUT table (modality table, then VOI table) for `s`.
pub fn shader_params(
    count: usize,
    in_format: PixelFormat,
    s: &WindowSettings,
) -> Result<(WindowUniform, Vec<f32>)> {
    let out_max = s.out_max();
    let mut luts: Vec<f32> = Vec::new();
    let mut p = WindowUniform {
        count: u32::try_from(count)
            .map_err(|_| Error::InvalidImage("image has over 2^32 pixels".into()))?,
        in_format: in_format.shader_code(),
        out_format: s.out_format().shader_code(),
        invert: u32::from(s.invert),
        modality_kind: 0,
        mlut_first: 0,
        mlut_len: 0,
        voi_kind: 0,
        slope: 1.0,
        intercept: 0.0,
        lo: 0.0,
        hi: 0.0,
        k: 0.0,
        vlut_first: 0,
        vlut_len: 0,
        vlut_scale: 0.0,
        out_max: out_max as f32,
        _pad: [0; 3],
    };
    match &s.modality {
        ModalityLut::Rescale { slope, intercept } => {
            p.slope = *slope as f32;
            p.intercept = *intercept as f32;
        }
        ModalityLut::Table(t) => {
            p.modality_kind = 1;
            p.mlut_first = lut_first(t)?;
            p.mlut_len = t.data.len() as u32;
            luts.extend(t.data.iter().map(|&v| f32::from(v)));
        }
    }
    match &s.voi {
        Voi::Window(w) => {
            let (c, width) = (w.center, w.width);
            // The standard's formulas, rearranged to y = (x − lo)·k on (lo, hi] with lo, hi, k in f64.
            match w.function {
                VoiFunction::Linear => {
                    p.voi_kind = 0;
                    p.lo = (c - 0.5 - (width - 1.0) / 2.0) as f32;
                    p.hi = (c - 0.5 + (width - 1.0) / 2.0) as f32;
                    p.k = if width > 1.0 {
                        (out_max / (width - 1.0)) as f32
                    } else {
                        0.0
                    };
                }
                VoiFunction::LinearExact => {
                    p.voi_kind = 1;
                    p.lo = (c - width / 2.0) as f32;
                    p.hi = (c + width / 2.0) as f32;
                    p.k = (out_max / width) as f32;
                }
                VoiFunction::Sigmoid => {
                    p.voi_kind = 2;
                    p.lo = c as f32;
                    p.k = (-4.0 / width) as f32;
                }
            }
        }
        Voi::Table(t) => {
            p.voi_kind = 3;
            p.vlut_first = lut_first(t)?;
            p.vlut_len = t.data.len() as u32;
            p.vlut_scale = (out_max / t.max_value()) as f32;
            luts.extend(t.data.iter().map(|&v| f32::from(v)));
        }
    }
    Ok((p, luts))
}

/// The pipeline constants for a uniform block: input format and transform kinds (and the output
/// format when `with_output`).
pub fn specialization(p: &WindowUniform, with_output: bool) -> Vec<(&'static str, f64)> {
    let mut c = vec![
        ("IN_FORMAT", f64::from(p.in_format)),
        ("MODALITY_KIND", f64::from(p.modality_kind)),
        ("VOI_KIND", f64::from(p.voi_kind)),
    ];
    if with_output {
        c.push(("OUT_FORMAT", f64::from(p.out_format)));
    }
    c
}

/// Records the window/level pass: `input` (stored values, any format) → display image (u8 or u16).
pub fn encode(
    rec: &mut Recorder<'_>,
    input: &GpuImage,
    settings: &WindowSettings,
) -> Result<GpuImage> {
    let (params, luts) = shader_params(input.pixel_count(), input.format, settings)?;
    let kernel = rec
        .engine()
        .shaders()
        .specialized(kernels::WINDOW_LEVEL_MAIN, &specialization(&params, true))?;
    let output = rec.alloc_image(
        input.width,
        input.height,
        settings.out_format(),
        input.geometry.clone(),
    )?;
    let uniform = rec.uniform(&params, "window_level params")?;
    let table = rec.storage_table(bytemuck::cast_slice(&luts), "window_level luts")?;
    let words = settings.out_format().gpu_bytes(input.pixel_count()) / 4;
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

/// Uploads `stored`, windows it on the GPU and reads the result back: one upload, one submission, one
/// readback.
pub fn window_image(
    engine: &Engine,
    stored: &HostImage,
    settings: &WindowSettings,
) -> Result<HostImage> {
    let out_format = settings.out_format();
    let too_big = !tiling::fits(engine, stored.width, stored.height, stored.format())
        || !tiling::fits(engine, stored.width, stored.height, out_format);
    if too_big && tiling::tileable(stored.width, stored.height, out_format) {
        // Over the binding limit: row bands (a point operation needs no neighbours).
        let bands = tiling::row_bands(
            engine,
            stored.width,
            stored.height,
            stored.format(),
            out_format,
        )?;
        let mut canvas = tiling::blank(stored.width, stored.height, out_format)?;
        for band in bands {
            // Each band fits, so this takes the untiled path below.
            let part = window_image(engine, &tiling::crop(stored, band)?, settings)?;
            tiling::paste(&mut canvas, &part, 0, band.y)?;
        }
        return Ok(canvas.with_geometry(stored.geometry.clone()));
    }
    let input = engine.upload(stored)?;
    let mut rec = Recorder::new(engine);
    let output = encode(&mut rec, &input, settings)?;
    let download = rec.download(&output)?;
    rec.submit()?;
    download.wait()
}

/// The CPU reference, straight from the standard's formulas in f64.
pub fn reference(stored: &HostImage, settings: &WindowSettings) -> Result<HostImage> {
    let out_max = settings.out_max();
    let values = (0..stored.pixel_count()).map(|i| {
        let modality = settings.modality.apply(stored.pixels.get_f64(i));
        let mut y = settings.voi.apply(modality, out_max);
        if settings.invert {
            y = out_max - y;
        }
        round_to_output(y, out_max)
    });
    let pixels = if settings.bits == 8 {
        Pixels::U8(values.map(|v| v as u8).collect())
    } else {
        Pixels::U16(values.map(|v| v as u16).collect())
    };
    Ok(HostImage::new(stored.width, stored.height, pixels)?.with_geometry(stored.geometry.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_block_matches_the_shader_size() {
        assert_eq!(std::mem::size_of::<WindowUniform>(), 80);
    }

    #[test]
    fn min_max_window_hits_both_ends() {
        let w = min_max_window(-1024.0, 3071.0, VoiFunction::Linear);
        assert_eq!(round_to_output(w.apply(-1024.0, 0.0, 255.0), 255.0), 0.0);
        assert_eq!(round_to_output(w.apply(3071.0, 0.0, 255.0), 255.0), 255.0);
    }

    #[test]
    fn explicit_window_needs_both_values() {
        let img = HostImage::new(2, 1, Pixels::U16(vec![0, 10])).expect("image");
        let req = WindowRequest {
            center: Some(5.0),
            ..WindowRequest::default()
        };
        assert!(WindowSettings::for_image(&img, &req).is_err());
        let req = WindowRequest {
            bits: 10,
            ..WindowRequest::default()
        };
        assert!(WindowSettings::for_image(&img, &req).is_err());
    }
}
