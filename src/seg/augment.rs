//! Host-side augmentation for training: cheap, seeded, and built so that the un-augmented path is
//! *exactly* what inference feeds the network.
//!
//! One call turns a [`Sample`] (8-bit display image + 0/1 mask at the file's size) into the network's
//! view at `size`×`size`:
//!
//! 1. geometry, one affine warp from the network grid into the source image (bilinear, image edge
//!    clamped within the image and zero outside it): random horizontal/vertical flips and 90° turns
//!    (the corpus's orientation varies, some sites are upside down), small rotations, scaling
//!    (anisotropic a little), shear and translation; the mask goes through the same warp and is
//!    thresholded at ½. With no geometric change the warp *is* [`resize_reference`], the resize
//!    `radpipe segment` applies;
//! 2. resolution: blur (Gaussian σ 0.4–1.5) and down-then-up sampling (×1.5–3, optionally along one
//!    axis only, as thick or low-resolution localizer slices look);
//! 3. intensity on [0, 1]: a smooth multiplicative bias field (quadratic in x, y), gamma,
//!    contrast/brightness, an occasional T2-like inversion inside the head, Gaussian noise;
//! 4. the normalisation inference uses ([`normalise_planes`]).
//!
//! A step's augmentation is ~1–3 ms per 256² image on one core, far below a training step.

use super::dataset::Sample;
use super::infer::{Preprocess, normalise_planes, resize_reference};

/// A small, fast, seedable generator (SplitMix64): reproducible runs without a `rand` dependency.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng {
            state: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.uniform() < p
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * n as f64) as usize % n.max(1)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Probabilities and ranges of the augmentations (defaults: the training recipe in models/MODEL.md).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip.
    pub p_hflip: f32,
    /// Probability of a vertical flip.
    pub p_vflip: f32,
    /// Probability of a 90° turn (either way).
    pub p_rot90: f32,
    /// Largest small rotation, degrees (uniform ±).
    pub max_rotate_deg: f32,
    /// Scale range (zoom), uniform.
    pub scale: (f32, f32),
    /// Largest relative aspect change (uniform ±).
    pub max_aspect: f32,
    /// Largest shear (uniform ±, tangent).
    pub max_shear: f32,
    /// Largest translation, fraction of the side (uniform ±).
    pub max_shift: f32,
    /// Probability of a Gaussian blur.
    pub p_blur: f32,
    /// Probability of down-then-up sampling.
    pub p_lowres: f32,
    /// Probability of a bias field.
    pub p_bias: f32,
    /// Probability of a gamma change.
    pub p_gamma: f32,
    /// Probability of a contrast/brightness change.
    pub p_contrast: f32,
    /// Probability of the T2-like inversion.
    pub p_invert: f32,
    /// Probability of Gaussian noise.
    pub p_noise: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            p_hflip: 0.5,
            p_vflip: 0.5,
            p_rot90: 0.2,
            max_rotate_deg: 20.0,
            scale: (0.8, 1.25),
            max_aspect: 0.1,
            max_shear: 0.08,
            max_shift: 0.08,
            p_blur: 0.25,
            p_lowres: 0.25,
            p_bias: 0.4,
            p_gamma: 0.5,
            p_contrast: 0.5,
            p_invert: 0.1,
            p_noise: 0.35,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all (the network sees what inference would feed it).
    pub fn none() -> Self {
        AugmentConfig {
            p_hflip: 0.0,
            p_vflip: 0.0,
            p_rot90: 0.0,
            max_rotate_deg: 0.0,
            scale: (1.0, 1.0),
            max_aspect: 0.0,
            max_shear: 0.0,
            max_shift: 0.0,
            p_blur: 0.0,
            p_lowres: 0.0,
            p_bias: 0.0,
            p_gamma: 0.0,
            p_contrast: 0.0,
            p_invert: 0.0,
            p_noise: 0.0,
        }
    }
}

/// A 2×3 affine map from network-grid continuous coordinates to source continuous coordinates
/// (pixel centres at i + ½).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Row-major `[a, b, c, d, e, f]`: `sx = a·x + b·y + c`, `sy = d·x + e·y + f`.
    pub m: [f32; 6],
}

/// One network-size training view: input planes (normalised) and the 0/1 target.
#[derive(Debug, Clone)]
pub struct View {
    /// `channels × size × size` normalised input.
    pub input: Vec<f32>,
    /// `size × size` target, 0.0 or 1.0.
    pub target: Vec<f32>,
}

fn sample_bilinear(src: &[f32], w: usize, h: usize, sx: f32, sy: f32) -> f32 {
    // Continuous → index space; outside the image's extent → 0, inside → clamped bilinear.
    let (x, y) = (sx - 0.5, sy - 0.5);
    if !(-0.5..=w as f32 - 0.5).contains(&x) || !(-0.5..=h as f32 - 0.5).contains(&y) {
        return 0.0;
    }
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = (1.0 - fx) * src[y0 * w + x0] + fx * src[y0 * w + x1];
    let bottom = (1.0 - fx) * src[y1 * w + x0] + fx * src[y1 * w + x1];
    (1.0 - fy) * top + fy * bottom
}

/// Warps `src` (`w`×`h`) onto a `size`×`size` grid through `affine`.
pub fn warp(src: &[f32], w: u32, h: u32, size: u32, affine: &Affine) -> Vec<f32> {
    let [a, b, c, d, e, f] = affine.m;
    let (w, h, n) = (w as usize, h as usize, size as usize);
    let mut out = Vec::with_capacity(n * n);
    for y in 0..n {
        let yc = y as f32 + 0.5;
        for x in 0..n {
            let xc = x as f32 + 0.5;
            out.push(sample_bilinear(
                src,
                w,
                h,
                a * xc + b * yc + c,
                d * xc + e * yc + f,
            ));
        }
    }
    out
}

/// Draws a random geometric transform for a `w`×`h` source seen at `size`×`size`; `None` when the
/// draw is the identity (then the plain inference resize is used).
pub fn random_affine(
    rng: &mut Rng,
    cfg: &AugmentConfig,
    w: u32,
    h: u32,
    size: u32,
) -> Option<Affine> {
    let hflip = rng.chance(cfg.p_hflip);
    let vflip = rng.chance(cfg.p_vflip);
    let quarter = if rng.chance(cfg.p_rot90) {
        if rng.chance(0.5) { 1 } else { 3 }
    } else {
        0
    };
    let angle = rng
        .range(-cfg.max_rotate_deg, cfg.max_rotate_deg)
        .to_radians()
        + quarter as f32 * std::f32::consts::FRAC_PI_2;
    let zoom = rng.range(cfg.scale.0, cfg.scale.1);
    let aspect = 1.0 + rng.range(-cfg.max_aspect, cfg.max_aspect);
    let shear = rng.range(-cfg.max_shear, cfg.max_shear);
    let (tx, ty) = (
        rng.range(-cfg.max_shift, cfg.max_shift),
        rng.range(-cfg.max_shift, cfg.max_shift),
    );
    let identity = !hflip
        && !vflip
        && quarter == 0
        && angle == 0.0
        && zoom == 1.0
        && aspect == 1.0
        && shear == 0.0
        && tx == 0.0
        && ty == 0.0;
    if identity {
        return None;
    }
    // Network grid centred, in source pixels per network pixel: (dst − c_d)·base.
    let (bx, by) = (w as f32 / size as f32, h as f32 / size as f32);
    // Output = zoomed, rotated, sheared, flipped view: src = c_s + B·F·R·S·Z⁻¹·(dst − c_d) + t.
    let (zx, zy) = (zoom * aspect.sqrt(), zoom / aspect.sqrt());
    let (cos, sin) = (angle.cos(), angle.sin());
    // M = R · Sh · Z⁻¹ · F (applied right to left to the centred output coordinate).
    let (fx, fy) = (
        if hflip { -1.0 } else { 1.0 },
        if vflip { -1.0 } else { 1.0 },
    );
    // Z⁻¹ · F
    let (m00, m11) = (fx / zx, fy / zy);
    // Sh · (diag) = [[m00, shear·m11], [0, m11]]
    let (s00, s01, s10, s11) = (m00, shear * m11, 0.0, m11);
    // R · that
    let r00 = cos * s00 - sin * s10;
    let r01 = cos * s01 - sin * s11;
    let r10 = sin * s00 + cos * s10;
    let r11 = sin * s01 + cos * s11;
    // Base scaling to source pixels.
    let (a, b, d, e) = (bx * r00, bx * r01, by * r10, by * r11);
    let half = size as f32 / 2.0;
    let (csx, csy) = (
        w as f32 / 2.0 + tx * w as f32,
        h as f32 / 2.0 + ty * h as f32,
    );
    let c = csx - a * half - b * half;
    let f = csy - d * half - e * half;
    Some(Affine {
        m: [a, b, c, d, e, f],
    })
}

fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as i32;
    let mut k: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// Separable Gaussian blur (edge replicated) along x and/or y.
pub fn blur(img: &mut [f32], n: usize, sigma_x: f32, sigma_y: f32) {
    let mut tmp = vec![0.0; img.len()];
    if sigma_x > 0.0 {
        let k = gaussian_kernel(sigma_x);
        let r = (k.len() / 2) as isize;
        for y in 0..n {
            let row = &img[y * n..(y + 1) * n];
            for x in 0..n {
                let mut acc = 0.0;
                for (i, kv) in k.iter().enumerate() {
                    let xi = (x as isize + i as isize - r).clamp(0, n as isize - 1) as usize;
                    acc += kv * row[xi];
                }
                tmp[y * n + x] = acc;
            }
        }
        img.copy_from_slice(&tmp);
    }
    if sigma_y > 0.0 {
        let k = gaussian_kernel(sigma_y);
        let r = (k.len() / 2) as isize;
        for y in 0..n {
            for x in 0..n {
                let mut acc = 0.0;
                for (i, kv) in k.iter().enumerate() {
                    let yi = (y as isize + i as isize - r).clamp(0, n as isize - 1) as usize;
                    acc += kv * img[yi * n + x];
                }
                tmp[y * n + x] = acc;
            }
        }
        img.copy_from_slice(&tmp);
    }
}

/// Down-then-up sampling by `fx`, `fy` (≥ 1): area-like down (blur + bilinear), bilinear up.
pub fn low_resolution(img: &mut [f32], n: usize, fx: f32, fy: f32) {
    let (dw, dh) = (
        ((n as f32 / fx).round() as u32).max(4),
        ((n as f32 / fy).round() as u32).max(4),
    );
    // Anti-alias roughly like area averaging before the bilinear decimation.
    blur(
        img,
        n,
        0.45 * (fx - 1.0).max(0.0),
        0.45 * (fy - 1.0).max(0.0),
    );
    let small = resize_reference(img, n as u32, n as u32, dw, dh);
    let back = resize_reference(&small, dw, dh, n as u32, n as u32);
    img.copy_from_slice(&back);
}

/// The network's view of `sample` at `pre`'s size under a random augmentation drawn from `rng`.
/// With [`AugmentConfig::none`] the input equals [`super::infer::preprocess_reference`] of the
/// sample's display image.
pub fn augment(
    sample: &Sample,
    pre: &Preprocess,
    channels: usize,
    cfg: &AugmentConfig,
    rng: &mut Rng,
) -> View {
    let size = pre.width;
    debug_assert_eq!(pre.width, pre.height, "training uses square inputs");
    let n = size as usize;
    let src: Vec<f32> = sample.image.iter().map(|&v| f32::from(v)).collect();
    let msk: Vec<f32> = sample.mask.iter().map(|&v| f32::from(v)).collect();
    let (w, h) = (sample.width, sample.height);
    let (mut img, mask) = match random_affine(rng, cfg, w, h, size) {
        None => (
            resize_reference(&src, w, h, size, size),
            resize_reference(&msk, w, h, size, size),
        ),
        Some(a) => (warp(&src, w, h, size, &a), warp(&msk, w, h, size, &a)),
    };
    let target: Vec<f32> = mask
        .iter()
        .map(|&v| if v >= 0.5 { 1.0 } else { 0.0 })
        .collect();

    if rng.chance(cfg.p_lowres) {
        let f = rng.range(1.5, 3.0);
        match rng.below(3) {
            0 => low_resolution(&mut img, n, f, 1.0),
            1 => low_resolution(&mut img, n, 1.0, f),
            _ => low_resolution(&mut img, n, f, f),
        }
    }
    if rng.chance(cfg.p_blur) {
        let s = rng.range(0.4, 1.5);
        blur(&mut img, n, s, s);
    }

    let intensity = [
        cfg.p_bias,
        cfg.p_gamma,
        cfg.p_contrast,
        cfg.p_invert,
        cfg.p_noise,
    ];
    let draws: Vec<bool> = intensity.iter().map(|&p| rng.chance(p)).collect();
    if draws.iter().any(|&d| d) {
        img.iter_mut().for_each(|v| *v /= 255.0);
        if draws[0] {
            // exp(quadratic) over [-1, 1]²: up to about ×0.65–×1.5 over the central half of the
            // view, stronger towards the corners (surface-coil shading).
            let c: Vec<f32> = (0..5).map(|_| rng.range(-0.3, 0.3)).collect();
            for y in 0..n {
                let v = 2.0 * (y as f32 + 0.5) / n as f32 - 1.0;
                for x in 0..n {
                    let u = 2.0 * (x as f32 + 0.5) / n as f32 - 1.0;
                    let field =
                        (c[0] * u + c[1] * v + 0.5 * (c[2] * u * u + c[3] * v * v + c[4] * u * v))
                            .exp();
                    img[y * n + x] *= field;
                }
            }
        }
        if draws[1] {
            let gamma = rng.range(0.6, 1.6);
            img.iter_mut()
                .for_each(|v| *v = v.clamp(0.0, 1.0).powf(gamma));
        }
        if draws[2] {
            let (gain, offset) = (rng.range(0.7, 1.3), rng.range(-0.1, 0.1));
            img.iter_mut().for_each(|v| *v = *v * gain + offset);
        }
        if draws[3] {
            // T2-like: inside the head (above a low threshold) dark becomes bright and bright dark;
            // the air stays dark.
            let peak = img.iter().copied().fold(0.0f32, f32::max).max(1e-3);
            let threshold = 0.08 * peak;
            img.iter_mut().for_each(|v| {
                if *v > threshold {
                    *v = peak + threshold - *v;
                }
            });
        }
        if draws[4] {
            let sigma = rng.range(0.01, 0.06);
            img.iter_mut().for_each(|v| *v += sigma * rng.normal());
        }
        img.iter_mut()
            .for_each(|v| *v = (*v * 255.0).clamp(0.0, 255.0));
    }
    View {
        input: normalise_planes(&img, pre, channels),
        target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seg::infer::preprocess_reference;

    fn sample(w: u32, h: u32) -> Sample {
        let image = (0..w * h).map(|i| (i * 37 % 251) as u8).collect();
        let mask = (0..w * h).map(|i| u8::from(i % w > w / 2)).collect();
        Sample {
            width: w,
            height: h,
            image,
            mask,
            site: "S".into(),
            name: "s".into(),
        }
    }

    #[test]
    fn no_augmentation_is_the_inference_preprocessing() {
        let s = sample(70, 50);
        let pre = Preprocess::square(32);
        let view = augment(&s, &pre, 3, &AugmentConfig::none(), &mut Rng::new(1));
        let expected = preprocess_reference(&s.host_image().expect("image"), &pre, 3);
        assert_eq!(view.input, expected);
    }

    #[test]
    fn augmentation_is_seeded_and_finite() {
        let s = sample(64, 64);
        let pre = Preprocess::square(32);
        let cfg = AugmentConfig {
            p_blur: 1.0,
            p_lowres: 1.0,
            p_bias: 1.0,
            p_gamma: 1.0,
            p_contrast: 1.0,
            p_invert: 1.0,
            p_noise: 1.0,
            ..AugmentConfig::default()
        };
        let a = augment(&s, &pre, 1, &cfg, &mut Rng::new(7));
        let b = augment(&s, &pre, 1, &cfg, &mut Rng::new(7));
        assert_eq!(a.input, b.input);
        assert!(
            a.input
                .iter()
                .all(|v| v.is_finite() && (-1.0..=1.0).contains(v))
        );
        assert!(a.target.iter().all(|&v| v == 0.0 || v == 1.0));
    }

    #[test]
    fn flip_only_mirrors_the_mask() {
        let s = sample(32, 32);
        let pre = Preprocess::square(32);
        let cfg = AugmentConfig {
            p_hflip: 1.0,
            ..AugmentConfig::none()
        };
        let view = augment(&s, &pre, 1, &cfg, &mut Rng::new(3));
        for y in 0..32 {
            for x in 0..32 {
                let expected = f32::from(s.mask[y * 32 + (31 - x)]);
                assert_eq!(view.target[y * 32 + x], expected, "({x},{y})");
            }
        }
    }
}
