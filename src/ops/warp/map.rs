//! The destination → source map: validating and inverting the user's matrix (with short matrix text
//! for the errors), and the output geometry that follows from the map. Shared by the GPU path, the
//! tiled path and the CPU reference.

use super::{MAX_ENTRY, Mat3, Transform};
use crate::image::Geometry;
use crate::{Error, Result};

/// A validated destination → source map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DstToSrc {
    /// The matrix (for an affine transform the last row is `[0, 0, 1]`).
    pub matrix: Mat3,
    /// Whether it came from a [`Transform::Perspective`].
    pub perspective: bool,
}

fn det3(m: &Mat3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

fn invert3(m: &Mat3, det: f64) -> Mat3 {
    let d = 1.0 / det;
    [
        [
            (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * d,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * d,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * d,
        ],
        [
            (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * d,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * d,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * d,
        ],
        [
            (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * d,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * d,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * d,
        ],
    ]
}

/// OpenCV warpAffine's own inversion of a 2×3 matrix (same operations, so the same bits).
fn invert_affine(m: &Mat3) -> Mat3 {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let d = if det != 0.0 { 1.0 / det } else { 0.0 };
    let (a11, a22) = (m[1][1] * d, m[0][0] * d);
    let (m01, m10) = (m[0][1] * -d, m[1][0] * -d);
    let b1 = -a11 * m[0][2] - m01 * m[1][2];
    let b2 = -m10 * m[0][2] - a22 * m[1][2];
    [[a11, m01, b1], [m10, a22, b2], [0.0, 0.0, 1.0]]
}

pub(super) fn mul3(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut r = [[0.0; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

fn check_entries(m: &Mat3, what: &str) -> Result<()> {
    for (i, row) in m.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::InvalidParams(format!(
                    "{what} entry m{i}{j} is {v}; every entry must be a finite number"
                )));
            }
            if v.abs() > MAX_ENTRY {
                return Err(Error::InvalidParams(format!(
                    "{what} entry m{i}{j} = {v:e} is out of range (|m| ≤ {MAX_ENTRY:e}); the matrix is \
                     singular or nearly so"
                )));
            }
        }
    }
    Ok(())
}

/// Validates the transform and returns the destination → source map: finite entries, a non-singular
/// matrix (determinant ≠ 0, an inverse with entries within ±1e12 whose product with the matrix is the
/// identity within 1e-6), whichever direction it was given in.
pub fn dst_to_src(transform: &Transform, inverse: bool) -> Result<DstToSrc> {
    let m = transform.matrix();
    let perspective = matches!(transform, Transform::Perspective(_));
    check_entries(&m, "matrix")?;
    let det = if perspective {
        det3(&m)
    } else {
        m[0][0] * m[1][1] - m[0][1] * m[1][0]
    };
    if det == 0.0 || !det.is_finite() {
        return Err(Error::InvalidParams(format!(
            "matrix {} is singular (determinant {det})",
            format_matrix(transform)
        )));
    }
    let inv = if perspective {
        invert3(&m, det)
    } else {
        invert_affine(&m)
    };
    check_entries(&inv, "inverse matrix").map_err(|_| {
        Error::InvalidParams(format!(
            "matrix {} is numerically singular (determinant {det:e})",
            format_matrix(transform)
        ))
    })?;
    let product = mul3(&m, &inv);
    let residual = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .map(|(i, j)| (product[i][j] - if i == j { 1.0 } else { 0.0 }).abs())
        .fold(0.0, f64::max);
    if residual.is_nan() || residual >= 1e-6 {
        return Err(Error::InvalidParams(format!(
            "matrix {} is numerically singular (M·M⁻¹ differs from I by {residual:e})",
            format_matrix(transform)
        )));
    }
    Ok(DstToSrc {
        matrix: if inverse { m } else { inv },
        perspective,
    })
}

fn format_matrix(t: &Transform) -> String {
    let m = t.matrix();
    let rows = if matches!(t, Transform::Affine(_)) {
        2
    } else {
        3
    };
    let text: Vec<String> = m[..rows]
        .iter()
        .map(|r| format!("{},{},{}", short(r[0]), short(r[1]), short(r[2])))
        .collect();
    format!("[{}]", text.join("; "))
}

/// A matrix entry for a message: plain below 1e9, else in exponent form, so a huge entry does not
/// print as a 300-digit number.
fn short(v: f64) -> String {
    if v.is_finite() && (v == 0.0 || (1e-6..1e9).contains(&v.abs())) {
        format!("{}", (v * 1e9).round() / 1e9)
    } else {
        format!("{v:.6e}")
    }
}

/// The geometry of a warped image, given the destination → source map `map` (pixel coordinates).
///
/// The rule: a destination pixel step along a row moves `j_u = (m00·Δc, m10·Δr)` in the source's
/// physical frame (Δc, Δr the source's column and row spacing), a step down a column
/// `j_v = (m01·Δc, m11·Δr)`. When the map is affine, the source has a pixel spacing and `j_u ⟂ j_v`
/// (rotation, flip, scaling, translation — any similarity in millimetres), the output's spacing is
/// `[|j_v|, |j_u|]`, its orientation (if the source had one) is the source's turned the same way, and
/// its position moves to where destination pixel (0, 0) samples (if the source had an orientation, or
/// the map does not move pixel (0, 0)). Otherwise (shear, perspective, no source spacing) spacing,
/// position and orientation are dropped — unless the map is the identity.
pub fn warp_geometry(source: &Geometry, map: &Mat3) -> Geometry {
    let identity = *map == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    if identity {
        return source.clone();
    }
    let affine = map[2][0] == 0.0 && map[2][1] == 0.0 && map[2][2] != 0.0;
    let Some([row_mm, col_mm]) = source.pixel_spacing.filter(|_| affine) else {
        return Geometry::default();
    };
    let s = 1.0 / map[2][2];
    let a = [
        [map[0][0] * s, map[0][1] * s, map[0][2] * s],
        [map[1][0] * s, map[1][1] * s, map[1][2] * s],
    ];
    let ju = [a[0][0] * col_mm, a[1][0] * row_mm];
    let jv = [a[0][1] * col_mm, a[1][1] * row_mm];
    let (lu, lv) = (ju[0].hypot(ju[1]), jv[0].hypot(jv[1]));
    let dot = ju[0] * jv[0] + ju[1] * jv[1];
    let degenerate = lu.is_nan() || lv.is_nan() || lu <= 0.0 || lv <= 0.0;
    if degenerate || dot.abs() > 1e-9 * lu * lv {
        return Geometry::default();
    }
    let moves_origin = a[0][2] != 0.0 || a[1][2] != 0.0;
    let mut out = Geometry {
        pixel_spacing: Some([lv, lu]),
        image_position: None,
        image_orientation: None,
    };
    match source.image_orientation {
        Some(o) => {
            let (r, c) = ([o[0], o[1], o[2]], [o[3], o[4], o[5]]);
            let dir = |j: [f64; 2], len: f64| -> [f64; 3] {
                std::array::from_fn(|k| (j[0] * r[k] + j[1] * c[k]) / len)
            };
            let (nr, nc) = (dir(ju, lu), dir(jv, lv));
            out.image_orientation = Some([nr[0], nr[1], nr[2], nc[0], nc[1], nc[2]]);
            out.image_position = source.image_position.map(|p| {
                std::array::from_fn(|k| p[k] + a[0][2] * col_mm * r[k] + a[1][2] * row_mm * c[k])
            });
        }
        None => {
            out.image_position = source.image_position.filter(|_| !moves_origin);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::warp::rotation_matrix;

    #[test]
    fn matrices_in_messages_stay_short() {
        let t = Transform::Affine([[1e300, 2e300, 0.5], [1.0 / 3.0, 4e-12, 0.0]]);
        let text = format_matrix(&t);
        assert!(text.len() < 120, "{text}");
        assert!(
            text.contains("1.000000e300") && text.contains("0.333333333"),
            "{text}"
        );
    }

    #[test]
    fn singular_and_non_finite_matrices_are_refused() {
        let singular = Transform::Affine([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]]);
        assert!(matches!(
            dst_to_src(&singular, false),
            Err(Error::InvalidParams(_))
        ));
        let nan = Transform::Affine([[1.0, f64::NAN, 0.0], [0.0, 1.0, 0.0]]);
        assert!(dst_to_src(&nan, true).is_err());
        let flat = Transform::Perspective([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]);
        assert!(dst_to_src(&flat, false).is_err());
        let near = Transform::Affine([[1.0, 1.0, 0.0], [1.0, 1.0 + 1e-15, 0.0]]);
        assert!(dst_to_src(&near, false).is_err());
        let shift = Transform::Affine([[1.0, 0.0, 1e6], [0.0, 1.0, -1e6]]);
        let map = dst_to_src(&shift, false).expect("translation");
        assert_eq!(map.matrix[0][2], -1e6);
    }

    #[test]
    fn geometry_follows_rotation_and_scale() {
        let g = Geometry {
            pixel_spacing: Some([0.5, 0.5]),
            image_position: Some([10.0, 20.0, 30.0]),
            image_orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
        };
        // Forward: scale 2 about (0, 0); the inverse map halves, so the spacing halves.
        let map = dst_to_src(
            &Transform::Affine(rotation_matrix([0.0, 0.0], 0.0, 2.0)),
            false,
        )
        .expect("map");
        let out = warp_geometry(&g, &map.matrix);
        assert_eq!(out.pixel_spacing, Some([0.25, 0.25]));
        assert_eq!(out.image_position, Some([10.0, 20.0, 30.0]));
        // 90° turn: the new row direction is the old column direction reversed or not, unit length.
        let map = dst_to_src(
            &Transform::Affine(rotation_matrix([4.0, 4.0], 90.0, 1.0)),
            false,
        )
        .expect("map");
        let out = warp_geometry(&g, &map.matrix);
        let o = out.image_orientation.expect("orientation");
        assert!(
            (o[0].abs() + o[1].abs() - 1.0).abs() < 1e-12 && o[0].abs() < 1e-12,
            "{o:?}"
        );
        // Shear: no spacing describes it.
        let shear =
            dst_to_src(&Transform::Affine([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0]]), true).expect("map");
        assert_eq!(warp_geometry(&g, &shear.matrix), Geometry::default());
    }
}
