//! The CPU reference: the same plan and tables as the GPU, then the sampling written out in Rust with
//! the same f32 and integer operations as `shaders/warp_bilinear.wgsl`.

use super::WarpParams;
use super::plan::{MODE_EXACT_AFFINE, MODE_EXACT_PERSPECTIVE, MODE_OPENCV_AFFINE, Plan, plan};
use crate::Result;
use crate::image::{HostImage, PixelFormat};
use crate::ops::resample::{
    BORDER_CONSTANT, border_index, check_reference_size, output_pixels, samples_f32,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Pixels;
    use crate::ops::warp::{Sampling, Transform};

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
