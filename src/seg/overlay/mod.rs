//! Pictures of a segmentation result: the localizer in grey with the mask's contour, the oriented
//! box, the fitted line, the centre and the scan-plane angle drawn on it in colour, because a
//! technologist at the scanner judges a plane by looking at it, not by reading a 0/255 mask and a
//! JSON file. The picture is an RGB8 [`Overlay`] that the CLI writes as a PNG and the DICOM node as
//! an RGB Secondary Capture.
//!
//! Drawn, bottom to top (colours in [`palette`]):
//! - the localizer as the network saw it: through the window radpipe's segment workflow chose
//!   ([`crate::seg::infer::display_window`]: the DICOM file's window, or the range of a 16-bit
//!   raster), or stretched min–max for an 8-bit PNG/JPEG;
//! - the final scan plane, dashed across the whole image through the box centre at the final angle;
//! - the minimum-area oriented box, drawn [`BOX_MARGIN`] pen widths outside the geometry's box so it
//!   does not hide the contour where they meet;
//! - the contour of the mask (all components): its foreground pixels with a background pixel among
//!   their eight neighbours ([`draw::contour`]);
//! - the least-squares line through the pixels' centroid, across the structure and a little beyond;
//! - a cross on the box centre;
//! - text on a dark box in the image's corner farthest from the structure: the final angle, the
//!   centre, the box and line angles (and the angle in millimetres where the pixels are not square).
//!
//! [`sheet`] puts many slices on one contact sheet with the truth's and the prediction's contours
//! (`radpipe evaluate --sheet`).
//!
//! Pen width and text size grow with the image (see [`Layout`]), so the picture reads the same on a
//! 256² localizer and a 3000² radiograph. Everything is drawn on the CPU: it is one picture per
//! image, and the GPU path would gain nothing worth its complexity.

pub mod draw;
pub mod font;
mod layout;
pub mod palette;
pub mod sheet;

pub use layout::{Layout, NO_STRUCTURE, TextBlock, TextLine, describe};

use crate::image::{HostImage, Pixels};
use crate::ops::window::{self, WindowSettings};
use crate::seg::geometry::MaskMeasurement;
use crate::{Error, Result};

/// An RGB colour.
pub type Rgb = [u8; 3];

/// How many pen widths the drawn box lies outside the geometry's box.
pub const BOX_MARGIN: f64 = 1.5;

/// An RGB8 picture: `rgb` holds `width × height` pixels of three interleaved bytes, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Interleaved R, G, B, rows top to bottom.
    pub rgb: Vec<u8>,
}

impl Overlay {
    /// A grey picture from 8-bit values (`width × height` of them).
    pub fn from_grey(width: u32, height: u32, grey: &[u8]) -> Result<Overlay> {
        if grey.len() != width as usize * height as usize {
            return Err(Error::InvalidParams(format!(
                "overlay: {} grey values for a {width}x{height} picture",
                grey.len()
            )));
        }
        Ok(Overlay {
            width,
            height,
            rgb: grey.iter().flat_map(|&v| [v, v, v]).collect(),
        })
    }

    /// The colour at `(x, y)`, or `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Rgb> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = 3 * (y as usize * self.width as usize + x as usize);
        Some([self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]])
    }

    /// Sets `(x, y)` to `colour`; a point outside the picture is ignored.
    pub fn put(&mut self, x: i64, y: i64, colour: Rgb) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = 3 * (y as usize * self.width as usize + x as usize);
        self.rgb[i..i + 3].copy_from_slice(&colour);
    }

    /// Writes the picture as an 8-bit RGB PNG, atomically.
    pub fn write_png(&self, path: &std::path::Path) -> Result<()> {
        crate::io::raster::write_rgb_png(path, self.width, self.height, &self.rgb)
    }
}

/// The localizer as 8-bit grey values: through `window` when given (a window to more than 8 bits is
/// scaled down to 0..255), else stretched from its minimum to its maximum (a constant image stays
/// its value, clamped to 0..255).
pub fn display_grey(image: &HostImage, window: Option<&WindowSettings>) -> Result<Vec<u8>> {
    if let Some(settings) = window {
        let shown = window::reference(image, settings)?;
        let scale = 255.0 / settings.out_max();
        return Ok(match shown.pixels {
            Pixels::U8(v) => v,
            other => (0..other.len())
                .map(|i| (other.get_f64(i) * scale).round().clamp(0.0, 255.0) as u8)
                .collect(),
        });
    }
    let n = image.pixel_count();
    let Some((lo, hi)) = image.pixels.min_max() else {
        return Ok(vec![0; n]);
    };
    if let Pixels::U8(v) = &image.pixels
        && lo == 0.0
        && hi == 255.0
    {
        return Ok(v.clone());
    }
    let span = hi - lo;
    Ok((0..n)
        .map(|i| {
            let v = image.pixels.get_f64(i);
            let g = if span > 0.0 {
                (v - lo) / span * 255.0
            } else {
                v
            };
            if g.is_finite() {
                g.round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        })
        .collect())
}

/// Draws the overlay of one segmentation: `image` (stored pixels, any format) shown through
/// `window` (see [`display_grey`]), `mask` (u8, non-zero = foreground, the image's size) and what
/// [`crate::seg::geometry::measure_mask`] measured on it.
pub fn draw_overlay(
    image: &HostImage,
    window: Option<&WindowSettings>,
    mask: &HostImage,
    measurement: &MaskMeasurement,
) -> Result<Overlay> {
    let (w, h) = (image.width, image.height);
    if (mask.width, mask.height) != (w, h) {
        return Err(Error::InvalidParams(format!(
            "overlay: the mask is {}x{}, the image {w}x{h}",
            mask.width, mask.height
        )));
    }
    let Pixels::U8(mask_values) = &mask.pixels else {
        return Err(Error::InvalidParams(format!(
            "overlay: the mask has {} samples, not 8-bit",
            mask.format()
        )));
    };
    let mut o = Overlay::from_grey(w, h, &display_grey(image, window)?)?;
    let layout = Layout::for_image(w, h);
    let pen = layout.pen;
    let fit = measurement.pixels;
    let contour = draw::contour(w, h, mask_values, layout.contour);
    let Some(fit) = fit else {
        draw::draw_contour(&mut o, &contour, palette::CONTOUR);
        layout.draw_text(&mut o, &describe(measurement), None);
        return Ok(o);
    };
    let b = fit.bbox;
    let centre = (b.center[0], b.center[1]);
    let far = f64::from(w.max(h)) * 2.0;
    if let Some(angle) = fit.angle_deg {
        let (s, c) = angle.to_radians().sin_cos();
        let (p, q) = (
            (centre.0 - far * c, centre.1 - far * s),
            (centre.0 + far * c, centre.1 + far * s),
        );
        draw::dashed_line(&mut o, p, q, pen, layout.dash, palette::PLANE);
    }
    draw::polygon(
        &mut o,
        &box_corners(&b, BOX_MARGIN * f64::from(pen)),
        pen,
        palette::BOX,
    );
    draw::draw_contour(&mut o, &contour, palette::CONTOUR);
    if let Some(line) = fit.line {
        let (s, c) = line.angle_deg.to_radians().sin_cos();
        let half = b.size[0] / 2.0 + 4.0 * f64::from(pen);
        let (x, y) = (line.center[0], line.center[1]);
        let ends = ((x - half * c, y - half * s), (x + half * c, y + half * s));
        draw::line(&mut o, ends.0, ends.1, pen, palette::LINE);
    }
    draw::cross(&mut o, centre, layout.arm, pen, palette::CENTRE);
    layout.draw_text(&mut o, &describe(measurement), Some(centre));
    Ok(o)
}

/// The corners of `b` grown by `margin` on every side, in order around the box.
pub fn box_corners(b: &crate::seg::geometry::OrientedBox, margin: f64) -> [(f64, f64); 4] {
    let (s, c) = b.angle_deg.to_radians().sin_cos();
    let (hl, hs) = (b.size[0] / 2.0 + margin, b.size[1] / 2.0 + margin);
    let (u, v) = ((c * hl, s * hl), (-s * hs, c * hs));
    let [x, y] = b.center;
    [
        (x - u.0 - v.0, y - u.1 - v.1),
        (x + u.0 - v.0, y + u.1 - v.1),
        (x + u.0 + v.0, y + u.1 + v.1),
        (x - u.0 + v.0, y - u.1 + v.1),
    ]
}
