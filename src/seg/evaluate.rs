//! Measuring a model on labelled images: Dice per image and per site, and the scan-plane angle error
//! (angle of the predicted mask vs. the angle of the ground-truth mask, both from
//! [`super::geometry`]). Predictions go through the inference path itself ([`Segmenter::segment`]:
//! resize to the network size, normalise, network, margin resized back to the image size,
//! threshold), so the numbers are what `radpipe segment` delivers.
//!
//! Degraded copies (`--degraded`) of each image, at the image's own size so the ground truth stays
//! valid:
//! - `noise`: additive Gaussian noise, σ = 10 grey levels (of 255);
//! - `blur`: Gaussian blur, σ = 1.5 pixels;
//! - `lowres`: 2× down-sampling (2×2 mean) and bilinear up-sampling back.

use std::collections::BTreeMap;

use super::augment::{Rng, blur};
use super::dataset::Sample;
use super::geometry::{fold_axis_angle, measure_mask};
use super::infer::{SegInput, Segmenter, resize_reference};
use super::loss::dice;
use crate::image::{Geometry, HostImage, Pixels};
use crate::{Error, Result};

/// The degradations `evaluate --degraded` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Degradation {
    /// The image as it is.
    Clean,
    /// Gaussian noise σ = 10/255.
    Noise,
    /// Gaussian blur σ = 1.5 px.
    Blur,
    /// 2× down then up.
    Lowres,
}

impl Degradation {
    /// All of them, clean first.
    pub const ALL: [Degradation; 4] = [
        Degradation::Clean,
        Degradation::Noise,
        Degradation::Blur,
        Degradation::Lowres,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Degradation::Clean => "clean",
            Degradation::Noise => "noise",
            Degradation::Blur => "blur",
            Degradation::Lowres => "lowres",
        }
    }
}

/// `image` (u8 display values, `w`×`h`) degraded; `seed` makes the noise reproducible.
pub fn degrade(image: &[u8], w: u32, h: u32, kind: Degradation, seed: u64) -> Vec<u8> {
    let mut v: Vec<f32> = image.iter().map(|&p| f32::from(p)).collect();
    let (wu, hu) = (w as usize, h as usize);
    match kind {
        Degradation::Clean => return image.to_vec(),
        Degradation::Noise => {
            let mut rng = Rng::new(seed);
            v.iter_mut().for_each(|p| *p += 10.0 * rng.normal());
        }
        Degradation::Blur => {
            if wu == hu {
                blur(&mut v, wu, 1.5, 1.5);
            } else {
                // blur() works on squares: pad into one.
                let n = wu.max(hu);
                let mut sq = vec![0.0; n * n];
                for y in 0..hu {
                    sq[y * n..y * n + wu].copy_from_slice(&v[y * wu..(y + 1) * wu]);
                }
                blur(&mut sq, n, 1.5, 1.5);
                for y in 0..hu {
                    v[y * wu..(y + 1) * wu].copy_from_slice(&sq[y * n..y * n + wu]);
                }
            }
        }
        Degradation::Lowres => {
            let (dw, dh) = (w.div_ceil(2), h.div_ceil(2));
            let mut small = vec![0.0f32; dw as usize * dh as usize];
            for y in 0..dh as usize {
                for x in 0..dw as usize {
                    let (mut acc, mut n) = (0.0, 0.0);
                    for (yy, xx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let (sy, sx) = (2 * y + yy, 2 * x + xx);
                        if sy < hu && sx < wu {
                            acc += v[sy * wu + sx];
                            n += 1.0;
                        }
                    }
                    small[y * dw as usize + x] = acc / n;
                }
            }
            v = resize_reference(&small, dw, dh, w, h);
        }
    }
    v.iter()
        .map(|p| p.round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// One image's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImageScore {
    /// Image stem.
    pub name: String,
    /// Site.
    pub site: String,
    /// Degradation applied.
    pub degradation: Degradation,
    /// Dice of the predicted mask against the ground truth.
    pub dice: f64,
    /// |predicted − true| scan-plane angle, degrees (on the 180° circle); `None` when either mask
    /// gives no angle.
    pub angle_error_deg: Option<f64>,
}

/// Scores of one degradation, summarised.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Degradation.
    pub degradation: Degradation,
    /// Mean Dice per site.
    pub site_dice: BTreeMap<String, f64>,
    /// Images per site.
    pub site_count: BTreeMap<String, usize>,
    /// Mean of the per-site means (each site weighs the same).
    pub mean_dice: f64,
    /// The worst site and its mean Dice.
    pub worst_site: Option<(String, f64)>,
    /// Mean Dice over images.
    pub image_mean_dice: f64,
    /// Mean angle error over images with both angles, degrees.
    pub mean_angle_error_deg: Option<f64>,
    /// Median angle error, degrees.
    pub median_angle_error_deg: Option<f64>,
    /// Images without an angle on either side (e.g. an empty prediction).
    pub missing_angles: usize,
}

/// Summarises scores of one degradation.
pub fn summarise(degradation: Degradation, scores: &[ImageScore]) -> Summary {
    let mut per: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut angles = Vec::new();
    let mut missing = 0;
    for s in scores.iter().filter(|s| s.degradation == degradation) {
        per.entry(s.site.clone()).or_default().push(s.dice);
        match s.angle_error_deg {
            Some(a) => angles.push(a),
            None => missing += 1,
        }
    }
    let site_dice: BTreeMap<String, f64> = per
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().sum::<f64>() / v.len() as f64))
        .collect();
    let site_count = per.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let all: Vec<f64> = per.values().flatten().copied().collect();
    let site_means: Vec<f64> = site_dice.values().copied().collect();
    let worst_site = site_dice
        .iter()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(k, v)| (k.clone(), *v));
    angles.sort_by(f64::total_cmp);
    Summary {
        degradation,
        mean_dice: mean(&site_means),
        worst_site,
        image_mean_dice: mean(&all),
        mean_angle_error_deg: (!angles.is_empty()).then(|| mean(&angles)),
        median_angle_error_deg: angles.get(angles.len() / 2).copied(),
        missing_angles: missing,
        site_dice,
        site_count,
    }
}

fn angle_of(mask: &[u8], w: u32, h: u32) -> Option<f64> {
    measure_mask(w, h, mask, &Geometry::default())
        .pixels
        .and_then(|f| f.angle_deg)
}

/// Angle difference on the 180° circle, in [0, 90].
pub fn angle_error(a: f64, b: f64) -> f64 {
    fold_axis_angle(a - b).abs()
}

/// Segments `samples` (after `degradation`) in batches of `batch`, post-processes each mask with
/// `post` and scores it.
pub fn score_samples(
    segmenter: &Segmenter,
    samples: &[Sample],
    degradation: Degradation,
    batch: usize,
    post: crate::seg::postprocess::PostProcess,
    mut progress: impl FnMut(usize),
) -> Result<Vec<ImageScore>> {
    if batch == 0 {
        return Err(Error::InvalidParams("batch size must be at least 1".into()));
    }
    let mut scores = Vec::with_capacity(samples.len());
    for (chunk_index, chunk) in samples.chunks(batch).enumerate() {
        let images: Vec<HostImage> = chunk
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let seed = (chunk_index * batch + i) as u64;
                let pixels = degrade(&s.image, s.width, s.height, degradation, seed);
                HostImage::new(s.width, s.height, Pixels::U8(pixels))
            })
            .collect::<Result<_>>()?;
        let inputs: Vec<SegInput<'_>> = images
            .iter()
            .map(|image| SegInput {
                image,
                window: None,
            })
            .collect();
        let masks = segmenter.segment(&inputs)?;
        for (s, mut m) in chunk.iter().zip(masks) {
            if let Pixels::U8(pred) = &mut m.pixels {
                post.apply(pred, s.width, s.height);
            }
            let Pixels::U8(pred) = &m.pixels else {
                return Err(Error::InvalidImage(
                    "segmenter returned a non-u8 mask".into(),
                ));
            };
            let truth_angle = angle_of(&s.mask, s.width, s.height);
            let pred_angle = angle_of(pred, s.width, s.height);
            scores.push(ImageScore {
                name: s.name.clone(),
                site: s.site.clone(),
                degradation,
                dice: dice(pred, &s.mask),
                angle_error_deg: truth_angle.zip(pred_angle).map(|(t, p)| angle_error(p, t)),
            });
        }
        progress(chunk.len());
    }
    Ok(scores)
}

/// The `n` lowest-Dice images of each site among the `degradation` entries of `scores`, as indices
/// into `scores`: sites worst mean Dice first, each site's images worst first (ties by name, then
/// position), for the contact sheet of `radpipe evaluate --sheet`.
pub fn worst_per_site(
    scores: &[ImageScore],
    degradation: Degradation,
    n: usize,
) -> Vec<(String, Vec<usize>)> {
    let mut per: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in scores.iter().enumerate() {
        if s.degradation == degradation {
            per.entry(&s.site).or_default().push(i);
        }
    }
    let mut sites: Vec<(f64, String, Vec<usize>)> = per
        .into_iter()
        .map(|(site, mut idx)| {
            let mean = idx.iter().map(|&i| scores[i].dice).sum::<f64>() / idx.len() as f64;
            idx.sort_by(|&a, &b| {
                let (x, y) = (&scores[a], &scores[b]);
                x.dice
                    .total_cmp(&y.dice)
                    .then(x.name.cmp(&y.name))
                    .then(a.cmp(&b))
            });
            idx.truncate(n);
            (mean, site.to_string(), idx)
        })
        .collect();
    sites.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    sites
        .into_iter()
        .map(|(_, site, idx)| (site, idx))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_error_wraps_on_the_axis_circle() {
        assert!((angle_error(89.0, -89.0) - 2.0).abs() < 1e-9);
        assert!((angle_error(10.0, 7.5) - 2.5).abs() < 1e-9);
    }

    #[test]
    fn degradations_keep_size_and_clean_is_identity() {
        let img: Vec<u8> = (0..40 * 30).map(|i| (i % 256) as u8).collect();
        for kind in Degradation::ALL {
            let d = degrade(&img, 40, 30, kind, 1);
            assert_eq!(d.len(), img.len());
            if kind == Degradation::Clean {
                assert_eq!(d, img);
            } else {
                assert_ne!(d, img, "{kind:?}");
            }
        }
    }
}
