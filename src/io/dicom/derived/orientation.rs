//! Patient Orientation (0020,0020) of a derived image: which patient directions its rows and columns
//! run along (PS3.3 C.7.6.1.1.1), so a viewer can label the sides and hang it the right way up.
//!
//! The source's Patient Orientation only holds for the output if the operation kept the pixel axes, so
//! the writer is told how the output's axes lie in the first source's pixel grid ([`Axes`]): a resize,
//! crop or stitch keeps them, a flip or 90° turn swaps or reverses them, a rotation turns them — the
//! output then gets the source letters of the axis each of its directions mostly follows (the
//! principal letter; PS3.3 makes the oblique refinement letters optional). Without a source
//! orientation, the letters come from the output's Image Orientation (Patient); without either the
//! orientation is unknown, which Secondary Capture writes as an empty value and the DX IOD (Type 1)
//! cannot hold.

/// How the output's pixel grid lies in the first source's: the source-pixel displacement `[dx, dy]`
/// of one step along an output row (column index + 1) and of one step down an output column (row
/// index + 1). Only directions matter, not lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axes {
    /// Source-pixel `[dx, dy]` of one step along an output row.
    pub row: [f64; 2],
    /// Source-pixel `[dx, dy]` of one step down an output column.
    pub column: [f64; 2],
}

impl Axes {
    /// The output's rows and columns run along the source's (window, resize, crop at 0°, stitch).
    pub const SAME: Axes = Axes {
        row: [1.0, 0.0],
        column: [0.0, 1.0],
    };

    /// The axes after an affine map with linear part `[[m00, m01], [m10, m11]]`: `dst_to_src` when
    /// the matrix maps output to source pixels (OpenCV's `WARP_INVERSE_MAP`), else source to output.
    /// `None` for a singular or non-finite matrix.
    pub fn from_affine(m: [[f64; 2]; 2], dst_to_src: bool) -> Option<Axes> {
        let [[a, b], [c, d]] = m;
        let det = a * d - b * c;
        if !(det.is_finite() && det != 0.0 && [a, b, c, d].iter().all(|v| v.is_finite())) {
            return None;
        }
        Some(if dst_to_src {
            Axes {
                row: [a, c],
                column: [b, d],
            }
        } else {
            // The inverse's columns, up to the positive factor |det|.
            let s = det.signum();
            Axes {
                row: [s * d, -s * c],
                column: [-s * b, s * a],
            }
        })
    }

    /// These axes followed by `next` (the axes of a later step's output in this step's output).
    pub fn then(self, next: Axes) -> Axes {
        let along = |d: [f64; 2]| {
            [
                d[0] * self.row[0] + d[1] * self.column[0],
                d[0] * self.row[1] + d[1] * self.column[1],
            ]
        };
        Axes {
            row: along(next.row),
            column: along(next.column),
        }
    }
}

/// The Patient Orientation value (`ROW\COLUMN`) of the output: from the source's value mapped through
/// `axes`, else from the output's Image Orientation (Patient); `None` when neither is known.
pub(super) fn patient_orientation(
    source: Option<&str>,
    axes: Option<Axes>,
    orientation: Option<[f64; 6]>,
) -> Option<String> {
    if let (Some(text), Some(axes)) = (source, axes)
        && let Some(mapped) = mapped(text, axes)
    {
        return Some(mapped);
    }
    let o = orientation.filter(|o| o.iter().all(|v| v.is_finite()))?;
    let row = cosine_letters([o[0], o[1], o[2]])?;
    let column = cosine_letters([o[3], o[4], o[5]])?;
    Some(format!("{row}\\{column}"))
}

/// `ROW\COLUMN` of the source mapped through `axes`.
fn mapped(text: &str, axes: Axes) -> Option<String> {
    let (row, column) = text.split_once('\\')?;
    let valid = |v: &str| !v.is_empty() && v.len() <= 3 && v.chars().all(|c| opposite(c).is_some());
    if !valid(row) || !valid(column) {
        return None;
    }
    // Which source axis (0 = along rows, 1 = down columns) and sign each output direction follows;
    // ties go to the axis of the same name, so 45° still gives two different axes.
    let pick = |d: [f64; 2], prefer: usize| -> Option<(usize, bool)> {
        let (dx, dy) = (d[0].abs(), d[1].abs());
        if !(d[0].is_finite() && d[1].is_finite()) || dx.max(dy) == 0.0 {
            return None;
        }
        let axis = if dx > dy || (dx == dy && prefer == 0) {
            0
        } else {
            1
        };
        Some((axis, d[axis] > 0.0))
    };
    let (r_axis, r_pos) = pick(axes.row, 0)?;
    let (c_axis, c_pos) = pick(axes.column, 1)?;
    if r_axis == c_axis {
        return None;
    }
    let letters = |axis: usize, positive: bool| -> Option<String> {
        let src = if axis == 0 { row } else { column };
        if positive {
            Some(src.to_string())
        } else {
            src.chars().map(opposite).collect()
        }
    };
    Some(format!(
        "{}\\{}",
        letters(r_axis, r_pos)?,
        letters(c_axis, c_pos)?
    ))
}

/// The opposite patient direction letter (PS3.3 C.7.6.1.1.1), `None` for anything else.
fn opposite(c: char) -> Option<char> {
    Some(match c {
        'L' => 'R',
        'R' => 'L',
        'A' => 'P',
        'P' => 'A',
        'H' => 'F',
        'F' => 'H',
        _ => return None,
    })
}

/// Letters of a patient-space direction cosine (x → L, y → P, z → H; negative the opposite), the
/// principal direction first, then the other components larger than 0.001 (about 0.06°).
fn cosine_letters(v: [f64; 3]) -> Option<String> {
    let mut parts: Vec<(f64, char)> = v
        .iter()
        .zip(['L', 'P', 'H'])
        .filter(|(c, _)| c.abs() > 1e-3)
        .map(|(&c, letter)| {
            let letter = if c > 0.0 {
                letter
            } else {
                opposite(letter).unwrap_or(letter)
            };
            (c.abs(), letter)
        })
        .collect();
    parts.sort_by(|a, b| b.0.total_cmp(&a.0));
    let text: String = parts.iter().map(|&(_, l)| l).collect();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rot(deg: f64) -> [[f64; 2]; 2] {
        let (s, c) = deg.to_radians().sin_cos();
        [[c, s], [-s, c]]
    }

    #[test]
    fn source_orientation_follows_the_axes() {
        let po = |axes| patient_orientation(Some("L\\F"), axes, None);
        assert_eq!(po(Some(Axes::SAME)).as_deref(), Some("L\\F"));
        // A small straightening rotation keeps the principal letters.
        assert_eq!(
            po(Axes::from_affine(rot(0.3), false)).as_deref(),
            Some("L\\F")
        );
        // Horizontal flip (x' = -x): rows now run towards the patient's right.
        assert_eq!(
            po(Axes::from_affine([[-1.0, 0.0], [0.0, 1.0]], false)).as_deref(),
            Some("R\\F")
        );
        // A quarter turn swaps the axes; both matrix conventions agree.
        let quarter = [[0.0, 1.0], [-1.0, 0.0]];
        let a = po(Axes::from_affine(quarter, false));
        let inverse = [[0.0, -1.0], [1.0, 0.0]];
        assert_eq!(a, po(Axes::from_affine(inverse, true)));
        assert!(matches!(a.as_deref(), Some("H\\L") | Some("F\\R")), "{a:?}");
        // A 45° turn still names two different axes.
        assert!(po(Axes::from_affine(rot(45.0), false)).is_some());
        // Unknown axes or a malformed source value: nothing to map.
        assert_eq!(po(None), None);
        assert_eq!(patient_orientation(Some("L"), Some(Axes::SAME), None), None);
        assert_eq!(
            patient_orientation(Some("X\\F"), Some(Axes::SAME), None),
            None
        );
        assert_eq!(Axes::from_affine([[1.0, 2.0], [2.0, 4.0]], false), None);
        // Two quarter turns are a half turn: both letters reversed.
        let q = Axes::from_affine(quarter, false).expect("axes");
        assert_eq!(po(Some(q.then(q))).as_deref(), Some("R\\H"));
        assert_eq!(Axes::SAME.then(q), q);
    }

    #[test]
    fn image_orientation_gives_letters_when_the_source_has_none() {
        let axial = Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(
            patient_orientation(None, Some(Axes::SAME), axial).as_deref(),
            Some("L\\P")
        );
        let coronal = Some([1.0, 0.0, 0.0, 0.0, 0.0, -1.0]);
        assert_eq!(
            patient_orientation(None, None, coronal).as_deref(),
            Some("L\\F")
        );
        let oblique = Some([0.8, -0.6, 0.0, 0.0, 0.0, -1.0]);
        assert_eq!(
            patient_orientation(None, None, oblique).as_deref(),
            Some("LA\\F")
        );
        assert_eq!(patient_orientation(None, Some(Axes::SAME), None), None);
    }
}
