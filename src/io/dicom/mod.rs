//! DICOM in and out: read a greyscale image's stored values with everything needed to display it
//! correctly (Modality LUT, windows, VOI LUT, geometry — per frame), and write a processed image back as
//! a derived object (DX For Presentation or Secondary Capture, see `derived`) that stays linked to its
//! patient, study and source images.
//!
//! Why not use dicom-pixeldata's converted output directly: its "no modality LUT" path does not
//! sign-extend when Bits Stored < Bits Allocated, and its attribute accessors misread standard attributes
//! that an explicit-VR file encodes as `UN`. radpipe takes only the decoder's raw samples and reads every
//! attribute through its own accessor layer (`attrs`), which re-decodes `UN` values by their dictionary VR.
//!
//! Untrusted input is checked before dicom-rs trusts it: a header pre-scan (`guard`) refuses element
//! lengths that run past the end of the file (dicom-rs would allocate them first), the pixel data length
//! is checked against Rows × Columns × Frames before decoding, RLE is decoded here (the dicom-rs adapter
//! panics on short segments), and any remaining panic inside dicom-rs or a codec is contained. Every error
//! names the file and the problem in one line.

mod attrs;
mod codestream;
mod derived;
mod frame_info;
mod guard;
mod isolated;
mod open;
mod pixels;
mod rle;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dicom_dictionary_std::tags;

use crate::transforms::{LutTable, ModalityLut, Window};
use crate::{Error, Geometry, HostImage, Pixels, Result};
use frame_info::{FrameInfo, StoredRange};

pub use derived::{
    Axes, DerivedDicom, Iod, Samples, derived_iod, write_derived_dicom, write_derived_rgb,
};
pub use isolated::{Budget, HELPER_COMMAND, helper_main, isolate_decoders};

/// Photometric Interpretation of a greyscale image (PS3.3 C.7.6.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Photometric {
    /// The minimum sample value is meant to be displayed as white.
    Monochrome1,
    /// The minimum sample value is meant to be displayed as black.
    Monochrome2,
}

/// A greyscale DICOM image read into memory: stored values of all frames plus the attributes that
/// say how to turn them into modality values and display values.
#[derive(Debug, Clone)]
pub struct DicomImage {
    /// The file it was read from.
    pub path: PathBuf,
    /// Columns (0028,0011).
    pub width: u32,
    /// Rows (0028,0010).
    pub height: u32,
    /// Number of Frames (0028,0008), 1 when absent.
    pub frames: u32,
    /// Bits Allocated (0028,0100): 8 or 16.
    pub bits_allocated: u16,
    /// Bits Stored (0028,0101).
    pub bits_stored: u16,
    /// High Bit (0028,0102).
    pub high_bit: u16,
    /// Pixel Representation (0028,0103) is 1: stored values are two's complement.
    pub signed: bool,
    /// Photometric Interpretation (0028,0004).
    pub photometric: Photometric,
    /// Modality (0008,0060).
    pub modality: Option<String>,
    /// SOP Class UID (0008,0016).
    pub sop_class_uid: Option<String>,
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: Option<String>,
    /// Transfer Syntax UID of the file (0002,0010).
    pub transfer_syntax: String,
    /// Stored values of all frames, frame after frame.
    pixels: Pixels,
    /// One entry per frame when the file has per-frame functional groups, else one for all frames;
    /// equal neighbours share one allocation (a 64k-entry LUT is not copied per frame).
    info: Vec<Arc<FrameInfo>>,
    /// The data set without Pixel Data, for derived output.
    header: attrs::Obj,
}

impl DicomImage {
    /// Stored values of frame `n` (0-based) with its geometry: `U8` for 8-bit unsigned data, `U16` or
    /// `I16` for 16-bit data by Pixel Representation (signed 8-bit data is widened to `I16`).
    pub fn frame(&self, n: u32) -> Result<HostImage> {
        let range = self.frame_range(n).ok_or_else(|| {
            Error::InvalidParams(format!(
                "{}: frame {n} requested, but the file has {} frame(s)",
                self.path.display(),
                self.frames
            ))
        })?;
        let pixels = match &self.pixels {
            Pixels::U8(v) => v.get(range).map(|s| Pixels::U8(s.to_vec())),
            Pixels::U16(v) => v.get(range).map(|s| Pixels::U16(s.to_vec())),
            Pixels::I16(v) => v.get(range).map(|s| Pixels::I16(s.to_vec())),
            Pixels::F32(v) => v.get(range).map(|s| Pixels::F32(s.to_vec())),
        }
        .ok_or_else(|| {
            Error::format(&self.path, format!("frame {n} lies beyond the pixel data"))
        })?;
        Ok(HostImage::new(self.width, self.height, pixels)?.with_geometry(self.geometry(n)))
    }

    /// The Modality LUT of frame `n`: Modality LUT Sequence or Rescale Slope/Intercept, from the
    /// per-frame or shared functional groups or the top level; identity when absent.
    pub fn modality_lut(&self, n: u32) -> ModalityLut {
        self.info(n).modality.clone()
    }

    /// Every Window Center/Width pair of frame `n`, in file order, with the VOI LUT Function
    /// (LINEAR when absent or unknown); empty when the file has no window.
    pub fn windows(&self, n: u32) -> Vec<Window> {
        self.info(n).windows.clone()
    }

    /// The first item of frame `n`'s VOI LUT Sequence (0028,3010), if any.
    pub fn voi_lut(&self, n: u32) -> Option<LutTable> {
        self.info(n).voi_lut.clone()
    }

    /// Pixel Spacing (else Imager Pixel Spacing), Image Position and Image Orientation (Patient) of
    /// frame `n`.
    pub fn geometry(&self, n: u32) -> Geometry {
        self.info(n).geometry.clone()
    }

    /// Smallest and largest modality value of frame `n` (the Modality LUT applied to each stored
    /// value); `None` when `n` is out of range.
    pub fn modality_range(&self, n: u32) -> Option<(f64, f64)> {
        let range = self.frame_range(n)?;
        let lut = &self.info(n).modality;
        let (lo, hi) = match &self.pixels {
            Pixels::U8(v) => min_max(v.get(range)?.iter().map(|&x| lut.apply(f64::from(x)))),
            Pixels::U16(v) => min_max(v.get(range)?.iter().map(|&x| lut.apply(f64::from(x)))),
            Pixels::I16(v) => min_max(v.get(range)?.iter().map(|&x| lut.apply(f64::from(x)))),
            Pixels::F32(v) => min_max(v.get(range)?.iter().map(|&x| lut.apply(f64::from(x)))),
        }?;
        Some((lo, hi))
    }

    /// Frame `n`'s transforms; frames past the end get frame 0's.
    fn info(&self, n: u32) -> &FrameInfo {
        static IDENTITY: std::sync::OnceLock<FrameInfo> = std::sync::OnceLock::new();
        self.info
            .get(n as usize)
            .or_else(|| self.info.first())
            .map(|info| info.as_ref())
            .unwrap_or_else(|| {
                IDENTITY.get_or_init(|| FrameInfo {
                    modality: ModalityLut::IDENTITY,
                    windows: Vec::new(),
                    voi_lut: None,
                    geometry: Geometry::default(),
                })
            })
    }

    fn frame_range(&self, n: u32) -> Option<std::ops::Range<usize>> {
        if n >= self.frames {
            return None;
        }
        let len = self.width as usize * self.height as usize;
        let start = (n as usize).checked_mul(len)?;
        Some(start..start.checked_add(len)?)
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Reads a greyscale DICOM file (any transfer syntax dicom-rs decodes in pure Rust: native little and
/// big endian, deflate, RLE, JPEG baseline/extended/lossless, JPEG 2000). Files without the 128-byte
/// preamble, or without the "DICM" file meta header at all, are accepted.
///
/// Errors name the file: [`Error::Io`] when it cannot be read, [`Error::Format`] for malformed or
/// truncated content, [`Error::Unsupported`] for colour images, bit depths other than 8 and 16, float
/// pixel data and pixel data the decoders cannot handle.
pub fn read_dicom(path: &Path) -> Result<DicomImage> {
    let Opened {
        meta,
        transfer_syntax,
        mut header,
    } = Opened::open(path)?;
    let pixel = header.take(tags::PIXEL_DATA);
    let Some(pixel) = pixel else {
        if header.get(tags::FLOAT_PIXEL_DATA).is_some()
            || header.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some()
        {
            return Err(Error::unsupported(
                path,
                "float pixel data; radpipe reads 8- and 16-bit integer images",
            ));
        }
        return Err(Error::format(path, "no pixel data (7FE0,0010)"));
    };
    let (layout, photometric) = read_layout(path, &header)?;
    let pixels = pixels::extract(path, &layout, pixel, meta, &transfer_syntax)?;

    let range = StoredRange {
        bits_stored: layout.bits_stored,
        signed: layout.signed,
    };
    let count = if frame_info::has_per_frame_groups(&header) {
        layout.frames
    } else {
        1
    };
    let mut info: Vec<Arc<FrameInfo>> = Vec::new();
    for n in 0..count {
        let this = frame_info::frame_info(&header, n, range).map_err(|e| Error::format(path, e))?;
        match info.last() {
            Some(last) if **last == this => info.push(Arc::clone(last)),
            _ => info.push(Arc::new(this)),
        }
    }

    Ok(DicomImage {
        path: path.to_path_buf(),
        width: layout.cols,
        height: layout.rows,
        frames: layout.frames,
        bits_allocated: layout.bits_allocated,
        bits_stored: layout.bits_stored,
        high_bit: layout.high_bit,
        signed: layout.signed,
        photometric,
        modality: attrs::text(&header, tags::MODALITY),
        sop_class_uid: attrs::text(&header, tags::SOP_CLASS_UID),
        sop_instance_uid: attrs::text(&header, tags::SOP_INSTANCE_UID),
        transfer_syntax,
        pixels,
        info,
        header,
    })
}

/// An opened file split into what the readers use: the file meta group, its transfer syntax and
/// the data set.
struct Opened {
    meta: dicom_object::FileMetaTable,
    transfer_syntax: String,
    header: attrs::Obj,
}

impl Opened {
    fn open(path: &Path) -> Result<Opened> {
        let file = open::open(path)?;
        let meta = file.meta().clone();
        let transfer_syntax = meta
            .transfer_syntax()
            .trim_end_matches(['\0', ' '])
            .to_string();
        Ok(Opened {
            meta,
            transfer_syntax,
            header: file.into_inner(),
        })
    }
}

/// The helper's half of isolated decoding (see [`isolated`]): `path`'s encapsulated pixel data decoded
/// in this process, as raw decoder output.
fn decode_encapsulated_in_process(path: &Path) -> Result<Vec<u8>> {
    let Opened {
        meta,
        transfer_syntax,
        mut header,
    } = Opened::open(path)?;
    let pixel = header
        .take(tags::PIXEL_DATA)
        .ok_or_else(|| Error::format(path, "no pixel data (7FE0,0010)"))?;
    let (layout, _) = read_layout(path, &header)?;
    pixels::decode_encapsulated(path, &layout, pixel, meta, &transfer_syntax)
}

/// Reads and checks the Image Pixel module attributes.
fn read_layout(path: &Path, obj: &attrs::Obj) -> Result<(pixels::Layout, Photometric)> {
    let required = |tag, name: &str| {
        attrs::uint16(obj, tag).ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "{name} ({:04X},{:04X}) is missing or unreadable",
                    tag.0, tag.1
                ),
            )
        })
    };
    let rows = required(tags::ROWS, "Rows")?;
    let cols = required(tags::COLUMNS, "Columns")?;
    if rows == 0 || cols == 0 {
        return Err(Error::format(
            path,
            format!("Rows {rows} × Columns {cols}: the image has no pixels"),
        ));
    }

    let samples = attrs::uint16(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let pi = attrs::text(obj, tags::PHOTOMETRIC_INTERPRETATION)
        .map(|t| t.to_ascii_uppercase())
        .unwrap_or_else(|| "MONOCHROME2".to_string());
    let photometric = match pi.as_str() {
        "MONOCHROME1" if samples == 1 => Photometric::Monochrome1,
        "MONOCHROME2" if samples == 1 => Photometric::Monochrome2,
        "MONOCHROME1" | "MONOCHROME2" => {
            return Err(Error::unsupported(
                path,
                format!("{samples} samples per pixel; radpipe needs a greyscale image"),
            ));
        }
        _ if samples != 1
            || pi.starts_with("RGB")
            || pi.starts_with("YBR")
            || pi.starts_with("PALETTE")
            || pi.starts_with("ARGB")
            || pi.starts_with("CMYK")
            || pi.starts_with("HSV") =>
        {
            return Err(Error::unsupported(
                path,
                format!("colour image ({pi}); radpipe needs a greyscale image"),
            ));
        }
        _ => {
            return Err(Error::unsupported(
                path,
                format!(
                    "photometric interpretation {pi}; radpipe reads MONOCHROME1 and MONOCHROME2"
                ),
            ));
        }
    };

    let bits_allocated = required(tags::BITS_ALLOCATED, "BitsAllocated")?;
    if bits_allocated != 8 && bits_allocated != 16 {
        return Err(Error::unsupported(
            path,
            format!("BitsAllocated {bits_allocated}; radpipe reads 8- and 16-bit images"),
        ));
    }
    let bits_stored = attrs::uint16(obj, tags::BITS_STORED).unwrap_or(bits_allocated);
    if bits_stored == 0 || bits_stored > bits_allocated {
        return Err(Error::format(
            path,
            format!("BitsStored {bits_stored} does not fit BitsAllocated {bits_allocated}"),
        ));
    }
    let high_bit = attrs::uint16(obj, tags::HIGH_BIT).unwrap_or(bits_stored - 1);
    let signed = match attrs::int(obj, tags::PIXEL_REPRESENTATION) {
        None | Some(0) => false,
        Some(1) => true,
        Some(other) => {
            return Err(Error::format(
                path,
                format!("PixelRepresentation {other}; expected 0 or 1"),
            ));
        }
    };
    let frames = match attrs::int(obj, tags::NUMBER_OF_FRAMES) {
        None => 1,
        Some(n) => u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
            Error::format(path, format!("NumberOfFrames {n}; expected at least 1"))
        })?,
    };
    Ok((
        pixels::Layout {
            rows: u32::from(rows),
            cols: u32::from(cols),
            frames,
            bits_allocated,
            bits_stored,
            high_bit,
            signed,
        },
        photometric,
    ))
}

/// An error and its sources on one line (dicom-rs errors put the detail in the source chain).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text.replace(['\n', '\r'], " ")
}

impl crate::transforms::DisplaySource for DicomImage {
    fn origin(&self) -> Option<&Path> {
        Some(&self.path)
    }
    fn frame_count(&self) -> u32 {
        self.frames
    }
    fn modality_lut(&self, frame: u32) -> ModalityLut {
        DicomImage::modality_lut(self, frame)
    }
    fn windows(&self, frame: u32) -> Vec<Window> {
        DicomImage::windows(self, frame)
    }
    fn voi_lut(&self, frame: u32) -> Option<LutTable> {
        DicomImage::voi_lut(self, frame)
    }
    fn modality_range(&self, frame: u32) -> Option<(f64, f64)> {
        DicomImage::modality_range(self, frame)
    }
    fn displays_inverted(&self) -> bool {
        self.photometric == Photometric::Monochrome1
    }
}
