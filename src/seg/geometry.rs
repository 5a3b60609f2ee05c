//! From a segmentation mask to the scan-plane angle, as the original auto-positioning system did: keep
//! the largest connected component, fit a minimum-area oriented box and a least-squares line to it,
//! and average the two angles.
//!
//! Conventions (pixels): image coordinates with x to the right and y down, a pixel's centre at
//! integer coordinates; an angle is measured from +x toward +y (clockwise on screen) in degrees and
//! folded into (−90, 90], because a box's long axis and a line have no direction. The box is the
//! smallest rectangle around the component's pixels taken as unit squares (so a 40×10 block of pixels
//! gives a 40×10 box), found with rotating calipers over the convex hull of the pixel corners; `size`
//! is `[long side, short side]` and its angle is the long side's. The line is the principal axis of
//! the pixel centres (total least squares), through their centroid. The final angle is the mean of
//! the two, taken on the shorter way round the 180° circle of axis directions.
//!
//! When the pixel spacing is known the same fit is repeated in millimetres (x scaled by the column
//! spacing, y by the row spacing), so anisotropic pixels give the physically right angle, and with the
//! image position and orientation the centre and axis are also given in patient coordinates.

use crate::image::{Geometry, HostImage};

/// 8-connected components of the non-zero pixels of a mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Pixel coordinates `(x, y)`, in raster order.
    pub pixels: Vec<(u32, u32)>,
}

/// The largest 8-connected component of the non-zero pixels (the first in raster order on a tie), or
/// `None` for an empty mask (or one whose length is not `width × height`).
pub fn largest_component(width: u32, height: u32, mask: &[u8]) -> Option<Component> {
    let (w, h) = (width as usize, height as usize);
    if mask.len() != w * h {
        return None;
    }
    let mut label = vec![0u32; w * h];
    let mut best: Option<(usize, u32)> = None;
    let mut next = 1u32;
    let mut stack = Vec::new();
    for start in 0..w * h {
        if mask[start] == 0 || label[start] != 0 {
            continue;
        }
        let id = next;
        next += 1;
        label[start] = id;
        stack.push(start);
        let mut count = 0usize;
        while let Some(i) = stack.pop() {
            count += 1;
            let (x, y) = (i % w, i / w);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] != 0 && label[j] == 0 {
                        label[j] = id;
                        stack.push(j);
                    }
                }
            }
        }
        if best.is_none_or(|(c, _)| count > c) {
            best = Some((count, id));
        }
    }
    let (_, id) = best?;
    let pixels = label
        .iter()
        .enumerate()
        .filter(|&(_, &l)| l == id)
        .map(|(i, _)| ((i % w) as u32, (i / w) as u32))
        .collect();
    Some(Component { pixels })
}

/// A minimum-area oriented rectangle.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct OrientedBox {
    /// Centre `[x, y]`.
    pub center: [f64; 2],
    /// `[long side, short side]`.
    pub size: [f64; 2],
    /// Angle of the long side, degrees in (−90, 90].
    pub angle_deg: f64,
}

/// A fitted line (principal axis).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Line {
    /// A point on the line: the centroid `[x, y]`.
    pub center: [f64; 2],
    /// Direction, degrees in (−90, 90].
    pub angle_deg: f64,
}

/// Box, line and final angle of one component, in one coordinate frame (pixels or millimetres).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Fit {
    /// Minimum-area oriented box.
    #[serde(rename = "box")]
    pub bbox: OrientedBox,
    /// Least-squares line; `None` when the pixels have no preferred direction (one pixel, or an
    /// isotropic spread).
    pub line: Option<Line>,
    /// Mean of the box and line angles, degrees in (−90, 90]; `None` without a line.
    pub angle_deg: Option<f64>,
}

/// Folds an axis angle (degrees) into (−90, 90].
pub fn fold_axis_angle(deg: f64) -> f64 {
    let mut a = deg.rem_euclid(180.0); // [0, 180)
    if a > 90.0 {
        a -= 180.0;
    }
    a
}

/// Mean of two axis angles on the 180° circle (the shorter way round), folded into (−90, 90].
pub fn mean_axis_angle(a: f64, b: f64) -> f64 {
    let (a, b) = (fold_axis_angle(a), fold_axis_angle(b));
    let mut d = b - a;
    if d > 90.0 {
        d -= 180.0;
    } else if d <= -90.0 {
        d += 180.0;
    }
    fold_axis_angle(a + d / 2.0)
}

fn cross(o: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Convex hull (Andrew's monotone chain), counter-clockwise in a y-up sense, no collinear points.
pub fn convex_hull(mut points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    points.dedup();
    if points.len() < 3 {
        return points;
    }
    let mut lower: Vec<(f64, f64)> = Vec::new();
    for &p in &points {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], p) <= 0.0 {
            lower.pop();
        }
        lower.push(p);
    }
    let mut upper: Vec<(f64, f64)> = Vec::new();
    for &p in points.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], p) <= 0.0 {
            upper.pop();
        }
        upper.push(p);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// Minimum-area rectangle around a convex polygon (rotating calipers: one side of the optimum lies
/// on a hull edge, so every edge direction is tried).
pub fn min_area_rect(hull: &[(f64, f64)]) -> OrientedBox {
    if hull.is_empty() {
        return OrientedBox {
            center: [0.0, 0.0],
            size: [0.0, 0.0],
            angle_deg: 0.0,
        };
    }
    let mut best: Option<(f64, (f64, f64), [f64; 4])> = None;
    let n = hull.len();
    let directions: Vec<(f64, f64)> = if n < 2 {
        vec![(1.0, 0.0)]
    } else {
        (0..n)
            .filter_map(|i| {
                let (a, b) = (hull[i], hull[(i + 1) % n]);
                let (dx, dy) = (b.0 - a.0, b.1 - a.1);
                let len = dx.hypot(dy);
                (len > 0.0).then(|| (dx / len, dy / len))
            })
            .collect()
    };
    for u in directions {
        let v = (-u.1, u.0);
        let (mut u0, mut u1, mut v0, mut v1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in hull {
            let pu = p.0 * u.0 + p.1 * u.1;
            let pv = p.0 * v.0 + p.1 * v.1;
            u0 = u0.min(pu);
            u1 = u1.max(pu);
            v0 = v0.min(pv);
            v1 = v1.max(pv);
        }
        let area = (u1 - u0) * (v1 - v0);
        if best.is_none_or(|(a, _, _)| area < a - 1e-9 * a.abs().max(1.0)) {
            best = Some((area, u, [u0, u1, v0, v1]));
        }
    }
    let Some((_, u, [u0, u1, v0, v1])) = best else {
        return OrientedBox {
            center: [hull[0].0, hull[0].1],
            size: [0.0, 0.0],
            angle_deg: 0.0,
        };
    };
    let v = (-u.1, u.0);
    let (cu, cv) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
    let center = [cu * u.0 + cv * v.0, cu * u.1 + cv * v.1];
    let (lu, lv) = (u1 - u0, v1 - v0);
    let (long, short, dir) = if lu >= lv { (lu, lv, u) } else { (lv, lu, v) };
    OrientedBox {
        center,
        size: [long, short],
        angle_deg: fold_axis_angle(dir.1.atan2(dir.0).to_degrees()),
    }
}

/// Principal axis of points (total least squares); `None` for fewer than two points or an
/// isotropic spread.
pub fn fit_line(points: &[(f64, f64)]) -> Option<Line> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (mx, my) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
    let (mx, my) = (mx / n, my / n);
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for p in points {
        let (dx, dy) = (p.0 - mx, p.1 - my);
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    let spread = sxx + syy;
    // Eigenvalue gap relative to the total spread: zero when the points have no main direction.
    let gap = ((sxx - syy).powi(2) + 4.0 * sxy * sxy).sqrt();
    if spread <= 0.0 || gap <= 1e-12 * spread {
        return None;
    }
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    Some(Line {
        center: [mx, my],
        angle_deg: fold_axis_angle(angle.to_degrees()),
    })
}

/// Box + line + final angle of a component, with x scaled by `sx` and y by `sy` (1, 1 for pixels;
/// the column and row spacing for millimetres).
pub fn fit_component(component: &Component, sx: f64, sy: f64) -> Option<Fit> {
    if component.pixels.is_empty() {
        return None;
    }
    // Hull of the pixel squares: per row only the outermost pixels' corners can be on it.
    let mut rows: std::collections::BTreeMap<u32, (u32, u32)> = std::collections::BTreeMap::new();
    for &(x, y) in &component.pixels {
        let e = rows.entry(y).or_insert((x, x));
        e.0 = e.0.min(x);
        e.1 = e.1.max(x);
    }
    let mut corners = Vec::with_capacity(rows.len() * 4);
    for (&y, &(x0, x1)) in &rows {
        let (top, bottom) = ((f64::from(y) - 0.5) * sy, (f64::from(y) + 0.5) * sy);
        let (left, right) = ((f64::from(x0) - 0.5) * sx, (f64::from(x1) + 0.5) * sx);
        corners.extend([(left, top), (left, bottom), (right, top), (right, bottom)]);
    }
    let bbox = min_area_rect(&convex_hull(corners));
    let centres: Vec<(f64, f64)> = component
        .pixels
        .iter()
        .map(|&(x, y)| (f64::from(x) * sx, f64::from(y) * sy))
        .collect();
    let line = fit_line(&centres);
    let angle_deg = line.map(|l| mean_axis_angle(bbox.angle_deg, l.angle_deg));
    Some(Fit {
        bbox,
        line,
        angle_deg,
    })
}

/// The fit in patient coordinates (DICOM C.7.6.2): centre and in-plane axis as 3-D points/vectors.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PatientAxis {
    /// Box centre in patient coordinates (mm).
    pub box_center: [f64; 3],
    /// Line centre in patient coordinates (mm), when there is a line.
    pub line_center: Option<[f64; 3]>,
    /// Unit vector of the final angle's axis in patient coordinates, when there is an angle.
    pub direction: Option<[f64; 3]>,
}

/// What was measured on one mask.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MaskMeasurement {
    /// Pixels in the largest component (0 for an empty mask).
    pub area_px: usize,
    /// Pixels in the whole mask (all components).
    pub mask_px: usize,
    /// The fit in pixels; `None` for an empty mask.
    pub pixels: Option<Fit>,
    /// The fit in millimetres (x = column spacing, y = row spacing; origin at the first pixel's
    /// centre) when the pixel spacing is known.
    pub mm: Option<Fit>,
    /// Area of the largest component in mm² when the pixel spacing is known.
    pub area_mm2: Option<f64>,
    /// Centre and axis in patient coordinates when position and orientation are known too.
    pub patient: Option<PatientAxis>,
}

fn patient_point(g: &Geometry, x_mm: f64, y_mm: f64) -> Option<[f64; 3]> {
    let (p, o) = (g.image_position?, g.image_orientation?);
    Some([
        p[0] + x_mm * o[0] + y_mm * o[3],
        p[1] + x_mm * o[1] + y_mm * o[4],
        p[2] + x_mm * o[2] + y_mm * o[5],
    ])
}

/// Measures a u8 mask (non-zero = foreground) with its geometry.
pub fn measure_mask(width: u32, height: u32, mask: &[u8], geometry: &Geometry) -> MaskMeasurement {
    let mask_px = mask.iter().filter(|&&v| v != 0).count();
    let Some(component) = largest_component(width, height, mask) else {
        return MaskMeasurement {
            area_px: 0,
            mask_px,
            pixels: None,
            mm: None,
            area_mm2: None,
            patient: None,
        };
    };
    let pixels = fit_component(&component, 1.0, 1.0);
    let spacing = geometry
        .pixel_spacing
        .filter(|s| s.iter().all(|v| v.is_finite() && *v > 0.0));
    let mm = spacing.and_then(|[row, col]| fit_component(&component, col, row));
    let area_mm2 = spacing.map(|[row, col]| component.pixels.len() as f64 * row * col);
    let patient = mm.and_then(|fit| {
        let box_center = patient_point(geometry, fit.bbox.center[0], fit.bbox.center[1])?;
        let line_center = fit
            .line
            .and_then(|l| patient_point(geometry, l.center[0], l.center[1]));
        let direction = fit.angle_deg.and_then(|a| {
            let (s, c) = a.to_radians().sin_cos();
            let o = geometry.image_orientation?;
            Some([
                c * o[0] + s * o[3],
                c * o[1] + s * o[4],
                c * o[2] + s * o[5],
            ])
        });
        Some(PatientAxis {
            box_center,
            line_center,
            direction,
        })
    });
    MaskMeasurement {
        area_px: component.pixels.len(),
        mask_px,
        pixels,
        mm,
        area_mm2,
        patient,
    }
}

/// [`measure_mask`] of a u8 mask image.
pub fn measure(mask: &HostImage) -> crate::Result<MaskMeasurement> {
    let crate::image::Pixels::U8(values) = &mask.pixels else {
        return Err(crate::Error::InvalidImage(format!(
            "a mask is u8, not {}",
            mask.format()
        )));
    };
    Ok(measure_mask(
        mask.width,
        mask.height,
        values,
        &mask.geometry,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_angles_fold_and_average_across_the_wrap() {
        assert_eq!(fold_axis_angle(90.0), 90.0);
        assert_eq!(fold_axis_angle(-90.0), 90.0);
        assert_eq!(fold_axis_angle(100.0), -80.0);
        assert_eq!(fold_axis_angle(-180.0), 0.0);
        assert!((mean_axis_angle(89.0, -89.0) - 90.0).abs() < 1e-12);
        assert!((mean_axis_angle(-88.0, 86.0) - (-91.0f64 + 180.0)).abs() < 1e-12);
        assert!((mean_axis_angle(10.0, 20.0) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn an_axis_aligned_block_gives_its_pixel_size() {
        let (w, h) = (50u32, 30u32);
        let mut mask = vec![0u8; (w * h) as usize];
        for y in 10..20 {
            for x in 5..45 {
                mask[(y * w + x) as usize] = 255;
            }
        }
        let m = measure_mask(w, h, &mask, &Geometry::default());
        let fit = m.pixels.expect("fit");
        assert_eq!(m.area_px, 400);
        assert!((fit.bbox.size[0] - 40.0).abs() < 1e-9 && (fit.bbox.size[1] - 10.0).abs() < 1e-9);
        assert!(
            (fit.bbox.center[0] - 24.5).abs() < 1e-9 && (fit.bbox.center[1] - 14.5).abs() < 1e-9
        );
        assert!(fit.bbox.angle_deg.abs() < 1e-9);
        assert!(fit.angle_deg.expect("angle").abs() < 1e-9);
    }
}
