//! Placement: where each station sits on the canvas. A station's pixel `s` (pixel centres at integer
//! coordinates) lands on the canvas at `offset + c + R(angle)·(s − c)`, `c` the station's centre, so
//! with no rotation `offset` is simply the canvas position of its top-left pixel — the `--offsets` the
//! original C++ tool took. Offsets come from the command line, or from the DICOM geometry: each
//! station's Image Position (Patient) projected on the first station's row and column directions, in
//! units of the common pixel spacing, and its in-plane rotation from its Image Orientation (Patient).
//!
//! The canvas is the bounding box of all stations, shifted so it starts at pixel 0. Why the checks live
//! here: every later stage assumes the stations overlap in a chain and share units, so a bad input is
//! refused before any GPU work with an error that names the station.

use super::plan::MAX_STATIONS;
use super::{Station, StitchError};
use crate::image::{Geometry, HostImage};
use crate::ops::resize::{ResizeParams, resize_image};
use crate::{Engine, Error, Result};

/// Largest canvas side (what DICOM Rows/Columns can hold).
pub const MAX_CANVAS_SIDE: u32 = 65_535;

/// One station on the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Canvas position of the station's top-left pixel centre when unrotated (see the module docs).
    pub offset: [f64; 2],
    /// In-plane rotation in radians (positive turns the row direction towards the column direction).
    pub angle: f64,
    /// Station columns.
    pub width: u32,
    /// Station rows.
    pub height: u32,
}

impl Placement {
    /// An unrotated station at `offset`.
    pub fn new(offset: [f64; 2], width: u32, height: u32) -> Self {
        Placement {
            offset,
            angle: 0.0,
            width,
            height,
        }
    }

    /// The station's centre in its own pixel coordinates.
    pub fn center(&self) -> [f64; 2] {
        [
            (f64::from(self.width) - 1.0) / 2.0,
            (f64::from(self.height) - 1.0) / 2.0,
        ]
    }

    /// Station pixel coordinates → canvas coordinates.
    pub fn to_canvas(&self, s: [f64; 2]) -> [f64; 2] {
        let c = self.center();
        let (sin, cos) = self.angle.sin_cos();
        let (dx, dy) = (s[0] - c[0], s[1] - c[1]);
        [
            self.offset[0] + c[0] + cos * dx - sin * dy,
            self.offset[1] + c[1] + sin * dx + cos * dy,
        ]
    }

    /// The canvas → station map as `[a, b, c, d, e, f]`: `sx = a·x + b·y + c`, `sy = d·x + e·y + f`.
    pub fn canvas_to_station(&self) -> [f64; 6] {
        let c = self.center();
        let (sin, cos) = self.angle.sin_cos();
        // s = c + R(−θ)·(p − offset − c)
        let tx = self.offset[0] + c[0];
        let ty = self.offset[1] + c[1];
        [
            cos,
            sin,
            c[0] - cos * tx - sin * ty,
            -sin,
            cos,
            c[1] + sin * tx - cos * ty,
        ]
    }

    /// Canvas → station pixel coordinates.
    pub fn to_station(&self, p: [f64; 2]) -> [f64; 2] {
        let m = self.canvas_to_station();
        [
            m[0] * p[0] + m[1] * p[1] + m[2],
            m[3] * p[0] + m[4] * p[1] + m[5],
        ]
    }

    /// True when canvas point `p` falls inside the station's pixel footprint.
    pub fn covers(&self, p: [f64; 2]) -> bool {
        let s = self.to_station(p);
        s[0] > -0.5
            && s[1] > -0.5
            && s[0] < f64::from(self.width) - 0.5
            && s[1] < f64::from(self.height) - 0.5
    }

    /// Axis-aligned bounding box `[x0, y0, x1, y1]` of the station's pixel footprint on the canvas.
    pub fn bbox(&self) -> [f64; 4] {
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let corners = [
            [-0.5, -0.5],
            [w - 0.5, -0.5],
            [-0.5, h - 0.5],
            [w - 0.5, h - 0.5],
        ];
        let mut b = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for c in corners {
            let p = self.to_canvas(c);
            b[0] = b[0].min(p[0]);
            b[1] = b[1].min(p[1]);
            b[2] = b[2].max(p[0]);
            b[3] = b[3].max(p[1]);
        }
        b
    }
}

/// Intersection `[x0, y0, x1, y1]` of two stations' bounding boxes, `None` when empty.
pub fn overlap(a: &Placement, b: &Placement) -> Option<[f64; 4]> {
    let (p, q) = (a.bbox(), b.bbox());
    let r = [
        p[0].max(q[0]),
        p[1].max(q[1]),
        p[2].min(q[2]),
        p[3].min(q[3]),
    ];
    (r[2] - r[0] >= 1.0 && r[3] - r[1] >= 1.0).then_some(r)
}

/// All stations on one canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Canvas `[width, height]`.
    pub canvas: [u32; 2],
    /// One placement per station, in input order.
    pub stations: Vec<Placement>,
}

impl Layout {
    /// Shifts every station so the canvas starts at pixel 0 and sizes the canvas to hold them all.
    /// Returns the layout and the shift that was added to every offset.
    pub fn normalised(stations: Vec<Placement>) -> Result<(Layout, [f64; 2])> {
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        for p in &stations {
            let b = p.bbox();
            lo = [lo[0].min(b[0]), lo[1].min(b[1])];
            hi = [hi[0].max(b[2]), hi[1].max(b[3])];
        }
        if !(lo[0].is_finite() && lo[1].is_finite() && hi[0].is_finite() && hi[1].is_finite()) {
            return Err(Error::InvalidParams(
                "station offsets must be finite".into(),
            ));
        }
        // Canvas pixel centre j is covered when lo < j < hi: the first is floor(lo) + 1, the last
        // ceil(hi) − 1.
        let shift = [-(lo[0].floor() + 1.0), -(lo[1].floor() + 1.0)];
        let size = [
            (hi[0] + shift[0] - 1e-9).ceil() as i64,
            (hi[1] + shift[1] - 1e-9).ceil() as i64,
        ];
        if size
            .iter()
            .any(|&s| s < 1 || s > i64::from(MAX_CANVAS_SIDE))
        {
            return Err(Error::InvalidParams(format!(
                "stitched canvas {}x{} is too large (at most {} per side)",
                size[0], size[1], MAX_CANVAS_SIDE
            )));
        }
        let stations = stations
            .into_iter()
            .map(|mut p| {
                p.offset = [p.offset[0] + shift[0], p.offset[1] + shift[1]];
                p
            })
            .collect();
        Ok((
            Layout {
                canvas: [size[0] as u32, size[1] as u32],
                stations,
            },
            shift,
        ))
    }

    /// For each station after the first, the earlier station it overlaps most (its registration and
    /// compensation neighbour); [`StitchError::NoOverlap`] names a station that overlaps none.
    pub fn neighbours(&self, names: &[String]) -> Result<Vec<Option<usize>>> {
        let mut out = vec![None];
        for i in 1..self.stations.len() {
            let best = (0..i)
                .filter_map(|j| {
                    overlap(&self.stations[j], &self.stations[i])
                        .map(|r| (j, (r[2] - r[0]) * (r[3] - r[1])))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(j, _)| j);
            if best.is_none() {
                let p = &self.stations[i];
                return Err(StitchError::NoOverlap {
                    station: names
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| format!("station {i}")),
                    x: p.offset[0],
                    y: p.offset[1],
                }
                .into());
            }
            out.push(best);
        }
        Ok(out)
    }
}

/// Parses `--offsets "X1,Y1;X2,Y2;..."` (top-left canvas positions in output pixels).
pub fn parse_offsets(text: &str) -> Result<Vec<[f64; 2]>> {
    text.split(';')
        .filter(|s| !s.trim().is_empty())
        .map(|pair| {
            let v: Vec<&str> = pair.split(',').map(str::trim).collect();
            let num = |s: &str| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        Error::InvalidParams(format!(
                            "--offsets: '{s}' is not a finite number (in '{text}')"
                        ))
                    })
            };
            match v[..] {
                [x, y] => Ok([num(x)?, num(y)?]),
                _ => Err(Error::InvalidParams(format!(
                    "--offsets takes X,Y pairs separated by ';', got '{pair}' in '{text}'"
                ))),
            }
        })
        .collect()
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Row and column direction cosines of a geometry's orientation.
fn directions(g: &Geometry) -> Option<([f64; 3], [f64; 3])> {
    let o = g.image_orientation?;
    Some(([o[0], o[1], o[2]], [o[3], o[4], o[5]]))
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Direction cosines written as decimal strings are rarely exact; this much is allowed.
const ORIENTATION_TOLERANCE: f64 = 1e-2;

/// Checks that every station's Image Orientation (Patient) is two perpendicular unit vectors and
/// that all stations lie in the first station's plane (normals within about 1°): an all-zero
/// orientation, or a lateral view among AP stations, cannot be placed by projecting on the first
/// station's axes.
pub fn check_orientations(stations: &[Station]) -> Result<()> {
    let mut first_normal = None;
    for s in stations {
        let Some((r, c)) = directions(&s.image.geometry) else {
            continue;
        };
        let bad = |why: String| -> crate::Error {
            StitchError::BadOrientation {
                station: s.name.clone(),
                why,
            }
            .into()
        };
        let (lr, lc) = (dot(r, r).sqrt(), dot(c, c).sqrt());
        if (lr - 1.0).abs() > ORIENTATION_TOLERANCE || (lc - 1.0).abs() > ORIENTATION_TOLERANCE {
            return Err(bad(format!(
                "has direction cosines of length {lr:.3} and {lc:.3}, not 1"
            )));
        }
        if dot(r, c).abs() > ORIENTATION_TOLERANCE {
            return Err(bad(format!(
                "has row and column directions {:.1}° apart, not 90°",
                dot(r, c).clamp(-1.0, 1.0).acos().to_degrees()
            )));
        }
        let n = cross(r, c);
        match first_normal {
            None => first_normal = Some(n),
            Some(n0) if dot(n, n0).abs() < (1.0f64).to_radians().cos() => {
                return Err(bad(format!(
                    "puts the image plane {:.1}° from the first station's",
                    dot(n, n0).abs().clamp(0.0, 1.0).acos().to_degrees()
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// True when the geometry can place the station (position, orientation and spacing present).
pub fn has_geometry(g: &Geometry) -> bool {
    g.image_position.is_some()
        && g.image_orientation.is_some()
        && g.pixel_spacing.is_some_and(|s| s[0] > 0.0 && s[1] > 0.0)
}

/// Each station's in-plane rotation relative to the first, from Image Orientation (Patient); 0 when a
/// station (or the first) has none.
pub fn angles_from_geometry(images: &[&HostImage]) -> Vec<f64> {
    let first = images.first().and_then(|i| directions(&i.geometry));
    images
        .iter()
        .map(|img| match (first, directions(&img.geometry)) {
            (Some((r0, c0)), Some((r, _))) => dot(r, c0).atan2(dot(r, r0)),
            _ => 0.0,
        })
        .collect()
}

/// Placements from DICOM geometry (all stations already at the spacing of the first).
pub fn placements_from_geometry(stations: &[Station]) -> Result<Vec<Placement>> {
    for s in stations {
        if !has_geometry(&s.image.geometry) {
            let g = &s.image.geometry;
            let missing: Vec<&str> = [
                (g.image_position.is_none(), "Image Position (Patient)"),
                (g.image_orientation.is_none(), "Image Orientation (Patient)"),
                (
                    g.pixel_spacing.is_none(),
                    "Pixel Spacing (absent, zero or negative)",
                ),
            ]
            .into_iter()
            .filter_map(|(gone, name)| gone.then_some(name))
            .collect();
            return Err(StitchError::NoPlacement {
                station: s.name.clone(),
                missing: missing.join(", "),
            }
            .into());
        }
    }
    check_orientations(stations)?;
    let g0 = &stations[0].image.geometry;
    let (r0, c0) = directions(g0).unwrap_or(([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]));
    let p0 = g0.image_position.unwrap_or_default();
    let [row_sp, col_sp] = g0.pixel_spacing.unwrap_or([1.0, 1.0]);
    let images: Vec<&HostImage> = stations.iter().map(|s| &s.image).collect();
    let angles = angles_from_geometry(&images);
    Ok(stations
        .iter()
        .zip(angles)
        .map(|(s, angle)| {
            let p = s.image.geometry.image_position.unwrap_or_default();
            let d = [p[0] - p0[0], p[1] - p0[1], p[2] - p0[2]];
            // Canvas position of the station's pixel (0, 0).
            let origin = [dot(d, r0) / col_sp, dot(d, c0) / row_sp];
            let mut place = Placement {
                offset: [0.0, 0.0],
                angle,
                width: s.image.width,
                height: s.image.height,
            };
            let at = place.to_canvas([0.0, 0.0]);
            place.offset = [origin[0] - at[0], origin[1] - at[1]];
            place
        })
        .collect())
}

/// The pixel spacing every station is brought to: the first station's, when every station has one.
pub fn common_spacing(stations: &[Station]) -> Option<[f64; 2]> {
    let spacings: Option<Vec<[f64; 2]>> = stations
        .iter()
        .map(|s| {
            s.image
                .geometry
                .pixel_spacing
                .filter(|v| v[0] > 0.0 && v[1] > 0.0)
        })
        .collect();
    spacings.and_then(|v| v.first().copied())
}

/// The size a station of `size` at `spacing` has at `target` spacing, when it differs by more than
/// 0.1 %; `None` when no resampling is needed.
pub fn resampled_size(size: [u32; 2], spacing: [f64; 2], target: [f64; 2]) -> Option<[u32; 2]> {
    let fx = spacing[1] / target[1];
    let fy = spacing[0] / target[0];
    if (fx - 1.0).abs() < 1e-3 && (fy - 1.0).abs() < 1e-3 {
        return None;
    }
    Some([
        ((f64::from(size[0]) * fx).round() as u32).max(1),
        ((f64::from(size[1]) * fy).round() as u32).max(1),
    ])
}

/// The output canvas's geometry: the common spacing, the first station's orientation, and the patient
/// position of canvas pixel (0, 0) (the first station is unrotated on the canvas by definition).
pub fn canvas_geometry(first: &Geometry, first_placement: &Placement) -> Geometry {
    let mut g = Geometry {
        pixel_spacing: first.pixel_spacing,
        image_position: None,
        image_orientation: first.image_orientation,
    };
    if let (Some(p0), Some((r0, c0)), Some([row_sp, col_sp])) =
        (first.image_position, directions(first), first.pixel_spacing)
    {
        let o = first_placement.to_station([0.0, 0.0]);
        g.image_position = Some([
            p0[0] + o[0] * col_sp * r0[0] + o[1] * row_sp * c0[0],
            p0[1] + o[0] * col_sp * r0[1] + o[1] * row_sp * c0[1],
            p0[2] + o[0] * col_sp * r0[2] + o[1] * row_sp * c0[2],
        ]);
    }
    g
}

/// The largest factor between a station's pixel spacing and the first station's: stations of one
/// acquisition differ by a detector's magnification (a few percent), never by this much.
pub const MAX_SPACING_RATIO: f64 = 8.0;

/// Refuses inputs that cannot be stitched together.
pub fn check_stations(stations: &[Station]) -> Result<()> {
    if stations.len() < 2 {
        return Err(StitchError::TooFewStations(stations.len()).into());
    }
    if stations.len() > MAX_STATIONS {
        return Err(StitchError::TooManyStations {
            count: stations.len(),
            limit: MAX_STATIONS,
        }
        .into());
    }
    let first = &stations[0];
    for s in &stations[1..] {
        if let (Some(a), Some(b)) = (&first.modality, &s.modality)
            && a.trim() != b.trim()
        {
            return Err(StitchError::MixedModality {
                first: first.name.clone(),
                a: a.clone(),
                other: s.name.clone(),
                b: b.clone(),
            }
            .into());
        }
        if let (Some(a), Some(b)) = (&first.photometric, &s.photometric)
            && a.trim() != b.trim()
        {
            return Err(StitchError::MixedPhotometric {
                first: first.name.clone(),
                a: a.clone(),
                other: s.name.clone(),
                b: b.clone(),
            }
            .into());
        }
        if let (Some(a), Some(b)) = (
            first.image.geometry.pixel_spacing,
            s.image.geometry.pixel_spacing,
        ) && a.iter().chain(&b).all(|v| *v > 0.0)
        {
            let ratio = (0..2)
                .map(|i| b[i] / a[i])
                .max_by(|x, y| x.max(1.0 / x).total_cmp(&y.max(1.0 / y)))
                .unwrap_or(1.0);
            if !(1.0 / MAX_SPACING_RATIO..=MAX_SPACING_RATIO).contains(&ratio) {
                return Err(StitchError::MismatchedSpacing {
                    first: first.name.clone(),
                    a,
                    other: s.name.clone(),
                    b,
                    ratio,
                    limit: MAX_SPACING_RATIO,
                }
                .into());
            }
        }
        if first.image.format() != s.image.format() {
            return Err(StitchError::MixedFormat {
                first: first.name.clone(),
                a: first.image.format().to_string(),
                other: s.name.clone(),
                b: s.image.format().to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// Brings every station to the first station's pixel spacing (bilinear resize on the GPU).
pub fn common_spacing_stations(
    engine: &Engine,
    stations: &[Station],
    warnings: &mut Vec<String>,
) -> Result<Vec<Station>> {
    let Some(target) = common_spacing(stations) else {
        return Ok(stations.to_vec());
    };
    stations
        .iter()
        .map(|s| {
            let spacing = s.image.geometry.pixel_spacing.unwrap_or(target);
            match resampled_size([s.image.width, s.image.height], spacing, target) {
                None => Ok(s.clone()),
                Some([w, h]) => {
                    warnings.push(format!(
                        "{}: resampled from {}x{} at {:?} mm to {w}x{h} at {:?} mm",
                        s.name, s.image.width, s.image.height, spacing, target
                    ));
                    let mut image = resize_image(engine, &s.image, &ResizeParams::new(w, h))?;
                    let mut g = image.geometry.clone();
                    g.pixel_spacing = Some(target);
                    image.geometry = g;
                    Ok(Station { image, ..s.clone() })
                }
            }
        })
        .collect()
}

/// Brings the stations to one spacing and places them at their nominal offsets (`--offsets` or the
/// DICOM geometry), normalised so the canvas starts at pixel 0; the stations as resampled, the
/// layout and each station's neighbour.
pub fn nominal_layout(
    engine: &Engine,
    stations: &[Station],
    offsets: Option<&[[f64; 2]]>,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Station>, Layout, Vec<Option<usize>>)> {
    let names: Vec<String> = stations.iter().map(|s| s.name.clone()).collect();
    let stations = common_spacing_stations(engine, stations, warnings)?;
    let placements: Vec<Placement> = match offsets {
        Some(offsets) => {
            if offsets.len() != stations.len() {
                return Err(StitchError::OffsetCount {
                    given: offsets.len(),
                    stations: stations.len(),
                }
                .into());
            }
            let images: Vec<&HostImage> = stations.iter().map(|s| &s.image).collect();
            let angles = angles_from_geometry(&images);
            offsets
                .iter()
                .zip(&stations)
                .zip(angles)
                .map(|((o, s), angle)| Placement {
                    offset: *o,
                    angle,
                    width: s.image.width,
                    height: s.image.height,
                })
                .collect()
        }
        None => placements_from_geometry(&stations)?,
    };
    let (layout, _) = Layout::normalised(placements)?;
    let neighbours = layout.neighbours(&names)?;
    Ok((stations, layout, neighbours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_station_with_an_absurd_spacing_is_the_one_named() {
        let station = |name: &str, spacing: [f64; 2]| {
            let mut image = HostImage::new(8, 8, crate::Pixels::U16(vec![0; 64])).expect("image");
            image.geometry.pixel_spacing = Some(spacing);
            Station::new(name, image)
        };
        let ok = [
            station("a", [0.4, 0.4]),
            station("b", [0.41, 0.39]),
            station("c", [0.4, 0.4]),
        ];
        assert!(check_stations(&ok).is_ok());
        for bad in [[1e-5, 1e-5], [4000.0, 4000.0], [0.4, 3.3]] {
            let v = [
                station("a", [0.4, 0.4]),
                station("b", bad),
                station("c", [0.4, 0.4]),
            ];
            let e = check_stations(&v).expect_err("refused").to_string();
            assert!(
                e.contains("b has Pixel Spacing") && e.contains("(a:"),
                "{e}"
            );
        }
    }

    #[test]
    fn canvas_map_inverts_station_map() {
        let p = Placement {
            offset: [10.25, -3.5],
            angle: 0.01,
            width: 40,
            height: 30,
        };
        for s in [[0.0, 0.0], [39.0, 29.0], [12.5, 7.25]] {
            let back = p.to_station(p.to_canvas(s));
            assert!((back[0] - s[0]).abs() < 1e-9 && (back[1] - s[1]).abs() < 1e-9);
        }
        let q = Placement::new([3.0, 4.0], 10, 10);
        assert_eq!(q.to_canvas([0.0, 0.0]), [3.0, 4.0]);
    }

    #[test]
    fn normalised_canvas_holds_every_station() {
        let a = Placement::new([0.0, 0.0], 100, 80);
        let b = Placement::new([5.0, 60.0], 100, 80);
        let (l, shift) = Layout::normalised(vec![a, b]).expect("layout");
        assert_eq!(shift, [0.0, 0.0]);
        assert_eq!(l.canvas, [105, 140]);
        let (l2, shift2) =
            Layout::normalised(vec![Placement::new([-7.5, 2.0], 10, 10), a]).expect("layout");
        assert_eq!(shift2, [7.0, 0.0]);
        assert_eq!(l2.stations[0].offset, [-0.5, 2.0]);
    }

    #[test]
    fn offsets_parse_and_refuse() {
        assert_eq!(
            parse_offsets("0,0; 3.5,-120").expect("ok"),
            vec![[0.0, 0.0], [3.5, -120.0]]
        );
        assert!(parse_offsets("0,0;1").is_err());
        assert!(parse_offsets("0,x").is_err());
    }
}
