//! PaddleSeg-exact network input: what `Compose([Resize(target_size), Normalize()])` of PaddleSeg 2.8
//! hands the network, reproduced byte for byte so a model trained there sees here the input it saw
//! there.
//!
//! PaddleSeg 2.8's `Compose` reads an image *path* with `cv2.imread(path, flag).astype('float32')`
//! (its datasets, `val`, `predict` and `deploy/python/infer.py` all pass paths), so its `Resize` —
//! `cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR)` — runs on **float32** pixels, with
//! OpenCV's float bilinear coefficients and no rounding. Only a caller that hands `Compose` an
//! already decoded **uint8** array gets OpenCV's 8-bit fixed-point bilinear (11-bit coefficients,
//! `INTER_RESIZE_COEF_BITS`, the vertical pass rounded back to uint8). The two differ by up to half a
//! grey level, so both are offered:
//!
//! - [`PreprocessKind::Paddleseg`]: PaddleSeg's own pipeline from a file (float32 resize). What a
//!   `.pdparams` checkpoint was trained with.
//! - [`PreprocessKind::PaddlesegU8`]: the transforms applied to a uint8 array (8-bit resize).
//! - [`PreprocessKind::Radpipe`]: radpipe's own path (`shaders/seg_preprocess.wgsl`: two f32 lerps
//!   then `v·gain + bias`), what `radpipe train` trains with.
//!
//! The resize is [`crate::ops::resize`] in [`Sampling::OpenCv`] mode, which follows OpenCV's C++
//! `resize` (coefficients `(float)((d + ½)·scale − ½)` with `scale` in double, columns clamped, rows
//! clamped by index only, exact 2× reductions as `INTER_AREA` block means, `saturate_cast<short>(w ·
//! 2048)` fixed-point weights and `((b0·(S0 >> 4)) >> 16) + ((b1·(S1 >> 4)) >> 16) + 2) >> 2` for 8
//! bits). `Normalize` is numpy's: `im / 255.0` in float32, then `im -= mean` and `im /= std` with
//! float64 operands rounded back to float32 ([`paddle_normalise`]).
//!
//! One caveat, measured by `scripts/make_paddleseg_preprocess_fixtures.py`: the opencv-python wheels
//! are built with Intel IPP, and with `cv2.useOptimized()` (the default) OpenCV hands some float32
//! linear resizes to IPP, whose arithmetic differs from OpenCV's C++ code by a few float32 ulps
//! (≤ 1e-3 grey levels). radpipe follows the C++ code: byte-equal to PaddleSeg with
//! `cv2.setUseOptimized(False)`, within those ulps of it otherwise. The uint8 path never goes to IPP
//! and is byte-equal either way.

use std::path::Path;

use super::Preprocess;
use crate::image::{HostImage, PixelFormat, Pixels};
use crate::ops::resize::{self, ResizeParams};
use crate::ops::warp::Sampling;
use crate::seg::weights::{WeightsFormat, read_metadata};
use crate::{Error, Result};

/// Which preprocessing turns 8-bit display values into the network input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreprocessKind {
    /// radpipe's own: f32 bilinear (two lerps) and `v·gain + bias`; what `radpipe train` uses.
    #[default]
    #[serde(alias = "float")]
    Radpipe,
    /// PaddleSeg 2.8 from a file: uint8 → float32, OpenCV float bilinear, numpy `Normalize`.
    Paddleseg,
    /// PaddleSeg 2.8's transforms on a uint8 array: OpenCV 8-bit fixed-point bilinear, then
    /// `Normalize`.
    PaddlesegU8,
}

/// Weights metadata key recording which preprocessing a model was trained with.
pub const PREPROCESS_KEY: &str = "preprocess";

impl PreprocessKind {
    /// The name used on the command line, in pipeline files, in reports and in weights metadata.
    pub fn name(self) -> &'static str {
        match self {
            PreprocessKind::Radpipe => "radpipe",
            PreprocessKind::Paddleseg => "paddleseg",
            PreprocessKind::PaddlesegU8 => "paddleseg-u8",
        }
    }

    /// Parses `radpipe` (or its alias `float`), `paddleseg` or `paddleseg-u8`.
    pub fn parse(s: &str) -> Result<PreprocessKind> {
        match s {
            "radpipe" | "float" => Ok(PreprocessKind::Radpipe),
            "paddleseg" => Ok(PreprocessKind::Paddleseg),
            "paddleseg-u8" => Ok(PreprocessKind::PaddlesegU8),
            other => Err(Error::InvalidParams(format!(
                "preprocess '{other}': expected radpipe (alias float), paddleseg or paddleseg-u8"
            ))),
        }
    }
}

impl std::fmt::Display for PreprocessKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The preprocessing the model in `path` was trained with, as far as the file says: the
/// [`PREPROCESS_KEY`] of a safetensors file's metadata (`radpipe train` writes it), `paddleseg` for a
/// PaddleSeg checkpoint (`.pdparams`: PaddleSeg 2.8 trains from image files, see the module docs),
/// `None` when the file does not say. An unknown name in the metadata is an error naming the file.
pub fn trained_preprocess(path: &Path) -> Result<Option<PreprocessKind>> {
    match WeightsFormat::of(path)? {
        WeightsFormat::PdParams => Ok(Some(PreprocessKind::Paddleseg)),
        WeightsFormat::Burnpack => Ok(None),
        WeightsFormat::Safetensors => match read_metadata(path)?.get(PREPROCESS_KEY) {
            Some(name) => PreprocessKind::parse(name)
                .map(Some)
                .map_err(|e| Error::format(path, format!("metadata '{PREPROCESS_KEY}': {e}"))),
            None => Ok(None),
        },
    }
}

/// numpy's `Normalize` of one value as PaddleSeg 2.8 computes it on a float32 image: `x = im / 255.0`
/// (float32 division), `x -= mean` and `x /= std` with float64 arrays, each result rounded to float32.
pub fn paddle_normalise(v: f32, mean: f32, std: f32) -> f32 {
    let x = v / 255.0;
    let x = (f64::from(x) - f64::from(mean)) as f32;
    (f64::from(x) / f64::from(std)) as f32
}

/// The resize half of the PaddleSeg path: `display` (8-bit) at the network size as OpenCV resizes
/// it — in float32 for [`PreprocessKind::Paddleseg`], in 8 bits for
/// [`PreprocessKind::PaddlesegU8`] (the values returned are then whole numbers).
pub fn paddle_resize(display: &HostImage, pre: &Preprocess) -> Result<Vec<f32>> {
    let Pixels::U8(values) = &display.pixels else {
        return Err(Error::InvalidParams(format!(
            "PaddleSeg preprocessing takes 8-bit display values, not {} samples",
            display.format()
        )));
    };
    let mut params = ResizeParams::new(pre.width, pre.height);
    params.sampling = Sampling::OpenCv;
    let resized = match pre.kind {
        PreprocessKind::PaddlesegU8 => resize::reference(display, &params)?,
        PreprocessKind::Paddleseg => {
            let float = values.iter().map(|&v| f32::from(v)).collect();
            let float = HostImage::new(display.width, display.height, Pixels::F32(float))?;
            params.out_format = Some(PixelFormat::F32);
            resize::reference(&float, &params)?
        }
        PreprocessKind::Radpipe => {
            return Err(Error::InvalidParams(
                "paddle_resize: radpipe preprocessing has its own resize".into(),
            ));
        }
    };
    Ok(match resized.pixels {
        Pixels::U8(v) => v.into_iter().map(f32::from).collect(),
        Pixels::F32(v) => v,
        other => {
            return Err(Error::InvalidParams(format!(
                "paddle_resize: unexpected {} output",
                other.format()
            )));
        }
    })
}

/// The PaddleSeg network input for `display`: [`paddle_resize`] then [`paddle_normalise`], as
/// `channels` equal planes (PaddleSeg's 3-channel models read a grey image as three equal channels).
pub fn paddle_input(display: &HostImage, pre: &Preprocess, channels: usize) -> Result<Vec<f32>> {
    let plane: Vec<f32> = paddle_resize(display, pre)?
        .into_iter()
        .map(|v| paddle_normalise(v, pre.mean, pre.std))
        .collect();
    let mut out = Vec::with_capacity(plane.len() * channels);
    for _ in 0..channels {
        out.extend_from_slice(&plane);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_float_is_an_alias() {
        for k in [
            PreprocessKind::Radpipe,
            PreprocessKind::Paddleseg,
            PreprocessKind::PaddlesegU8,
        ] {
            assert_eq!(PreprocessKind::parse(k.name()).expect("parse"), k);
        }
        assert_eq!(
            PreprocessKind::parse("float").expect("alias"),
            PreprocessKind::Radpipe
        );
        assert!(PreprocessKind::parse("opencv").is_err());
    }

    #[test]
    fn normalise_is_numpy_order_not_gain_and_bias() {
        assert_eq!(paddle_normalise(0.0, 0.5, 0.5), -1.0);
        assert_eq!(paddle_normalise(255.0, 0.5, 0.5), 1.0);
        // 1/255 rounded to f32 first, then the subtraction: differs from v·gain + bias for some v.
        let pre = Preprocess::square(32);
        let differs = (0..=255)
            .map(|v| v as f32)
            .filter(|&v| paddle_normalise(v, 0.5, 0.5) != v * pre.gain() + pre.bias())
            .count();
        assert!(
            differs > 0,
            "the two normalisations agree on every grey level"
        );
    }
}
