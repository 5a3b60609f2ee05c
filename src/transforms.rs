//! The DICOM grey-scale value transforms, as data and as their CPU definitions (PS3.3 C.11.1 and
//! C.11.2): stored value → Modality LUT → modality value → VOI LUT or window → display value.
//!
//! These types are shared by the reader (which finds them in a file), the shaders (which evaluate them on
//! the GPU) and the tests (which evaluate them here, from the standard's formulas, in f64).

/// A lookup table as DICOM encodes it: LUT Descriptor (entries, first mapped value, bits) plus LUT Data.
#[derive(Debug, Clone, PartialEq)]
pub struct LutTable {
    /// The input value mapped to `data[0]`. Inputs below map to the first entry, above to the last.
    pub first_mapped: i64,
    /// Bits per entry (LUT Descriptor value 3), 8..=16.
    pub bits: u32,
    /// The entries.
    pub data: Vec<u16>,
}

impl LutTable {
    /// The entry for input `x`: `x` truncated toward negative infinity, clamped into the table.
    pub fn lookup(&self, x: f64) -> f64 {
        let last = self.data.len() as i64 - 1;
        let index = if x.is_nan() {
            0
        } else {
            (x.floor() as i64 - self.first_mapped).clamp(0, last)
        };
        f64::from(self.data[index as usize])
    }

    /// Largest value an entry can hold, `2^bits − 1`.
    pub fn max_value(&self) -> f64 {
        ((1u64 << self.bits) - 1) as f64
    }
}

/// The Modality LUT (PS3.3 C.11.1): how stored values become modality values (HU, mGy, arbitrary units).
#[derive(Debug, Clone, PartialEq)]
pub enum ModalityLut {
    /// Rescale Slope and Rescale Intercept: `value = stored × slope + intercept`.
    Rescale {
        /// Rescale Slope (0028,1053).
        slope: f64,
        /// Rescale Intercept (0028,1052).
        intercept: f64,
    },
    /// Modality LUT Sequence (0028,3000).
    Table(LutTable),
}

impl Default for ModalityLut {
    fn default() -> Self {
        ModalityLut::IDENTITY
    }
}

impl ModalityLut {
    /// Stored values are the modality values.
    pub const IDENTITY: ModalityLut = ModalityLut::Rescale {
        slope: 1.0,
        intercept: 0.0,
    };

    /// The modality value of one stored value.
    pub fn apply(&self, stored: f64) -> f64 {
        match self {
            ModalityLut::Rescale { slope, intercept } => stored * slope + intercept,
            ModalityLut::Table(t) => t.lookup(stored),
        }
    }
}

/// VOI LUT Function (0028,1056).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VoiFunction {
    /// LINEAR (the default when the attribute is absent): PS3.3 C.11.2.1.2.1.
    #[default]
    Linear,
    /// LINEAR_EXACT: PS3.3 C.11.2.1.3.2.
    LinearExact,
    /// SIGMOID: PS3.3 C.11.2.1.3.1.
    Sigmoid,
}

impl VoiFunction {
    /// Parses the DICOM code string (`LINEAR`, `LINEAR_EXACT`, `SIGMOID`) or the CLI spelling.
    pub fn parse(text: &str) -> Option<VoiFunction> {
        match text.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "LINEAR" => Some(VoiFunction::Linear),
            "LINEAR_EXACT" => Some(VoiFunction::LinearExact),
            "SIGMOID" => Some(VoiFunction::Sigmoid),
            _ => None,
        }
    }

    /// The DICOM code string.
    pub fn dicom_name(self) -> &'static str {
        match self {
            VoiFunction::Linear => "LINEAR",
            VoiFunction::LinearExact => "LINEAR_EXACT",
            VoiFunction::Sigmoid => "SIGMOID",
        }
    }
}

/// A window: Window Center (0028,1050), Window Width (0028,1051) and the VOI LUT Function.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// Window centre, in modality units.
    pub center: f64,
    /// Window width, in modality units.
    pub width: f64,
    /// Which function maps the window to the output range.
    pub function: VoiFunction,
}

impl Window {
    /// Checks the constraints of PS3.3 C.11.2.1.2: finite values, width ≥ 1 for LINEAR, > 0 otherwise.
    pub fn validate(&self) -> Result<(), crate::Error> {
        if !self.center.is_finite() || !self.width.is_finite() {
            return Err(crate::Error::InvalidParams(format!(
                "window center {} / width {} must be finite numbers",
                self.center, self.width
            )));
        }
        let ok = match self.function {
            VoiFunction::Linear => self.width >= 1.0,
            VoiFunction::LinearExact | VoiFunction::Sigmoid => self.width > 0.0,
        };
        if !ok {
            let need = if self.function == VoiFunction::Linear {
                "≥ 1"
            } else {
                "> 0"
            };
            return Err(crate::Error::InvalidParams(format!(
                "window width {} must be {need} for {}",
                self.width,
                self.function.dicom_name()
            )));
        }
        Ok(())
    }

    /// The window function of PS3.3 C.11.2.1.2 for input `x`, output in `[y_min, y_max]`, not rounded.
    pub fn apply(&self, x: f64, y_min: f64, y_max: f64) -> f64 {
        let (c, w) = (self.center, self.width);
        let range = y_max - y_min;
        match self.function {
            VoiFunction::Linear => {
                if x <= c - 0.5 - (w - 1.0) / 2.0 {
                    y_min
                } else if x > c - 0.5 + (w - 1.0) / 2.0 {
                    y_max
                } else {
                    ((x - (c - 0.5)) / (w - 1.0) + 0.5) * range + y_min
                }
            }
            VoiFunction::LinearExact => {
                if x <= c - w / 2.0 {
                    y_min
                } else if x > c + w / 2.0 {
                    y_max
                } else {
                    ((x - c) / w + 0.5) * range + y_min
                }
            }
            VoiFunction::Sigmoid => range / (1.0 + (-4.0 * (x - c) / w).exp()) + y_min,
        }
    }
}

/// The VOI transform chosen for display.
#[derive(Debug, Clone, PartialEq)]
pub enum Voi {
    /// A window with its function.
    Window(Window),
    /// A VOI LUT Sequence (0028,3010) table; its output is scaled from `[0, 2^bits − 1]` to the output range.
    Table(LutTable),
}

impl Voi {
    /// Display value in `[0, out_max]` for modality value `x`, not rounded.
    pub fn apply(&self, x: f64, out_max: f64) -> f64 {
        match self {
            Voi::Window(w) => w.apply(x, 0.0, out_max),
            Voi::Table(t) => t.lookup(x) / t.max_value() * out_max,
        }
    }
}

/// Rounds a display value to the nearest integer (halves away from zero, i.e. up for these non-negative
/// values) and clamps into `[0, out_max]`.
pub fn round_to_output(y: f64, out_max: f64) -> f64 {
    (y + 0.5).floor().clamp(0.0, out_max)
}

/// Where a display pipeline's inputs come from, per frame: what a window/level op needs to know about
/// an image's stored values without knowing the file format they came in. `io::dicom::DicomImage`
/// implements it from the file's attributes; the op (`ops::window`) only sees this trait, so ops never
/// import the file readers.
pub trait DisplaySource {
    /// Where the values came from, for error messages (a file path), if anywhere.
    fn origin(&self) -> Option<&std::path::Path>;
    /// Number of frames.
    fn frame_count(&self) -> u32;
    /// The Modality LUT of frame `frame`.
    fn modality_lut(&self, frame: u32) -> ModalityLut;
    /// Every window of frame `frame`, in the source's order (empty when it has none).
    fn windows(&self, frame: u32) -> Vec<Window>;
    /// The VOI LUT table of frame `frame`, if any.
    fn voi_lut(&self, frame: u32) -> Option<LutTable>;
    /// Smallest and largest modality value of frame `frame` (computed only when no window applies).
    fn modality_range(&self, frame: u32) -> Option<(f64, f64)>;
    /// Whether the minimum value is meant to be displayed as white (MONOCHROME1).
    fn displays_inverted(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_matches_the_standard_endpoints() {
        let w = Window {
            center: 40.0,
            width: 400.0,
            function: VoiFunction::Linear,
        };
        // x <= c - 0.5 - (w-1)/2 = -160 → 0; x > c - 0.5 + (w-1)/2 = 239 → max
        assert_eq!(w.apply(-160.0, 0.0, 255.0), 0.0);
        assert_eq!(w.apply(239.5, 0.0, 255.0), 255.0);
        let mid = w.apply(39.5, 0.0, 255.0);
        assert!((mid - 127.5).abs() < 1e-9, "{mid}");
    }

    #[test]
    fn linear_exact_and_sigmoid_are_centred() {
        for f in [VoiFunction::LinearExact, VoiFunction::Sigmoid] {
            let w = Window {
                center: 100.0,
                width: 50.0,
                function: f,
            };
            assert!((w.apply(100.0, 0.0, 4095.0) - 2047.5).abs() < 1e-9);
        }
    }

    #[test]
    fn invalid_widths_are_refused() {
        let mut w = Window {
            center: 0.0,
            width: 0.5,
            function: VoiFunction::Linear,
        };
        assert!(w.validate().is_err());
        w.function = VoiFunction::LinearExact;
        assert!(w.validate().is_ok());
        w.width = f64::NAN;
        assert!(w.validate().is_err());
        w.width = -3.0;
        assert!(w.validate().is_err());
    }

    #[test]
    fn lut_lookup_clamps_both_ends() {
        let t = LutTable {
            first_mapped: -2,
            bits: 12,
            data: vec![10, 20, 30],
        };
        assert_eq!(t.lookup(-100.0), 10.0);
        assert_eq!(t.lookup(-1.0), 20.0);
        assert_eq!(t.lookup(-0.5), 20.0);
        assert_eq!(t.lookup(7.0), 30.0);
        assert_eq!(t.max_value(), 4095.0);
    }
}
