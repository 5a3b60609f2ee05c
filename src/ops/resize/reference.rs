//! The CPU reference: the same plan and tables as the GPU, gathered and blended in Rust with the
//! shaders' arithmetic.

use super::ResizeParams;
use super::plan::{AREA_BLOCKS, Kernel, LINEAR_EXACT, LINEAR_OPENCV, plan};
use crate::Result;
use crate::image::{HostImage, PixelFormat};
use crate::ops::resample::{check_reference_size, output_pixels, samples_f32};

/// The CPU reference: the same tables as the GPU, then the blending written out in Rust with the same
/// f32 and integer operations as `shaders/resize_linear.wgsl` and `shaders/resize_area.wgsl`.
pub fn reference(input: &HostImage, params: &ResizeParams) -> Result<HostImage> {
    let plan = plan(
        input.width,
        input.height,
        input.format(),
        &input.geometry,
        params,
    )?;
    check_reference_size("resize", params.width, params.height)?;
    let src = samples_f32(input);
    let t = &plan.table;
    let w = input.width as usize;
    let at = |x: u32, y: u32| src[y as usize * w + x as usize];
    let f = |i: usize| f32::from_bits(t[i]);
    let mut values = Vec::with_capacity(params.width as usize * params.height as usize);
    for dy in 0..params.height {
        for dx in 0..params.width {
            let v = match &plan.kernel {
                Kernel::Linear(p) => {
                    let c = dx as usize * 5;
                    let r = (p.row_table + dy * 5) as usize;
                    let (x0, x1, y0, y1) = (t[c], t[c + 1], t[r], t[r + 1]);
                    let (p00, p01, p10, p11) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
                    match p.kind {
                        LINEAR_EXACT => {
                            let (fx, fy) = (f(c + 3), f(r + 3));
                            let h0 = p00 + fx * (p01 - p00);
                            let h1 = p10 + fx * (p11 - p10);
                            h0 + fy * (h1 - h0)
                        }
                        LINEAR_OPENCV => {
                            let h0 = p00 * f(c + 2) + p01 * f(c + 3);
                            let h1 = p10 * f(c + 2) + p11 * f(c + 3);
                            h0 * f(r + 2) + h1 * f(r + 3)
                        }
                        _ => {
                            let (ia, ib) = (t[c + 4], t[r + 4]);
                            let (a0, a1) = ((ia & 0xFFFF) as i32, (ia >> 16) as i32);
                            let (b0, b1) = ((ib & 0xFFFF) as i32, (ib >> 16) as i32);
                            let h0 = p00 as i32 * a0 + p01 as i32 * a1;
                            let h1 = p10 as i32 * a0 + p11 as i32 * a1;
                            let s = (((h0 >> 4) * b0) >> 16) + (((h1 >> 4) * b1) >> 16);
                            ((s + 2) >> 2).clamp(0, 255) as f32
                        }
                    }
                }
                Kernel::Area(p) if p.kind == AREA_BLOCKS => {
                    let (x0, y0) = (dx * p.kx, dy * p.ky);
                    let cells = (0..p.ky).flat_map(|j| (0..p.kx).map(move |i| (x0 + i, y0 + j)));
                    if input.format() == PixelFormat::F32 {
                        cells.fold(0.0f32, |s, (x, y)| s + at(x, y)) * p.inv_area
                    } else {
                        let sum: i32 = cells.map(|(x, y)| at(x, y) as i32).sum();
                        if p.kx == 2 && p.ky == 2 {
                            ((sum + 2) >> 2) as f32
                        } else {
                            sum as f32 * p.inv_area
                        }
                    }
                }
                Kernel::Area(p) => {
                    let (cf, cn) = (t[dx as usize * 2], t[dx as usize * 2 + 1]);
                    let ri = (p.row_index + dy * 2) as usize;
                    let (rf, rn) = (t[ri], t[ri + 1]);
                    let mut sum = 0.0f32;
                    for j in 0..rn {
                        let re = (p.row_entries + (rf + j) * 2) as usize;
                        let (sy, beta) = (t[re], f(re + 1));
                        let mut buf = 0.0f32;
                        for i in 0..cn {
                            let ce = (p.col_entries + (cf + i) * 2) as usize;
                            buf += at(t[ce], sy) * f(ce + 1);
                        }
                        sum += buf * beta;
                    }
                    sum
                }
            };
            values.push(v);
        }
    }
    Ok(HostImage::new(
        params.width,
        params.height,
        output_pixels(&values, plan.out_format),
    )?
    .with_geometry(plan.geometry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{Geometry, Pixels};

    #[test]
    fn spacing_scales_with_the_size_ratio() {
        let img = HostImage::new(8, 4, Pixels::U8(vec![0; 32]))
            .expect("image")
            .with_geometry(Geometry::with_spacing(0.2, 0.1));
        let out = reference(&img, &ResizeParams::new(16, 2)).expect("resize");
        assert_eq!(out.geometry.pixel_spacing, Some([0.4, 0.05]));
    }
}
