//! Geometric warps with bilinear interpolation: affine (2×3) and perspective (3×3) matrices in OpenCV's
//! conventions — integer pixel coordinates at pixel centres, the matrix maps source → destination unless
//! [`WarpParams::inverse`] says it already maps destination → source — with constant, replicate and
//! reflect-101 borders, on u8, u16, i16 and f32 images. Also OpenCV's rotation matrix
//! ([`rotation_matrix`], `getRotationMatrix2D`) and the rotated-ROI crop built on it ([`crop_params`]).
//!
//! Two samplings, because "OpenCV semantics" means two different things:
//! - [`Sampling::Exact`] (default) is the documented formula: float source coordinates, two lerps
//!   (along x, then y) in f32, integer outputs rounded to nearest (ties to even).
//! - [`Sampling::OpenCv`] is what `cv2.warpAffine`/`cv2.warpPerspective(..., INTER_LINEAR)` actually
//!   compute: source coordinates quantised to 1/32 px (`INTER_BITS` = 5, affine coordinates via
//!   1/1024-px integers, `AB_BITS` = 10), 15-bit fixed-point weights for 8-bit images
//!   (`INTER_REMAP_COEF_BITS`) and exact products of 1/32 fractions for 16-bit and float images. On
//!   a 16-bit radiograph the 1/32-px quantisation alone moves steep edges by several LSB, so only this
//!   mode reaches bit-level parity with OpenCV (`tests/it/warp_opencv_parity.rs`).
//!
//! Both modes evaluate the destination → source map from per-column and per-row tables that the host
//! computes in f64 (`x·m00`, `y·m01 + m02`, …), so the shader and [`reference()`] start from identical
//! coordinates. The perspective OpenCV mode decides `round(32·X/W)` exactly with 64-bit fixed-point
//! integers, because f32 division flips the 1/32-px bin of a few pixels in a thousand.
//!
//! Geometry: the output's pixel spacing, position and orientation follow the map (see
//! [`warp_geometry`]): exact for rotations, flips, scalings and translations; dropped where no pixel
//! spacing can describe the result (shear, anisotropic rotation, perspective).

use crate::gpu::GpuImage;
use crate::gpu::shaders::kernels;
use crate::image::{Geometry, HostImage, PixelFormat};
use crate::ops::resample::{
    BORDER_CONSTANT, BORDER_REFLECT101, BORDER_REPLICATE, border_index, check_device,
    check_reference_size, check_size, cv_round_i32, output_pixels, output_words, samples_f32,
    to_format, wrap_i64,
};
use crate::ops::tiling;
use crate::pipeline::{Bind, Recorder};
use crate::{Engine, Error, Result};

/// A 3×3 matrix, rows first.
pub type Mat3 = [[f64; 3]; 3];

/// Largest matrix entry accepted (in either direction of the map): keeps every tabulated coordinate
/// finite in f32.
const MAX_ENTRY: f64 = 1e12;

/// How samples outside the source image are made up.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Border {
    /// A fixed value in the input's sample units (rounded to nearest and clamped to the input's format,
    /// as OpenCV's `saturate_cast` does).
    Constant(f64),
    /// The nearest edge sample (`aaaaaa|abcdefgh|hhhhhhh`).
    Replicate,
    /// Mirror about the edge samples without repeating them (`gfedcb|abcdefgh|gfedcba`), OpenCV's
    /// `BORDER_REFLECT_101`.
    Reflect101,
}

impl Default for Border {
    /// Constant 0, OpenCV's default.
    fn default() -> Self {
        Border::Constant(0.0)
    }
}

impl Border {
    fn code(self) -> u32 {
        match self {
            Border::Constant(_) => BORDER_CONSTANT,
            Border::Replicate => BORDER_REPLICATE,
            Border::Reflect101 => BORDER_REFLECT101,
        }
    }
}

/// Which arithmetic the bilinear interpolation uses (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampling {
    /// Float coordinates, two lerps in f32, round to nearest: the documented formula.
    #[default]
    Exact,
    /// OpenCV's fixed-point implementation (1/32-px coordinates, fixed-point weights for 8-bit).
    ///
    /// Bit-identical to cv2 4.11's warpAffine/warpPerspective except in two degenerate corners of the
    /// perspective warp: a point with W = 0 (on the horizon) and a source coordinate beyond ±2^15 px
    /// are treated as far outside, where OpenCV samples pixel (0, 0) for W = 0 and keeps the low
    /// bits of its saturated coordinates (which only a reflect-101 border would show).
    OpenCv,
}

/// The geometric transform, as OpenCV takes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// `[[m00, m01, m02], [m10, m11, m12]]`: `(x', y') = (m00·x + m01·y + m02, m10·x + m11·y + m12)`.
    Affine([[f64; 3]; 2]),
    /// A homography: `x' = (m00·x + m01·y + m02) / (m20·x + m21·y + m22)`, same for `y'`.
    Perspective(Mat3),
}

impl Transform {
    /// The matrix as 3×3 (an affine matrix gets the row `[0, 0, 1]`).
    pub fn matrix(&self) -> Mat3 {
        match *self {
            Transform::Affine([r0, r1]) => [r0, r1, [0.0, 0.0, 1.0]],
            Transform::Perspective(m) => m,
        }
    }
}

/// Everything a warp needs besides the input image.
#[derive(Debug, Clone, PartialEq)]
pub struct WarpParams {
    /// The transform.
    pub transform: Transform,
    /// `true` when the matrix already maps destination → source (OpenCV's `WARP_INVERSE_MAP`);
    /// otherwise it maps source → destination and is inverted first.
    pub inverse: bool,
    /// Output columns.
    pub width: u32,
    /// Output rows.
    pub height: u32,
    /// Border handling.
    pub border: Border,
    /// Interpolation arithmetic.
    pub sampling: Sampling,
    /// Output sample format; `None` keeps the input's.
    pub out_format: Option<PixelFormat>,
}

impl WarpParams {
    /// A source → destination warp to a `width`×`height` output with the defaults: constant-0
    /// border, exact sampling, the input's format.
    pub fn new(transform: Transform, width: u32, height: u32) -> Self {
        WarpParams {
            transform,
            inverse: false,
            width,
            height,
            border: Border::default(),
            sampling: Sampling::default(),
            out_format: None,
        }
    }
}

/// OpenCV's `getRotationMatrix2D`: rotation by `angle_deg` about `center` (x, y in pixels) with
/// uniform `scale`. Positive angles turn the image counter-clockwise as displayed (y axis down).
///
/// As in OpenCV, the centre is taken in single precision (`Point2f`) and the angle converted with
/// `angle · (π/180)`, so the matrix is bit-identical to `cv2.getRotationMatrix2D`'s.
pub fn rotation_matrix(center: [f64; 2], angle_deg: f64, scale: f64) -> [[f64; 3]; 2] {
    let angle = angle_deg * (std::f64::consts::PI / 180.0);
    let alpha = angle.cos() * scale;
    let beta = angle.sin() * scale;
    let (cx, cy) = (f64::from(center[0] as f32), f64::from(center[1] as f32));
    [
        [alpha, beta, (1.0 - alpha) * cx - beta * cy],
        [-beta, alpha, beta * cx + (1.0 - alpha) * cy],
    ]
}

/// The source → destination matrix that cuts a `size` (width, height) rectangle centred on `center`
/// and rotated by `angle_deg` out of an image, upright: OpenCV's `RotatedRect` convention (positive
/// angles turn the rectangle clockwise as displayed), i.e. [`rotation_matrix`] about the centre
/// followed by `getRectSubPix`'s placement of the centre at `((width − 1)/2, (height − 1)/2)`, as one
/// warp (one interpolation).
pub fn rotated_roi_matrix(center: [f64; 2], size: [u32; 2], angle_deg: f64) -> [[f64; 3]; 2] {
    let mut m = rotation_matrix(center, angle_deg, 1.0);
    m[0][2] += (f64::from(size[0]) - 1.0) / 2.0 - center[0];
    m[1][2] += (f64::from(size[1]) - 1.0) / 2.0 - center[1];
    m
}

/// A rotated-ROI crop: the `width`×`height` region centred on `center`, rotated by `angle_deg`
/// (see [`rotated_roi_matrix`]), as an upright image; outside the source is constant 0.
pub fn crop_params(center: [f64; 2], width: u32, height: u32, angle_deg: f64) -> WarpParams {
    WarpParams::new(
        Transform::Affine(rotated_roi_matrix(center, [width, height], angle_deg)),
        width,
        height,
    )
}

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

fn mul3(a: &Mat3, b: &Mat3) -> Mat3 {
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

crate::wgsl_struct! {
    /// Uniform block of `shaders/warp_bilinear.wgsl` (same field order and sizes).
    #[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    struct Params = WARP_BILINEAR_PARAMS {
        src_width: u32,
        src_height: u32,
        dst_width: u32,
        dst_height: u32,
        in_format: u32,
        out_format: u32,
        mode: u32,
        border: u32,
        border_value: f32,
        row_table: u32,
        col_stride: u32,
        row_stride: u32,
    }
}

const MODE_EXACT_AFFINE: u32 = 0;
const MODE_EXACT_PERSPECTIVE: u32 = 1;
const MODE_OPENCV_AFFINE: u32 = 2;
const MODE_OPENCV_PERSPECTIVE: u32 = 3;

/// Everything the shader and the reference share: the uniform, the coordinate tables, the output.
#[derive(Debug, Clone)]
struct Plan {
    params: Params,
    table: Vec<u32>,
    out_format: PixelFormat,
    geometry: Geometry,
}

fn f32_word(v: f64) -> u32 {
    (v as f32).to_bits()
}

fn i64_words(v: i64) -> [u32; 2] {
    let bits = v as u64;
    [bits as u32, (bits >> 32) as u32]
}

/// The per-column and per-row tables of one mode; columns first, then rows.
fn tables(mode: u32, m: &Mat3, width: u32, height: u32) -> (Vec<u32>, u32, u32) {
    let xs = (0..width).map(f64::from);
    let ys = (0..height).map(f64::from);
    let mut t = Vec::new();
    match mode {
        MODE_EXACT_AFFINE => {
            for x in xs {
                t.extend([f32_word(m[0][0] * x), f32_word(m[1][0] * x)]);
            }
            for y in ys {
                t.extend([
                    f32_word(m[0][1] * y + m[0][2]),
                    f32_word(m[1][1] * y + m[1][2]),
                ]);
            }
            (t, 2, 2)
        }
        MODE_EXACT_PERSPECTIVE => {
            for x in xs {
                t.extend(m.iter().map(|row| f32_word(row[0] * x)));
            }
            for y in ys {
                t.extend(m.iter().map(|row| f32_word(row[1] * y + row[2])));
            }
            (t, 3, 3)
        }
        MODE_OPENCV_AFFINE => {
            // OpenCV warpAffine: AB_SCALE = 1024, round_delta = AB_SCALE / INTER_TAB_SIZE / 2 = 16.
            for x in xs {
                t.extend([
                    cv_round_i32(m[0][0] * x * 1024.0) as u32,
                    cv_round_i32(m[1][0] * x * 1024.0) as u32,
                ]);
            }
            for y in ys {
                t.extend([
                    cv_round_i32((m[0][1] * y + m[0][2]) * 1024.0).wrapping_add(16) as u32,
                    cv_round_i32((m[1][1] * y + m[1][2]) * 1024.0).wrapping_add(16) as u32,
                ]);
            }
            (t, 2, 2)
        }
        _ => {
            // Fixed point with 2^k units, k chosen so |W| < 2^40 over the output: then every product
            // the shader forms near a rounding decision stays far below 2^63.
            let (wx, wy) = (f64::from(width - 1), f64::from(height - 1));
            let w_max = [(0.0, 0.0), (wx, 0.0), (0.0, wy), (wx, wy)]
                .iter()
                .map(|&(x, y)| (m[2][0] * x + m[2][1] * y + m[2][2]).abs())
                .fold(0.0, f64::max);
            let k = if w_max > 0.0 {
                (40 - w_max.log2().ceil() as i32).clamp(-60, 60)
            } else {
                0
            };
            let unit = 2f64.powi(k);
            let fixed = |v: f64| i64_words(wrap_i64((v * unit).round_ties_even()));
            for x in xs {
                for row in m {
                    t.extend(fixed(row[0] * x));
                }
                t.extend(m.iter().map(|row| f32_word(row[0] * x)));
            }
            for y in ys {
                for row in m {
                    t.extend(fixed(row[1] * y + row[2]));
                }
                t.extend(m.iter().map(|row| f32_word(row[1] * y + row[2])));
            }
            (t, 9, 9)
        }
    }
}

fn plan(
    src_width: u32,
    src_height: u32,
    in_format: PixelFormat,
    geometry: &Geometry,
    p: &WarpParams,
) -> Result<Plan> {
    check_size("warp", p.width, p.height)?;
    let map = dst_to_src(&p.transform, p.inverse)?;
    let border_value = match p.border {
        Border::Constant(v) if !v.is_finite() => {
            return Err(Error::InvalidParams(format!(
                "border value {v} must be a finite number"
            )));
        }
        Border::Constant(v) => to_format(v, in_format),
        _ => 0.0,
    };
    let mode = match (p.sampling, map.perspective) {
        (Sampling::Exact, false) => MODE_EXACT_AFFINE,
        (Sampling::Exact, true) => MODE_EXACT_PERSPECTIVE,
        (Sampling::OpenCv, false) => MODE_OPENCV_AFFINE,
        (Sampling::OpenCv, true) => MODE_OPENCV_PERSPECTIVE,
    };
    let (table, col_stride, row_stride) = tables(mode, &map.matrix, p.width, p.height);
    let out_format = p.out_format.unwrap_or(in_format);
    Ok(Plan {
        params: Params {
            src_width,
            src_height,
            dst_width: p.width,
            dst_height: p.height,
            in_format: in_format.shader_code(),
            out_format: out_format.shader_code(),
            mode,
            border: p.border.code(),
            border_value,
            row_table: p.width * col_stride,
            col_stride,
            row_stride,
        },
        table,
        out_format,
        geometry: warp_geometry(geometry, &map.matrix),
    })
}

/// Records the warp of `input` into a new image (`params.width`×`params.height`, format
/// `params.out_format` or the input's), with the geometry updated by [`warp_geometry`].
pub fn encode(rec: &mut Recorder<'_>, input: &GpuImage, params: &WarpParams) -> Result<GpuImage> {
    let plan = plan(
        input.width,
        input.height,
        input.format,
        &input.geometry,
        params,
    )?;
    check_device(
        rec.engine(),
        "warp",
        params.width,
        params.height,
        plan.out_format,
    )?;
    let entry = match plan.params.mode {
        MODE_EXACT_AFFINE => kernels::WARP_BILINEAR_EXACT_AFFINE,
        MODE_EXACT_PERSPECTIVE => kernels::WARP_BILINEAR_EXACT_PERSPECTIVE,
        MODE_OPENCV_AFFINE => kernels::WARP_BILINEAR_OPENCV_AFFINE,
        _ => kernels::WARP_BILINEAR_OPENCV_PERSPECTIVE,
    };
    let kernel = rec.engine().shaders().specialized(
        entry,
        &[
            ("IN_FORMAT", f64::from(plan.params.in_format)),
            ("OUT_FORMAT", f64::from(plan.params.out_format)),
            ("BORDER", f64::from(plan.params.border)),
        ],
    )?;
    let output = rec.alloc_image(params.width, params.height, plan.out_format, plan.geometry)?;
    let uniform = rec.uniform(&plan.params, "warp_bilinear params")?;
    let table = rec.storage_table(bytemuck::cast_slice(&plan.table), "warp_bilinear table")?;
    let words = output_words(plan.out_format, output.pixel_count());
    let groups = rec.groups_1d(&kernel, words);
    rec.dispatch(
        &kernel,
        &[
            (0, Bind::Pooled(&uniform)),
            (1, Bind::Image(input)),
            (2, Bind::Table(&table)),
            (3, Bind::Image(&output)),
        ],
        groups,
    )?;
    Ok(output)
}

/// Uploads `input`, warps it on the GPU and reads the result back: one upload, one submission, one
/// readback — or, when the input or output is over the adapter's binding limit, the same in tiles
/// (see [`crate::ops::tiling`]).
pub fn warp_image(engine: &Engine, input: &HostImage, params: &WarpParams) -> Result<HostImage> {
    let out_format = params.out_format.unwrap_or(input.format());
    let too_big = !tiling::fits(engine, input.width, input.height, input.format())
        || !tiling::fits(engine, params.width, params.height, out_format);
    if too_big && tiling::tileable(params.width, params.height, out_format) {
        return warp_tiled(engine, input, params);
    }
    let gpu = engine.upload(input)?;
    let mut rec = Recorder::new(engine);
    let output = encode(&mut rec, &gpu, params)?;
    let download = rec.download(&output)?;
    rec.submit()?;
    download.wait()
}

/// [`warp_image`] for images over the binding limit: output tiles, each warped from the source region
/// it reads with the map shifted by the tile and region origins; one submission per tile.
fn warp_tiled(engine: &Engine, input: &HostImage, params: &WarpParams) -> Result<HostImage> {
    // Everything the untiled path validates (size, matrix, border value), before any tile.
    plan(
        input.width,
        input.height,
        input.format(),
        &input.geometry,
        params,
    )?;
    let map = dst_to_src(&params.transform, params.inverse)?;
    let out_format = params.out_format.unwrap_or(input.format());
    let reflect = params.border == Border::Reflect101;
    let m = map.matrix;
    let region = |t: tiling::Rect| tiling::source_region(&m, t, input.width, input.height, reflect);
    let area = tiling::Rect {
        x: 0,
        y: 0,
        width: params.width,
        height: params.height,
    };
    let tiles = tiling::split(area, &mut |t| {
        let r = region(t);
        tiling::fits(engine, t.width, t.height, out_format)
            && tiling::fits(engine, r.width, r.height, input.format())
    })?;
    let mut canvas = tiling::blank(params.width, params.height, out_format)?;
    for tile in tiles {
        let r = region(tile);
        let source = tiling::crop(input, r)?;
        let (tx, ty, rx, ry) = (
            f64::from(tile.x),
            f64::from(tile.y),
            f64::from(r.x),
            f64::from(r.y),
        );
        // M' = S(−r) · M · T(t): tile-local destination → region-local source.
        let shifted = mul3(
            &[[1.0, 0.0, -rx], [0.0, 1.0, -ry], [0.0, 0.0, 1.0]],
            &mul3(&m, &[[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]]),
        );
        let transform = if map.perspective {
            Transform::Perspective(shifted)
        } else {
            Transform::Affine([shifted[0], shifted[1]])
        };
        let tile_params = WarpParams {
            transform,
            inverse: true,
            width: tile.width,
            height: tile.height,
            out_format: Some(out_format),
            ..params.clone()
        };
        // Tile and source region fit by construction, so this takes the untiled path.
        let part = warp_image(engine, &source, &tile_params)?;
        tiling::paste(&mut canvas, &part, tile.x, tile.y)?;
    }
    Ok(canvas.with_geometry(warp_geometry(&input.geometry, &m)))
}

/// The CPU reference: the same tables as the GPU, then the sampling written out in Rust with the same
/// f32 (exact mode, 16-bit and float OpenCV mode) and integer (8-bit and perspective OpenCV mode)
/// operations as `shaders/warp_bilinear.wgsl`.
pub fn reference(input: &HostImage, params: &WarpParams) -> Result<HostImage> {
    let plan = plan(
        input.width,
        input.height,
        input.format(),
        &input.geometry,
        params,
    )?;
    check_reference_size("warp", params.width, params.height)?;
    let samples = samples_f32(input);
    let sampler = Sampler {
        src: &samples,
        width: input.width as i32,
        height: input.height as i32,
        border: plan.params.border,
        border_value: plan.params.border_value,
        u8_input: input.format() == PixelFormat::U8,
    };
    let mut values = Vec::with_capacity(params.width as usize * params.height as usize);
    for y in 0..params.height {
        for x in 0..params.width {
            values.push(warp_value(&plan, &sampler, x, y));
        }
    }
    Ok(HostImage::new(
        params.width,
        params.height,
        output_pixels(&values, plan.out_format),
    )?
    .with_geometry(plan.geometry))
}

const FAR: f32 = 16_777_216.0;
const FAR_BINS: f32 = 1_048_576.0;

struct Sampler<'a> {
    src: &'a [f32],
    width: i32,
    height: i32,
    border: u32,
    border_value: f32,
    u8_input: bool,
}

impl Sampler<'_> {
    fn fetch(&self, x: i32, y: i32) -> f32 {
        match (
            border_index(x, self.width, self.border),
            border_index(y, self.height, self.border),
        ) {
            (Some(bx), Some(by)) => self.src[by as usize * self.width as usize + bx as usize],
            _ => self.border_value,
        }
    }

    fn block_outside(&self, ix: i32, iy: i32) -> bool {
        self.border == BORDER_CONSTANT
            && (ix >= self.width || ix + 1 < 0 || iy >= self.height || iy + 1 < 0)
    }

    fn exact(&self, sx: f32, sy: f32) -> f32 {
        let (flx, fly) = (sx.floor(), sy.floor());
        let (ix, iy) = (flx as i32, fly as i32);
        if self.block_outside(ix, iy) {
            return self.border_value;
        }
        let (fx, fy) = (sx - flx, sy - fly);
        let p00 = self.fetch(ix, iy);
        let p01 = self.fetch(ix + 1, iy);
        let p10 = self.fetch(ix, iy + 1);
        let p11 = self.fetch(ix + 1, iy + 1);
        let v0 = p00 + fx * (p01 - p00);
        let v1 = p10 + fx * (p11 - p10);
        v0 + fy * (v1 - v0)
    }

    fn fixed(&self, qx: i32, qy: i32) -> f32 {
        let ix = (qx >> 5).clamp(-32768, 32767);
        let iy = (qy >> 5).clamp(-32768, 32767);
        if self.block_outside(ix, iy) {
            return self.border_value;
        }
        let (ax, ay) = (qx & 31, qy & 31);
        let p00 = self.fetch(ix, iy);
        let p01 = self.fetch(ix + 1, iy);
        let p10 = self.fetch(ix, iy + 1);
        let p11 = self.fetch(ix + 1, iy + 1);
        if self.u8_input {
            let s = (32 - ax) * (32 - ay) * p00 as i32
                + ax * (32 - ay) * p01 as i32
                + (32 - ax) * ay * p10 as i32
                + ax * ay * p11 as i32;
            return ((s + 512) >> 10) as f32;
        }
        let fx = ax as f32 * 0.03125;
        let fy = ay as f32 * 0.03125;
        let w00 = (1.0 - fy) * (1.0 - fx);
        let w01 = (1.0 - fy) * fx;
        let w10 = fy * (1.0 - fx);
        let w11 = fy * fx;
        let sum = p00 * w00 + p01 * w01;
        let sum = sum + p10 * w10;
        sum + p11 * w11
    }
}

/// `round_quotient` of `shaders/warp_bilinear.wgsl`, with native wrapping 64-bit integers.
fn round_quotient(xf: i64, wf: i64, q: f32) -> i32 {
    let mut c = q.round_ties_even() as i32;
    let x64 = xf.wrapping_shl(6);
    let ws = if wf < 0 { -1 } else { 1 };
    for _ in 0..4 {
        let above = x64
            .wrapping_sub(wf.wrapping_mul(i64::from(2 * c + 1)))
            .signum() as i32
            * ws;
        if above > 0 {
            c += 1;
            continue;
        }
        let below = x64
            .wrapping_sub(wf.wrapping_mul(i64::from(2 * c - 1)))
            .signum() as i32
            * ws;
        if below < 0 {
            c -= 1;
            continue;
        }
        if above == 0 && c & 1 != 0 {
            c += 1;
        } else if below == 0 && c & 1 != 0 {
            c -= 1;
        }
        break;
    }
    c
}

fn warp_value(plan: &Plan, s: &Sampler<'_>, x: u32, y: u32) -> f32 {
    let p = &plan.params;
    let t = &plan.table;
    let c = (x * p.col_stride) as usize;
    let r = (p.row_table + y * p.row_stride) as usize;
    let f = |i: usize| f32::from_bits(t[i]);
    let i = |i: usize| t[i] as i32;
    let wide = |i: usize| (u64::from(t[i]) | (u64::from(t[i + 1]) << 32)) as i64;
    match p.mode {
        MODE_EXACT_AFFINE => {
            let sx = (f(c) + f(r)).clamp(-FAR, FAR);
            let sy = (f(c + 1) + f(r + 1)).clamp(-FAR, FAR);
            s.exact(sx, sy)
        }
        MODE_EXACT_PERSPECTIVE => {
            let px = f(c) + f(r);
            let py = f(c + 1) + f(r + 1);
            let pw = f(c + 2) + f(r + 2);
            let lim = FAR * pw.abs();
            let representable = px.abs() < lim && py.abs() < lim;
            if !representable {
                return s.exact(-FAR, -FAR);
            }
            s.exact(px / pw, py / pw)
        }
        MODE_OPENCV_AFFINE => {
            let qx = i(r).wrapping_add(i(c)) >> 5;
            let qy = i(r + 1).wrapping_add(i(c + 1)) >> 5;
            s.fixed(qx, qy)
        }
        _ => {
            let xf = wide(c).wrapping_add(wide(r));
            let yf = wide(c + 2).wrapping_add(wide(r + 2));
            let wf = wide(c + 4).wrapping_add(wide(r + 4));
            let px = f(c + 6) + f(r + 6);
            let py = f(c + 7) + f(r + 7);
            let pw = f(c + 8) + f(r + 8);
            let lim = FAR_BINS * pw.abs();
            let (near_x, near_y) = ((32.0 * px).abs() < lim, (32.0 * py).abs() < lim);
            let far_x = wf == 0 || !near_x;
            let far_y = wf == 0 || !near_y;
            let far = |v: f32| {
                if (v >= 0.0) == (pw >= 0.0) {
                    1 << 20
                } else {
                    -(1 << 20)
                }
            };
            let qx = if far_x {
                far(px)
            } else {
                round_quotient(xf, wf, 32.0 * px / pw)
            };
            let qy = if far_y {
                far(py)
            } else {
                round_quotient(yf, wf, 32.0 * py / pw)
            };
            s.fixed(qx, qy)
        }
    }
}

/// Refuses a constant border value the image's samples cannot hold. The op itself saturates it, as
/// OpenCV's `borderValue` does (`saturate_cast`); a user-facing command calls this first so that a
/// typed value is never clamped silently.
pub fn check_border_value(border: Border, format: PixelFormat) -> Result<()> {
    let Border::Constant(v) = border else {
        return Ok(());
    };
    let range = match format {
        PixelFormat::U8 => Some((0.0, 255.0)),
        PixelFormat::U16 => Some((0.0, 65535.0)),
        PixelFormat::I16 => Some((-32768.0, 32767.0)),
        PixelFormat::F32 => None,
    };
    match range {
        _ if !v.is_finite() => Err(Error::InvalidParams(format!(
            "border value {v} must be a finite number"
        ))),
        Some((lo, hi)) if !(lo..=hi).contains(&v) => Err(Error::InvalidParams(format!(
            "border value {v} is outside the {format} sample range {lo}..{hi}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Pixels;

    #[test]
    fn params_block_matches_the_shader_size() {
        assert_eq!(std::mem::size_of::<Params>(), 48);
    }

    #[test]
    fn rotation_matrix_matches_opencv() {
        // cv2.getRotationMatrix2D((10.5, 20.25), 30, 1.5)
        let m = rotation_matrix([10.5, 20.25], 30.0, 1.5);
        let expected = [
            [
                1.299_038_105_676_658,
                0.749_999_999_999_999_9,
                -18.327_400_109_604_91,
            ],
            [
                -0.749_999_999_999_999_9,
                1.299_038_105_676_658,
                1.819_478_360_047_674_5,
            ],
        ];
        for (r, e) in m.iter().zip(&expected) {
            for (a, b) in r.iter().zip(e) {
                assert_eq!(a, b, "{m:?}");
            }
        }
    }

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
    fn quotient_rounding_is_exact_with_ties_to_even() {
        // 32·X/W = 2.5 → 2, 3.5 → 4, −2.5 → −2, and just above a tie rounds up.
        assert_eq!(round_quotient(5 << 20, 64 << 20, 2.6), 2);
        assert_eq!(round_quotient(7 << 20, 64 << 20, 3.2), 4);
        assert_eq!(round_quotient(-5 << 20, 64 << 20, -2.4), -2);
        assert_eq!(round_quotient((5 << 20) + 1, 64 << 20, 2.4), 3);
        assert_eq!(round_quotient(5 << 20, -(64 << 20), -2.6), -2);
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

    #[test]
    fn identity_reference_copies_every_format() {
        for pixels in [
            Pixels::U8(vec![1, 2, 3, 250, 5, 6]),
            Pixels::U16(vec![1, 60000, 3, 4, 5, 6]),
            Pixels::I16(vec![-1, -32768, 3, 32767, 5, 6]),
            Pixels::F32(vec![0.25, -1e6, 3.5, 4.0, 5.0, 6.0]),
        ] {
            let img = HostImage::new(3, 2, pixels).expect("image");
            for sampling in [Sampling::Exact, Sampling::OpenCv] {
                for transform in [
                    Transform::Affine([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
                    Transform::Perspective([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
                ] {
                    let mut p = WarpParams::new(transform, 3, 2);
                    p.sampling = sampling;
                    let out = reference(&img, &p).expect("warp");
                    assert_eq!(out.pixels, img.pixels, "{sampling:?} {transform:?}");
                }
            }
        }
    }
}
