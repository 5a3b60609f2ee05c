//! Host images: pixels plus the two things every stage must carry along — the pixel format and
//! the patient geometry. Keeping geometry beside the pixels is what lets a warp update the pixel spacing
//! and a stitch place stations in millimetres without a side channel. The GPU twin, `gpu::GpuImage`, carries the same format and geometry; it lives in
//! the GPU layer because it owns a device buffer, so this module stays a leaf that imports nothing.

/// How one pixel sample is stored.
///
/// On the GPU every format lives in a `array<u32>` storage buffer: `U8` four per word, `U16`/`I16` two per
/// word (little-endian halves, the low half is the even pixel), `F32` one per word. WGSL has no 16-bit
/// storage type, and packing halves the bytes moved compared with widening to f32 on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// Unsigned 8-bit.
    U8,
    /// Unsigned 16-bit.
    U16,
    /// Signed 16-bit (two's complement).
    I16,
    /// 32-bit IEEE float.
    F32,
}

impl PixelFormat {
    /// Bytes per sample on the host.
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::U8 => 1,
            PixelFormat::U16 | PixelFormat::I16 => 2,
            PixelFormat::F32 => 4,
        }
    }

    /// Samples packed in one 32-bit GPU word.
    pub fn pixels_per_word(self) -> usize {
        4 / self.bytes_per_pixel()
    }

    /// Bytes of a tightly packed GPU buffer for `pixels` samples, rounded up to whole 32-bit words.
    pub fn gpu_bytes(self, pixels: usize) -> u64 {
        let words = pixels.div_ceil(self.pixels_per_word());
        (words * 4) as u64
    }

    /// The code the shaders use to select the unpack/pack path (see `shaders/common/pixels.wgsl`).
    pub fn shader_code(self) -> u32 {
        match self {
            PixelFormat::U8 => 0,
            PixelFormat::U16 => 1,
            PixelFormat::I16 => 2,
            PixelFormat::F32 => 3,
        }
    }

    /// Short lowercase name, as used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::U8 => "u8",
            PixelFormat::U16 => "u16",
            PixelFormat::I16 => "i16",
            PixelFormat::F32 => "f32",
        }
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the image sits in the patient, when the source said so (DICOM PS3.3 C.7.6.2 and C.7.6.3).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Geometry {
    /// Physical distance between pixel centres in mm, `[row spacing, column spacing]` — DICOM order:
    /// first the vertical distance between rows, then the horizontal distance between columns.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Patient coordinates (mm) of the centre of the first transmitted pixel (Image Position (Patient)).
    pub image_position: Option<[f64; 3]>,
    /// Direction cosines of the first row and first column (Image Orientation (Patient)).
    pub image_orientation: Option<[f64; 6]>,
}

impl Geometry {
    /// Geometry with only a pixel spacing.
    pub fn with_spacing(row_mm: f64, col_mm: f64) -> Self {
        Geometry {
            pixel_spacing: Some([row_mm, col_mm]),
            ..Geometry::default()
        }
    }
}

/// Pixel samples in one of the supported formats, row-major, no padding.
#[derive(Debug, Clone, PartialEq)]
pub enum Pixels {
    /// Unsigned 8-bit samples.
    U8(Vec<u8>),
    /// Unsigned 16-bit samples.
    U16(Vec<u16>),
    /// Signed 16-bit samples.
    I16(Vec<i16>),
    /// 32-bit float samples.
    F32(Vec<f32>),
}

impl Pixels {
    /// The format of these samples.
    pub fn format(&self) -> PixelFormat {
        match self {
            Pixels::U8(_) => PixelFormat::U8,
            Pixels::U16(_) => PixelFormat::U16,
            Pixels::I16(_) => PixelFormat::I16,
            Pixels::F32(_) => PixelFormat::F32,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Pixels::U8(v) => v.len(),
            Pixels::U16(v) => v.len(),
            Pixels::I16(v) => v.len(),
            Pixels::F32(v) => v.len(),
        }
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sample `i` widened to f64 (exact for every format).
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            Pixels::U8(v) => f64::from(v[i]),
            Pixels::U16(v) => f64::from(v[i]),
            Pixels::I16(v) => f64::from(v[i]),
            Pixels::F32(v) => f64::from(v[i]),
        }
    }

    /// Little-endian bytes as they are laid out in a GPU buffer (padded to whole 32-bit words).
    pub fn to_gpu_bytes(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = match self {
            Pixels::U8(v) => v.clone(),
            Pixels::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Pixels::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Pixels::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        bytes.resize(bytes.len().next_multiple_of(4), 0);
        bytes
    }

    /// Inverse of [`Pixels::to_gpu_bytes`]: `count` samples of `format` from little-endian bytes.
    pub fn from_gpu_bytes(format: PixelFormat, bytes: &[u8], count: usize) -> Pixels {
        match format {
            PixelFormat::U8 => Pixels::U8(bytes[..count].to_vec()),
            PixelFormat::U16 => Pixels::U16(
                bytes[..count * 2]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            ),
            PixelFormat::I16 => Pixels::I16(
                bytes[..count * 2]
                    .chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            ),
            PixelFormat::F32 => Pixels::F32(
                bytes[..count * 4]
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
        }
    }

    /// Smallest and largest sample, or `None` when empty or when every sample is NaN.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for i in 0..self.len() {
            let v = self.get_f64(i);
            if v.is_nan() {
                continue;
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        (lo <= hi).then_some((lo, hi))
    }
}

/// An image in host memory: one frame, one sample per pixel.
#[derive(Debug, Clone, PartialEq)]
pub struct HostImage {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Row-major samples, `width * height` of them.
    pub pixels: Pixels,
    /// Patient geometry when known.
    pub geometry: Geometry,
}

impl HostImage {
    /// A new image; fails when the sample count does not match the size.
    pub fn new(width: u32, height: u32, pixels: Pixels) -> Result<Self, crate::Error> {
        let expected = width as usize * height as usize;
        if width == 0 || height == 0 {
            return Err(crate::Error::InvalidImage(format!(
                "image size {width}x{height} has no pixels"
            )));
        }
        if pixels.len() != expected {
            return Err(crate::Error::InvalidImage(format!(
                "{width}x{height} image needs {expected} samples, got {}",
                pixels.len()
            )));
        }
        Ok(HostImage {
            width,
            height,
            pixels,
            geometry: Geometry::default(),
        })
    }

    /// The same image with `geometry` attached.
    pub fn with_geometry(mut self, geometry: Geometry) -> Self {
        self.geometry = geometry;
        self
    }

    /// Pixel format of the samples.
    pub fn format(&self) -> PixelFormat {
        self.pixels.format()
    }

    /// Number of pixels.
    pub fn pixel_count(&self) -> usize {
        self.width as usize * self.height as usize
    }
}
