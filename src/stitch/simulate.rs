//! Simulated stations with known truth: cut a real radiograph into overlapping stations with sub-pixel
//! shifts, small rotations, exposure gains and noise. No multi-station acquisition ships with radpipe
//! (none is freely licensed offline), so the tests, the demo and the bench cut their own from the
//! bundled real CR image and know exactly where each station belongs.

use super::layout::Placement;
use crate::image::{Geometry, HostImage, PixelFormat, Pixels};
use crate::{Error, Result};

/// One simulated station.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimStation {
    /// Where it sits in the truth image (same convention as [`Placement`]: the truth position of its
    /// top-left pixel centre when unrotated; rotation about the station centre).
    pub origin: [f64; 2],
    /// In-plane rotation, degrees.
    pub angle_deg: f64,
    /// Exposure gain applied to the truth values.
    pub gain: f64,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl SimStation {
    /// The station's true placement on the truth image.
    pub fn placement(&self) -> Placement {
        Placement {
            offset: self.origin,
            angle: self.angle_deg.to_radians(),
            width: self.width,
            height: self.height,
        }
    }

    /// Geometry a detector would record for this station: `spacing` mm pixels, patient axes aligned
    /// with the truth image's, the truth image's pixel (0, 0) at the patient origin.
    pub fn geometry(&self, spacing: f64) -> Geometry {
        let p = self.placement();
        let o = p.to_canvas([0.0, 0.0]);
        let (sin, cos) = p.angle.sin_cos();
        Geometry {
            pixel_spacing: Some([spacing, spacing]),
            image_position: Some([o[0] * spacing, o[1] * spacing, 0.0]),
            image_orientation: Some([cos, sin, 0.0, -sin, cos, 0.0]),
        }
    }
}

/// SplitMix64 (small and reproducible everywhere).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Bilinear sample of `values` (`w`×`h`) at (x, y), edges replicated, in f64.
pub fn sample(values: &[f64], w: u32, h: u32, x: f64, y: f64) -> f64 {
    let x = x.clamp(0.0, f64::from(w - 1));
    let y = y.clamp(0.0, f64::from(h - 1));
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (tx, ty) = (x - f64::from(x0), y - f64::from(y0));
    let v = |xx: u32, yy: u32| values[(yy * w + xx) as usize];
    let top = v(x0, y0) + tx * (v(x1, y0) - v(x0, y0));
    let bottom = v(x0, y1) + tx * (v(x1, y1) - v(x0, y1));
    top + ty * (bottom - top)
}

/// Cuts `truth` (u16) into stations: truth sampled bilinearly at each station pixel's true position,
/// times the gain, plus Gaussian noise of `noise_sigma`, rounded and clamped to u16. Each station
/// carries the geometry of [`SimStation::geometry`] at `spacing` mm.
pub fn cut_stations(
    truth: &HostImage,
    stations: &[SimStation],
    noise_sigma: f64,
    spacing: f64,
    seed: u64,
) -> Result<Vec<HostImage>> {
    if truth.format() != PixelFormat::U16 {
        return Err(Error::InvalidParams("simulation truth must be u16".into()));
    }
    let values: Vec<f64> = (0..truth.pixel_count())
        .map(|i| truth.pixels.get_f64(i))
        .collect();
    let mut rng = Rng(seed);
    stations
        .iter()
        .map(|s| {
            let p = s.placement();
            let mut out = Vec::with_capacity(s.width as usize * s.height as usize);
            for y in 0..s.height {
                for x in 0..s.width {
                    let t = p.to_canvas([f64::from(x), f64::from(y)]);
                    let v = sample(&values, truth.width, truth.height, t[0], t[1]) * s.gain
                        + noise_sigma * rng.normal();
                    out.push(v.round().clamp(0.0, 65535.0) as u16);
                }
            }
            Ok(HostImage::new(s.width, s.height, Pixels::U16(out))?
                .with_geometry(s.geometry(spacing)))
        })
        .collect()
}

/// Upscales a u16 image bilinearly (half-pixel centres) to `width`×`height` on the CPU — for making
/// bench-sized truths from the small bundled radiograph.
pub fn upscale(image: &HostImage, width: u32, height: u32) -> Result<HostImage> {
    let values: Vec<f64> = (0..image.pixel_count())
        .map(|i| image.pixels.get_f64(i))
        .collect();
    let (fx, fy) = (
        f64::from(image.width) / f64::from(width),
        f64::from(image.height) / f64::from(height),
    );
    let mut out = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let sx = (f64::from(x) + 0.5) * fx - 0.5;
            let sy = (f64::from(y) + 0.5) * fy - 0.5;
            out.push(
                sample(&values, image.width, image.height, sx, sy)
                    .round()
                    .clamp(0.0, 65535.0) as u16,
            );
        }
    }
    HostImage::new(width, height, Pixels::U16(out))
}
