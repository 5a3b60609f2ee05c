//! The pipeline file: a small TOML description of the stages every image of a batch goes through.
//!
//! ```toml
//! output = "png"            # png | tif | dcm | raw — extension of every output
//!
//! [[stage]]
//! op = "window"             # DICOM Modality LUT + VOI window (see `radpipe window`)
//! center = 40.0             # optional: else the file's window, VOI LUT, or min–max
//! width = 400.0
//! function = "linear"       # linear | linear-exact | sigmoid
//! bits = 8
//!
//! [[stage]]
//! op = "resize"             # bilinear or area resize; keeps the sample format and updates spacing
//! width = 512               # give width and height, or scale
//! height = 512
//! # scale = 0.5
//! mode = "linear"           # linear | area
//!
//! [[stage]]
//! op = "rotate"             # bilinear rotation about the centre (OpenCV getRotationMatrix2D), same size
//! angle = 1.5               # degrees, counter-clockwise as displayed
//! scale = 1.0
//! border = "replicate"      # constant (0) | replicate | reflect
//!
//! [[stage]]
//! op = "warp"               # bilinear affine (6 numbers) or perspective (9) warp (see `radpipe warp`)
//! matrix = [1.0, 0.1, -20.0, 0.0, 1.0, 5.0]   # source → destination, OpenCV's row order
//! inverse = false           # true: the matrix maps destination → source (WARP_INVERSE_MAP)
//! size = [512, 512]         # optional output size; default the input's
//! border = "constant"       # constant (0) | replicate | reflect
//!
//! [[stage]]
//! op = "equalize"           # global histogram equalization (OpenCV equalizeHist on 8-bit)
//! bits = 12                 # optional: significant bits of 16-bit samples
//!
//! [[stage]]
//! op = "clahe"              # contrast-limited adaptive equalization (OpenCV createCLAHE)
//! clip-limit = 2.0
//! tiles = [8, 8]
//!
//! [[stage]]
//! op = "match"              # histogram matching to a reference image (see `radpipe match`)
//! reference = "ref.png"     # relative to the pipeline file; same sample format as the stage input
//! bits = 12                 # optional, as for equalize
//!
//! [[stage]]
//! op = "segment"            # BiSeNetV2 corpus-callosum mask (0/255, 8-bit, the image's size); last stage
//! weights = "model.safetensors"   # optional: default the shipped model; relative to the pipeline file
//! size = 256                # optional network input side: default the model's own, else 512
//! device = "auto"           # optional: auto (default), gpu or cpu, as `radpipe segment --device`
//! preprocess = "paddleseg"  # optional: radpipe, paddleseg or paddleseg-u8; default the model's
//! ```
//!
//! A window stage reads the file's own stored values and transforms, so only geometric stages
//! (resize, rotate) may come before it; histogram stages may come anywhere. A match reference is read
//! and uploaded once per batch; each image's histogram and the reference's are counted on the GPU in
//! the image's own command encoder. A segment stage must be the last: it turns 8-bit display values
//! into the mask (images still holding stored values get the file's own window first, as `radpipe segment`
//! does); the network is loaded once per batch. On the engine's device (a real GPU, or `device = "gpu"`)
//! the image goes from upload to mask readback without a CPU wait; on burn's CPU backend (`auto` on a
//! CPU adapter such as lavapipe, or `device = "cpu"`) the earlier stages still run on the engine and
//! their 8-bit result is read back for the network.

use std::path::Path;

use crate::io::OutputKind;
use crate::transforms::VoiFunction;
use crate::{Error, Result};

/// One stage as written in the file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StageSpec {
    /// Modality LUT + VOI window.
    Window {
        /// Window centre (with `width`).
        center: Option<f64>,
        /// Window width (with `center`).
        width: Option<f64>,
        /// VOI function.
        function: Option<VoiFunction>,
        /// Output bits (8, 12, 16); default 8.
        bits: Option<u32>,
    },
    /// Resize to a size or by a scale factor.
    Resize {
        /// Output columns (with `height`).
        width: Option<u32>,
        /// Output rows (with `width`).
        height: Option<u32>,
        /// Scale factor for both axes (instead of `width`/`height`).
        scale: Option<f64>,
        /// Interpolation: `linear` (default) or `area`.
        mode: Option<ResizeModeSpec>,
    },
    /// Rotation about the image centre, same output size.
    Rotate {
        /// Degrees, counter-clockwise as displayed.
        angle: f64,
        /// Scale factor (default 1).
        scale: Option<f64>,
        /// Border: `constant` (0, default), `replicate` or `reflect`.
        border: Option<BorderSpec>,
    },
    /// Affine or perspective warp by a given matrix.
    Warp {
        /// Six (affine) or nine (perspective) numbers, row by row.
        matrix: Vec<f64>,
        /// The matrix maps destination → source.
        inverse: Option<bool>,
        /// Output columns and rows (default: the input's).
        size: Option<[u32; 2]>,
        /// Border: `constant` (0, default), `replicate` or `reflect`.
        border: Option<BorderSpec>,
    },
    /// Global histogram equalization.
    Equalize {
        /// Significant bits of integer samples.
        bits: Option<u32>,
        /// Bins (power of two).
        bins: Option<u32>,
    },
    /// Contrast-limited adaptive histogram equalization.
    Clahe {
        /// Clip limit relative to a flat histogram (default 40, OpenCV's).
        #[serde(rename = "clip-limit")]
        clip_limit: Option<f64>,
        /// Tiles across and down (default 8×8).
        tiles: Option<[u32; 2]>,
        /// Significant bits of integer samples.
        bits: Option<u32>,
        /// Bins (power of two).
        bins: Option<u32>,
    },
    /// Histogram matching to a reference image.
    Match {
        /// The reference image (relative paths are taken from the pipeline file's folder).
        reference: std::path::PathBuf,
        /// Significant bits of integer samples.
        bits: Option<u32>,
        /// Bins of the image histogram (power of two).
        bins: Option<u32>,
    },
    /// BiSeNetV2 segmentation: the image becomes its mask (u8 0/255). Must be the last stage.
    Segment {
        /// Weights (.safetensors, .pdparams, .bpk; relative paths are taken from the pipeline file's
        /// folder); default: the shipped model.
        weights: Option<std::path::PathBuf>,
        /// Network input side; default: the size the model was trained at, else 512.
        size: Option<u32>,
        /// Where the network runs; default `auto`.
        device: Option<crate::seg::infer::DeviceChoice>,
        /// How display values become the network input; default the model's (see
        /// [`crate::workflow::segment::resolve_preprocess`]).
        preprocess: Option<crate::seg::infer::PreprocessKind>,
    },
}

/// Warp border as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BorderSpec {
    /// Constant 0.
    Constant,
    /// Nearest edge sample.
    Replicate,
    /// Reflect-101.
    Reflect,
}

/// Resize interpolation as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeModeSpec {
    /// Bilinear.
    Linear,
    /// Area averaging (shrinking only).
    Area,
}

impl StageSpec {
    /// Whether the stage keeps stored values meaning what they meant (only moves them around).
    pub fn is_geometric(&self) -> bool {
        matches!(
            self,
            StageSpec::Resize { .. } | StageSpec::Rotate { .. } | StageSpec::Warp { .. }
        )
    }

    /// Checks what can be checked without an image.
    fn validate(&self, index: usize, before: &[StageSpec]) -> std::result::Result<(), String> {
        let n = index + 1;
        match self {
            StageSpec::Window { .. } => {
                if before.iter().any(|s| !s.is_geometric()) {
                    return Err(format!(
                        "stage {n} (window) needs the file's stored values: only resize or rotate stages may come before it"
                    ));
                }
            }
            StageSpec::Resize {
                width,
                height,
                scale,
                ..
            } => match (width, height, scale) {
                (Some(w), Some(h), None) if *w > 0 && *h > 0 => {}
                (None, None, Some(s)) if s.is_finite() && *s > 0.0 => {}
                _ => {
                    return Err(format!(
                        "stage {n} (resize) needs width and height (> 0) or a finite scale > 0, not both"
                    ));
                }
            },
            StageSpec::Rotate { angle, scale, .. } => {
                if !angle.is_finite() || scale.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
                    return Err(format!(
                        "stage {n} (rotate) needs a finite angle and a finite scale > 0"
                    ));
                }
            }
            StageSpec::Warp {
                matrix,
                inverse,
                size,
                ..
            } => {
                let transform = self::warp_transform(matrix)
                    .ok_or_else(|| format!("stage {n} (warp) needs a matrix of 6 or 9 numbers"))?;
                crate::ops::warp::dst_to_src(&transform, inverse.unwrap_or(false))
                    .map_err(|e| format!("stage {n} (warp): {e}"))?;
                if size.is_some_and(|[w, h]| w == 0 || h == 0) {
                    return Err(format!("stage {n} (warp) size must be at least 1x1"));
                }
            }
            StageSpec::Equalize { .. } => {}
            StageSpec::Segment { size, .. } => {
                use crate::seg::infer::{MAX_INPUT_SIDE, MIN_INPUT_SIDE};
                if before
                    .iter()
                    .any(|s| matches!(s, StageSpec::Segment { .. }))
                {
                    return Err(format!(
                        "stage {n} (segment): a pipeline segments at most once"
                    ));
                }
                if let Some(v) = size
                    && !(MIN_INPUT_SIDE..=MAX_INPUT_SIDE).contains(v)
                {
                    return Err(format!(
                        "stage {n} (segment) size {v} must be within {MIN_INPUT_SIDE}..={MAX_INPUT_SIDE}"
                    ));
                }
            }
            StageSpec::Match { reference, .. } => {
                if reference.as_os_str().is_empty() {
                    return Err(format!("stage {n} (match) needs a reference image path"));
                }
            }
            StageSpec::Clahe {
                clip_limit, tiles, ..
            } => {
                if let Some(c) = clip_limit
                    && !(c.is_finite() && *c >= 0.0)
                {
                    return Err(format!(
                        "stage {n} (clahe) clip-limit {c} must be a finite number >= 0"
                    ));
                }
                if let Some([x, y]) = tiles
                    && (*x == 0 || *y == 0 || *x > 256 || *y > 256)
                {
                    return Err(format!(
                        "stage {n} (clahe) tiles {x}x{y}: each side must be 1..=256"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The transform of a warp stage's matrix: 6 numbers affine, 9 perspective, else `None`.
pub fn warp_transform(m: &[f64]) -> Option<crate::ops::warp::Transform> {
    use crate::ops::warp::Transform;
    match m {
        [a, b, c, d, e, f] => Some(Transform::Affine([[*a, *b, *c], [*d, *e, *f]])),
        [a, b, c, d, e, f, g, h, i] => Some(Transform::Perspective([
            [*a, *b, *c],
            [*d, *e, *f],
            [*g, *h, *i],
        ])),
        _ => None,
    }
}

/// A whole pipeline file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Output extension: png, tif, dcm or raw.
    pub output: String,
    /// Stages in order.
    #[serde(rename = "stage")]
    pub stages: Vec<StageSpec>,
}

impl PipelineSpec {
    /// Parses and validates pipeline TOML (`origin` names the file in errors).
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let mut spec: PipelineSpec = toml::from_str(text)
            .map_err(|e| Error::format(origin, format!("invalid pipeline: {}", e.message())))?;
        if spec.stages.is_empty() {
            return Err(Error::format(origin, "the pipeline has no [[stage]]"));
        }
        spec.output_kind()
            .map_err(|e| Error::format(origin, e.to_string()))?;
        for (i, stage) in spec.stages.iter().enumerate() {
            stage
                .validate(i, &spec.stages[..i])
                .map_err(|e| Error::format(origin, e))?;
        }
        let last = spec.stages.len() - 1;
        if let Some(i) = spec.stages[..last]
            .iter()
            .position(|s| matches!(s, StageSpec::Segment { .. }))
        {
            return Err(Error::format(
                origin,
                format!(
                    "stage {} (segment) must be the last stage: its output is the mask",
                    i + 1
                ),
            ));
        }
        let folder = origin.parent().unwrap_or(Path::new(""));
        for stage in &mut spec.stages {
            match stage {
                StageSpec::Match { reference: p, .. }
                | StageSpec::Segment {
                    weights: Some(p), ..
                } if p.is_relative() => *p = folder.join(&*p),
                _ => {}
            }
        }
        Ok(spec)
    }

    /// Reads a pipeline file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = crate::io::gate::read_to_string(path, crate::io::gate::InputKind::Text)?;
        Self::parse(&text, path)
    }

    /// The segment stage's weights (`None`: the shipped model), network size and device, if it has
    /// one.
    pub fn segment(&self) -> Option<(Option<&Path>, Option<u32>, crate::seg::infer::DeviceChoice)> {
        self.stages.iter().find_map(|s| match s {
            StageSpec::Segment {
                weights,
                size,
                device,
                ..
            } => Some((weights.as_deref(), *size, device.unwrap_or_default())),
            _ => None,
        })
    }

    /// The segment stage's preprocessing, when the file names one.
    pub fn segment_preprocess(&self) -> Option<crate::seg::infer::PreprocessKind> {
        self.stages.iter().find_map(|s| match s {
            StageSpec::Segment { preprocess, .. } => *preprocess,
            _ => None,
        })
    }

    /// The distinct match references, in stage order.
    pub fn references(&self) -> Vec<&Path> {
        let mut refs: Vec<&Path> = Vec::new();
        for stage in &self.stages {
            if let StageSpec::Match { reference, .. } = stage
                && !refs.contains(&reference.as_path())
            {
                refs.push(reference);
            }
        }
        refs
    }

    /// The output kind from `output`.
    pub fn output_kind(&self) -> Result<OutputKind> {
        crate::io::output_kind(Path::new(&format!("x.{}", self.output)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_window_pipeline() {
        let spec = PipelineSpec::parse(
            "output = \"png\"\n[[stage]]\nop = \"window\"\ncenter = 40\nwidth = 400\nfunction = \"linear-exact\"\n",
            Path::new("p.toml"),
        )
        .expect("parse");
        assert_eq!(
            spec.stages[0],
            StageSpec::Window {
                center: Some(40.0),
                width: Some(400.0),
                function: Some(VoiFunction::LinearExact),
                bits: None
            }
        );
    }

    #[test]
    fn parses_every_stage() {
        let spec = PipelineSpec::parse(
            "output = \"tif\"\n[[stage]]\nop = \"resize\"\nscale = 0.5\nmode = \"area\"\n\
             [[stage]]\nop = \"window\"\n[[stage]]\nop = \"clahe\"\nclip-limit = 2.0\ntiles = [4, 6]\n\
             [[stage]]\nop = \"equalize\"\nbits = 12\n",
            Path::new("p.toml"),
        )
        .expect("parse");
        assert_eq!(spec.stages.len(), 4);
        assert_eq!(
            spec.stages[2],
            StageSpec::Clahe {
                clip_limit: Some(2.0),
                tiles: Some([4, 6]),
                bits: None,
                bins: None
            }
        );
        assert!(spec.stages[0].is_geometric());
    }

    #[test]
    fn match_references_are_taken_from_the_pipeline_folder() {
        let spec = PipelineSpec::parse(
            "output = \"png\"\n[[stage]]\nop = \"match\"\nreference = \"ref.png\"\nbits = 12\n\
             [[stage]]\nop = \"match\"\nreference = \"/abs/r.dcm\"\n[[stage]]\nop = \"match\"\nreference = \"ref.png\"\n",
            Path::new("pipes/p.toml"),
        )
        .expect("parse");
        assert_eq!(
            spec.stages[0],
            StageSpec::Match {
                reference: Path::new("pipes").join("ref.png"),
                bits: Some(12),
                bins: None
            }
        );
        assert_eq!(
            spec.references(),
            vec![Path::new("pipes/ref.png"), Path::new("/abs/r.dcm")]
        );
    }

    #[test]
    fn errors_name_the_file() {
        for text in [
            "output = \"png\"\n",
            "output = \"gif\"\n[[stage]]\nop = \"window\"\n",
            "output = \"png\"\n[[stage]]\nop = \"blur\"\n",
            "output = \"png\"\n[[stage]]\nop = \"window\"\ncentre = 3\n",
            "output = \"png\"\n[[stage]]\nop = \"resize\"\nwidth = 3\n",
            "output = \"png\"\n[[stage]]\nop = \"resize\"\nscale = -1\n",
            "output = \"png\"\n[[stage]]\nop = \"clahe\"\ntiles = [0, 8]\n",
            "output = \"png\"\n[[stage]]\nop = \"rotate\"\nangle = nan\n",
            "output = \"png\"\n[[stage]]\nop = \"rotate\"\nangle = 3\nscale = 0\n",
            "output = \"png\"\n[[stage]]\nop = \"rotate\"\nangle = 3\nborder = \"wrap\"\n",
            "output = \"png\"\n[[stage]]\nop = \"clahe\"\nclip-limit = nan\n",
            "output = \"png\"\n[[stage]]\nop = \"equalize\"\n[[stage]]\nop = \"window\"\n",
            "output = \"png\"\n[[stage]]\nop = \"match\"\n",
            "output = \"png\"\n[[stage]]\nop = \"warp\"\nmatrix = [1, 0, 0, 0, 1]\n",
            "output = \"png\"\n[[stage]]\nop = \"warp\"\nmatrix = [1, 2, 0, 2, 4, 0]\n",
            "output = \"png\"\n[[stage]]\nop = \"warp\"\nmatrix = [1, 0, 0, 0, 1, 0]\nsize = [0, 4]\n",
            "output = \"png\"\n[[stage]]\nop = \"match\"\nreference = \"\"\n",
            "output = \"png\"\n[[stage]]\nop = \"match\"\nreference = \"r.png\"\n[[stage]]\nop = \"window\"\n",
            "not toml at all [",
        ] {
            let err = PipelineSpec::parse(text, Path::new("my.toml"))
                .expect_err(text)
                .to_string();
            assert!(err.starts_with("my.toml: "), "{err}");
        }
    }
}
