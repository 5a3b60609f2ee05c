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
//! ```

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
        let spec: PipelineSpec = toml::from_str(text)
            .map_err(|e| Error::format(origin, format!("invalid pipeline: {}", e.message())))?;
        if spec.stages.is_empty() {
            return Err(Error::format(origin, "the pipeline has no [[stage]]"));
        }
        spec.output_kind()
            .map_err(|e| Error::format(origin, e.to_string()))?;
        Ok(spec)
    }

    /// Reads a pipeline file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
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
    fn errors_name_the_file() {
        for text in [
            "output = \"png\"\n",
            "output = \"gif\"\n[[stage]]\nop = \"window\"\n",
            "output = \"png\"\n[[stage]]\nop = \"blur\"\n",
            "output = \"png\"\n[[stage]]\nop = \"window\"\ncentre = 3\n",
            "not toml at all [",
        ] {
            let err = PipelineSpec::parse(text, Path::new("my.toml"))
                .expect_err(text)
                .to_string();
            assert!(err.starts_with("my.toml: "), "{err}");
        }
    }
}
