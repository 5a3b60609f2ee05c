//! A pipeline spec's stages resolved for one image: the settings each stage takes (some depend on
//! the file, such as its own window or the network's input size) and their one-line descriptions for
//! the report.

use crate::batch::spec::{BorderSpec, PipelineSpec, ResizeModeSpec, StageSpec, warp_transform};
use crate::io::Input;
use crate::io::dicom::{Axes, Photometric, Samples};
use crate::ops::clahe::ClaheParams;
use crate::ops::equalize::EqualizeParams;
use crate::ops::histmatch::MatchParams;
use crate::ops::resize::{ResizeMode, ResizeParams};
use crate::ops::warp::{Border, Transform, WarpParams, rotation_matrix};
use crate::ops::window::{WindowRequest, WindowSettings};
use crate::seg::infer::display_window;
use crate::{Error, Result};

/// A stage resolved for one image (its settings may depend on the file, e.g. its own window).
#[derive(Debug, Clone)]
pub(super) enum Prepared {
    Window(WindowSettings),
    Resize(ResizeParams),
    Rotate(WarpParams),
    Warp(WarpParams),
    Equalize(EqualizeParams),
    Clahe(ClaheParams),
    Match {
        /// Index into the batch's uploaded references.
        reference: usize,
        name: String,
        params: MatchParams,
    },
    /// The network's mask; `window` turns stored values into 8-bit display values first.
    Segment {
        window: Option<WindowSettings>,
    },
}

impl Prepared {
    pub(super) fn describe(&self) -> String {
        match self {
            Prepared::Window(s) => match s.window() {
                Some(w) => format!(
                    "window {} c{} w{} {} bits",
                    w.function.dicom_name(),
                    w.center,
                    w.width,
                    s.bits
                ),
                None => format!("VOI LUT {} bits", s.bits),
            },
            Prepared::Resize(p) => format!("resize {:?} {}x{}", p.mode, p.width, p.height),
            Prepared::Rotate(p) => match p.transform {
                Transform::Affine(m) => format!(
                    "rotate {:.3} degrees, scale {:.4}",
                    (-m[0][1]).atan2(m[0][0]).to_degrees(),
                    m[0][0].hypot(m[0][1])
                ),
                Transform::Perspective(_) => "warp".into(),
            },
            Prepared::Warp(p) => format!("warp to {}x{}", p.width, p.height),
            Prepared::Equalize(_) => "equalize".into(),
            Prepared::Match { name, .. } => format!("histogram matched to {name}"),
            Prepared::Clahe(p) => format!(
                "clahe clip {} tiles {}x{}",
                p.clip_limit, p.tiles_x, p.tiles_y
            ),
            Prepared::Segment { .. } => "BiSeNetV2 corpus callosum mask".into(),
        }
    }
}

pub(super) fn prepare(spec: &PipelineSpec, input: &Input) -> Result<Vec<Prepared>> {
    let references = spec.references();
    let (mut width, mut height) = match input {
        Input::Dicom(d) => (d.width, d.height),
        Input::Raster(img) => (img.width, img.height),
    };
    // MONOCHROME1 stored values are inverted once, by the first stage that turns them into display
    // values (a window, or a histogram stage when no window came first), as `radpipe window` and
    // `radpipe equalize` do.
    let mut pending_invert =
        matches!(input, Input::Dicom(d) if d.photometric == Photometric::Monochrome1);
    let mut stored_values = true;
    let mut prepared = Vec::with_capacity(spec.stages.len());
    for stage in &spec.stages {
        let stage = match stage {
            StageSpec::Window {
                center,
                width: window_width,
                function,
                bits,
            } => {
                if !stored_values {
                    return Err(Error::InvalidParams(
                        "a window stage needs the file's stored values: only resize or rotate may come before it"
                            .into(),
                    ));
                }
                let request = WindowRequest {
                    center: *center,
                    width: *window_width,
                    function: *function,
                    bits: bits.unwrap_or(8),
                };
                let settings = match input {
                    Input::Dicom(d) => WindowSettings::from_source(d.as_ref(), 0, &request)?,
                    Input::Raster(img) => WindowSettings::for_image(img, &request)?,
                };
                pending_invert = false;
                stored_values = false;
                Prepared::Window(settings)
            }
            StageSpec::Resize {
                width: w,
                height: h,
                scale,
                mode,
            } => {
                let (out_w, out_h) = match (w, h, scale) {
                    (Some(w), Some(h), _) => (*w, *h),
                    (_, _, Some(s)) => (
                        ((f64::from(width) * s).round() as u32).max(1),
                        ((f64::from(height) * s).round() as u32).max(1),
                    ),
                    _ => {
                        return Err(Error::InvalidParams(
                            "resize needs width and height or scale".into(),
                        ));
                    }
                };
                let mut params = ResizeParams::new(out_w, out_h);
                params.mode = match mode {
                    Some(ResizeModeSpec::Area) => ResizeMode::Area,
                    _ => ResizeMode::Linear,
                };
                (width, height) = (out_w, out_h);
                Prepared::Resize(params)
            }
            StageSpec::Rotate {
                angle,
                scale,
                border,
            } => {
                let center = [
                    (f64::from(width) - 1.0) / 2.0,
                    (f64::from(height) - 1.0) / 2.0,
                ];
                let mut params = WarpParams::new(
                    Transform::Affine(rotation_matrix(center, *angle, scale.unwrap_or(1.0))),
                    width,
                    height,
                );
                params.border = border_of(*border);
                Prepared::Rotate(params)
            }
            StageSpec::Warp {
                matrix,
                inverse,
                size,
                border,
            } => {
                let transform = warp_transform(matrix).ok_or_else(|| {
                    Error::InvalidParams("a warp matrix has 6 or 9 numbers".into())
                })?;
                let [out_w, out_h] = size.unwrap_or([width, height]);
                let mut params = WarpParams::new(transform, out_w, out_h);
                params.inverse = inverse.unwrap_or(false);
                params.border = border_of(*border);
                (width, height) = (out_w, out_h);
                Prepared::Warp(params)
            }
            StageSpec::Equalize { bits, bins } => {
                let invert = std::mem::take(&mut pending_invert);
                stored_values = false;
                Prepared::Equalize(EqualizeParams {
                    bits: *bits,
                    bins: *bins,
                    invert,
                })
            }
            StageSpec::Match {
                reference,
                bits,
                bins,
            } => {
                if pending_invert {
                    return Err(Error::InvalidParams(
                        "a match stage on MONOCHROME1 stored values would keep them inverted: put a window or equalize stage before it"
                            .into(),
                    ));
                }
                stored_values = false;
                Prepared::Match {
                    reference: references
                        .iter()
                        .position(|r| *r == reference.as_path())
                        .ok_or_else(|| {
                            Error::InvalidParams(format!(
                                "match reference {} is not among the pipeline's references",
                                reference.display()
                            ))
                        })?,
                    name: reference
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    params: MatchParams {
                        bits: *bits,
                        bins: *bins,
                    },
                }
            }
            StageSpec::Clahe {
                clip_limit,
                tiles,
                bits,
                bins,
            } => {
                let invert = std::mem::take(&mut pending_invert);
                stored_values = false;
                let defaults = ClaheParams::default();
                let [tiles_x, tiles_y] = tiles.unwrap_or([defaults.tiles_x, defaults.tiles_y]);
                Prepared::Clahe(ClaheParams {
                    clip_limit: clip_limit.unwrap_or(defaults.clip_limit),
                    tiles_x,
                    tiles_y,
                    bits: *bits,
                    bins: *bins,
                    invert,
                })
            }
            StageSpec::Segment { .. } => {
                // Stored values get the file's own window to 8 bits, as `radpipe segment` feeds
                // the network; display values go in as they are (and must be 8-bit).
                let window = if stored_values {
                    display_window(input)?
                } else {
                    None
                };
                pending_invert = false;
                stored_values = false;
                Prepared::Segment { window }
            }
        };
        prepared.push(stage);
    }
    Ok(prepared)
}

/// What the output samples are: a mask after a segment stage, display values after a window or
/// histogram stage, else the source's stored values (whose MONOCHROME1 a DICOM output keeps).
pub(super) fn samples(stages: &[Prepared]) -> Samples {
    if matches!(stages.last(), Some(Prepared::Segment { .. })) {
        Samples::Labels
    } else if stages.iter().any(|s| {
        matches!(
            s,
            Prepared::Window(_) | Prepared::Equalize(_) | Prepared::Clahe(_)
        )
    }) {
        Samples::Display
    } else {
        Samples::Stored
    }
}

/// How the output's pixel axes lie in the input's, through every geometric stage; `None` after a
/// perspective warp.
pub(super) fn axes(stages: &[Prepared]) -> Option<Axes> {
    stages
        .iter()
        .try_fold(Axes::SAME, |axes, stage| match stage {
            Prepared::Rotate(p) | Prepared::Warp(p) => match p.transform {
                Transform::Affine(m) => {
                    let next =
                        Axes::from_affine([[m[0][0], m[0][1]], [m[1][0], m[1][1]]], p.inverse)?;
                    Some(axes.then(next))
                }
                Transform::Perspective(_) => None,
            },
            _ => Some(axes),
        })
}

fn border_of(border: Option<BorderSpec>) -> Border {
    match border {
        Some(BorderSpec::Replicate) => Border::Replicate,
        Some(BorderSpec::Reflect) => Border::Reflect101,
        _ => Border::Constant(0.0),
    }
}
