//! The pixel side of a derived object: checking a greyscale image against its Bits Stored, rescale
//! and window before anything is written, and the Image Pixel module (with the Image Plane
//! geometry, Modality LUT, VOI LUT and — for DX — the DX modules that describe the pixels) of a
//! greyscale or RGB image.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;

use super::iod::Iod;
use super::modules::{self, Plan, put, put_ds, put_us};
use super::{DerivedDicom, Samples, uids};
use crate::io::dicom::attrs::{self, Obj};
use crate::transforms::{VoiFunction, Window};
use crate::{Error, HostImage, Pixels, Result};

/// The pixels of a derived object.
pub(super) enum Content<'a> {
    Grey {
        image: &'a HostImage,
        bits_allocated: u16,
        bits_stored: u16,
        signed: bool,
    },
    Rgb {
        width: u32,
        height: u32,
        rgb: &'a [u8],
    },
}

impl<'a> Content<'a> {
    /// Checks `image` and the bits, rescale and window of `opts`.
    pub(super) fn grey(image: &'a HostImage, opts: &DerivedDicom<'_>) -> Result<Self> {
        let (bits_allocated, signed) = match &image.pixels {
            Pixels::U8(_) => (8, false),
            Pixels::U16(_) => (16, false),
            Pixels::I16(_) => (16, true),
            Pixels::F32(_) => {
                return Err(Error::InvalidParams(
                    "a derived DICOM holds integer samples (u8, u16, i16); convert the f32 image first"
                        .to_string(),
                ));
            }
        };
        if image.pixels.len() != image.pixel_count() || image.pixel_count() == 0 {
            return Err(Error::InvalidImage(format!(
                "{}x{} image has {} samples",
                image.width,
                image.height,
                image.pixels.len()
            )));
        }
        dim(image.width)?;
        dim(image.height)?;
        let bits_stored = opts.bits_stored.unwrap_or(bits_allocated);
        if bits_stored == 0 || bits_stored > bits_allocated {
            return Err(Error::InvalidParams(format!(
                "BitsStored {bits_stored} does not fit {bits_allocated}-bit samples"
            )));
        }
        let (lo, hi) = if signed {
            let half = 1i64 << (bits_stored - 1);
            (-half, half - 1)
        } else {
            (0, (1i64 << bits_stored) - 1)
        };
        if let Some((min, max)) = image.pixels.min_max()
            && (min < lo as f64 || max > hi as f64)
        {
            return Err(Error::InvalidParams(format!(
                "samples range {min}..{max} does not fit BitsStored {bits_stored} ({lo}..{hi})"
            )));
        }
        if let Some((slope, intercept)) = opts.rescale
            && (!slope.is_finite() || !intercept.is_finite() || slope == 0.0)
        {
            return Err(Error::InvalidParams(format!(
                "rescale slope {slope} / intercept {intercept}: need finite values and a non-zero slope"
            )));
        }
        if let Some(w) = opts.window {
            w.validate()?;
        }
        Ok(Content::Grey {
            image,
            bits_allocated,
            bits_stored,
            signed,
        })
    }

    pub(super) fn size(&self) -> (u32, u32) {
        match self {
            Content::Grey { image, .. } => (image.width, image.height),
            Content::Rgb { width, height, .. } => (*width, *height),
        }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Content::Grey { image, .. } => uids::pixel_bytes(&image.pixels),
            Content::Rgb { rgb, .. } => rgb,
        }
    }
}

/// Image Plane geometry, Modality LUT, VOI LUT, the DX modules (for DX) and Image Pixel of a
/// greyscale image.
pub(super) fn grey_pixels(
    obj: &mut Obj,
    plan: &Plan<'_>,
    opts: &DerivedDicom<'_>,
    image: &HostImage,
    (bits_allocated, bits_stored, signed): (u16, u16, bool),
) {
    let g = &image.geometry;
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    let spacing = g.pixel_spacing.filter(|v| finite(v));
    match (plan.iod, spacing) {
        (Iod::DxForPresentation, Some(spacing)) => {
            let source_spacing = opts
                .sources
                .first()
                .and_then(|s| s.geometry(opts.frame).pixel_spacing);
            modules::dx(obj, plan, spacing, source_spacing);
        }
        _ => {
            if let Some(v) = spacing {
                put_ds(obj, tags::PIXEL_SPACING, &v);
            }
            if let Some((slope, intercept)) = opts.rescale {
                put(obj, tags::RESCALE_INTERCEPT, VR::DS, &uids::ds(intercept));
                put(obj, tags::RESCALE_SLOPE, VR::DS, &uids::ds(slope));
                let kind = plan
                    .first()
                    .and_then(|s| attrs::text(s, tags::RESCALE_TYPE))
                    .unwrap_or_else(|| "US".to_string());
                put(obj, tags::RESCALE_TYPE, VR::LO, &kind);
            }
        }
    }
    if let Some(v) = g.image_position.filter(|v| finite(v)) {
        put_ds(obj, tags::IMAGE_POSITION_PATIENT, &v);
    }
    if let Some(v) = g.image_orientation.filter(|v| finite(v)) {
        put_ds(obj, tags::IMAGE_ORIENTATION_PATIENT, &v);
    }

    // VOI: the caller's window; a DX For Presentation object needs one (Type 1C), so it gets the
    // full range of display values, or the range of the stored values.
    let window = opts.window.or_else(|| {
        (plan.iod == Iod::DxForPresentation).then(|| {
            let (lo, hi) = match opts.samples {
                Samples::Display => (0.0, 2f64.powi(i32::from(bits_stored)) - 1.0),
                _ => image.pixels.min_max().unwrap_or((0.0, 0.0)),
            };
            let width = hi - lo + 1.0;
            Window {
                center: lo + width / 2.0,
                width,
                function: VoiFunction::Linear,
            }
        })
    });
    if let Some(w) = &window {
        modules::voi(obj, w);
    }

    put_us(obj, tags::SAMPLES_PER_PIXEL, 1);
    put(
        obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        plan.photometric,
    );
    put_us(obj, tags::ROWS, image.height as u16);
    put_us(obj, tags::COLUMNS, image.width as u16);
    put_us(obj, tags::BITS_ALLOCATED, bits_allocated);
    put_us(obj, tags::BITS_STORED, bits_stored);
    put_us(obj, tags::HIGH_BIT, bits_stored - 1);
    put_us(obj, tags::PIXEL_REPRESENTATION, u16::from(signed));
    let (vr, value) = match &image.pixels {
        Pixels::U8(v) => {
            let mut bytes = v.clone();
            if bytes.len() % 2 == 1 {
                bytes.push(0);
            }
            (VR::OB, PrimitiveValue::U8(bytes.into()))
        }
        Pixels::U16(v) => (VR::OW, PrimitiveValue::U16(v.clone().into())),
        Pixels::I16(v) => (
            VR::OW,
            PrimitiveValue::U16(v.iter().map(|&x| x as u16).collect()),
        ),
        // Refused in `Content::grey`.
        Pixels::F32(_) => (VR::OW, PrimitiveValue::Empty),
    };
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, value));
}

/// Image Pixel module of an 8-bit RGB image, Planar Configuration 0 (interleaved).
pub(super) fn rgb_pixels(obj: &mut Obj, width: u32, height: u32, rgb: &[u8]) {
    put_us(obj, tags::SAMPLES_PER_PIXEL, 3);
    put(obj, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
    put_us(obj, tags::PLANAR_CONFIGURATION, 0);
    put_us(obj, tags::ROWS, height as u16);
    put_us(obj, tags::COLUMNS, width as u16);
    put_us(obj, tags::BITS_ALLOCATED, 8);
    put_us(obj, tags::BITS_STORED, 8);
    put_us(obj, tags::HIGH_BIT, 7);
    put_us(obj, tags::PIXEL_REPRESENTATION, 0);
    let mut bytes = rgb.to_vec();
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(bytes.into()),
    ));
}

pub(super) fn dim(v: u32) -> Result<PrimitiveValue> {
    u16::try_from(v).map(PrimitiveValue::from).map_err(|_| {
        Error::InvalidImage(format!(
            "{v} pixels is more than a DICOM Rows/Columns value can hold (65535)"
        ))
    })
}
