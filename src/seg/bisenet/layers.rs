//! PaddleSeg's building blocks with its initialisation and parameter names: SAME-padded convolution +
//! batch norm (with and without ReLU, depthwise), the two gather-and-expand layers, and bilinear
//! upsampling (burn's, and an exact matrix form).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Initializer, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

/// Paddle's `param_init.kaiming_normal_init`: normal, std = sqrt(2 / fan_in).
fn kaiming() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: false,
    }
}

pub(super) fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    // PaddleSeg's BatchNorm2D: eps 1e-5, momentum 0.9 in paddle's convention = 0.1 in burn's.
    BatchNormConfig::new(channels)
        .with_epsilon(1e-5)
        .with_momentum(0.1)
        .init(device)
}

fn conv(
    channels: [usize; 2],
    kernel: usize,
    stride: usize,
    groups: usize,
    padding: PaddingConfig2d,
    device: &Device,
) -> Conv2d {
    let mut conv = Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_groups(groups)
        .with_padding(padding)
        .with_bias(true)
        .with_initializer(kaiming())
        .init(device);
    // Paddle initialises convolution biases to zero.
    conv.bias = Some(Initializer::Zeros.init([channels[1]], device));
    conv
}

pub(super) fn plain_conv(
    c_in: usize,
    c_out: usize,
    kernel: usize,
    padding: PaddingConfig2d,
    device: &Device,
) -> Conv2d {
    conv([c_in, c_out], kernel, 1, 1, padding, device)
}

/// PaddleSeg `layers.ConvBN`: SAME-padded convolution (optionally grouped) then batch norm.
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution.
    pub _conv: Conv2d,
    /// The batch norm.
    pub _batch_norm: BatchNorm,
}

impl ConvBn {
    pub(super) fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        d: &Device,
    ) -> Self {
        ConvBn {
            _conv: conv(
                [c_in, c_out],
                kernel,
                stride,
                groups,
                PaddingConfig2d::Same,
                d,
            ),
            _batch_norm: batch_norm(c_out, d),
        }
    }

    /// Convolution then batch norm.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self._batch_norm.forward(self._conv.forward(x))
    }
}

/// PaddleSeg `layers.ConvBNReLU`: [`ConvBn`] then ReLU (same parameter names).
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    /// The convolution.
    pub _conv: Conv2d,
    /// The batch norm.
    pub _batch_norm: BatchNorm,
}

impl ConvBnRelu {
    pub(super) fn new(c_in: usize, c_out: usize, kernel: usize, stride: usize, d: &Device) -> Self {
        let ConvBn { _conv, _batch_norm } = ConvBn::new(c_in, c_out, kernel, stride, 1, d);
        ConvBnRelu { _conv, _batch_norm }
    }

    /// Convolution, batch norm, ReLU.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self._batch_norm.forward(self._conv.forward(x)))
    }
}

/// PaddleSeg `layers.DepthwiseConvBN`: a 3×3 convolution grouped by input channel (with a channel
/// multiplier when `c_out > c_in`) then batch norm.
#[derive(Module, Debug)]
pub struct DwConvBn {
    /// The grouped convolution with its batch norm.
    pub depthwise_conv: ConvBn,
}

impl DwConvBn {
    pub(super) fn new(c_in: usize, c_out: usize, stride: usize, d: &Device) -> Self {
        DwConvBn {
            depthwise_conv: ConvBn::new(c_in, c_out, 3, stride, c_in, d),
        }
    }

    /// Grouped convolution then batch norm.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.depthwise_conv.forward(x)
    }
}

/// Gather-and-expansion layer, stride 1 (`GatherAndExpansionLayer1`).
#[derive(Module, Debug)]
pub struct Ge1 {
    /// 3×3 conv, depthwise expansion, 1×1 projection.
    pub conv: (ConvBnRelu, DwConvBn, ConvBn),
}

impl Ge1 {
    pub(super) fn new(c_in: usize, c_out: usize, expand: usize, d: &Device) -> Self {
        let e = expand * c_in;
        Ge1 {
            conv: (
                ConvBnRelu::new(c_in, c_in, 3, 1, d),
                DwConvBn::new(c_in, e, 1, d),
                ConvBn::new(e, c_out, 1, 1, 1, d),
            ),
        }
    }

    /// `relu(conv(x) + x)`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (a, b, c) = &self.conv;
        let y = c.forward(b.forward(a.forward(x.clone())));
        relu(y + x)
    }
}

/// Gather-and-expansion layer, stride 2 (`GatherAndExpansionLayer2`).
#[derive(Module, Debug)]
pub struct Ge2 {
    /// 3×3 conv, stride-2 depthwise expansion, depthwise 3×3, 1×1 projection.
    pub branch_1: (ConvBnRelu, DwConvBn, DwConvBn, ConvBn),
    /// Stride-2 depthwise 3×3, 1×1 projection (the shortcut).
    pub branch_2: (DwConvBn, ConvBn),
}

impl Ge2 {
    pub(super) fn new(c_in: usize, c_out: usize, expand: usize, d: &Device) -> Self {
        let e = expand * c_in;
        Ge2 {
            branch_1: (
                ConvBnRelu::new(c_in, c_in, 3, 1, d),
                DwConvBn::new(c_in, e, 2, d),
                DwConvBn::new(e, e, 1, d),
                ConvBn::new(e, c_out, 1, 1, 1, d),
            ),
            branch_2: (
                DwConvBn::new(c_in, c_in, 2, d),
                ConvBn::new(c_in, c_out, 1, 1, 1, d),
            ),
        }
    }

    /// `relu(branch_1(x) + branch_2(x))`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let (a, b, c, e) = &self.branch_1;
        let y1 = e.forward(c.forward(b.forward(a.forward(x.clone()))));
        let (f, g) = &self.branch_2;
        let y2 = g.forward(f.forward(x));
        relu(y1 + y2)
    }
}

/// Bilinear resize of an NCHW tensor to `[h, w]`.
pub fn upsample(x: Tensor<4>, size: [usize; 2], align_corners: bool) -> Tensor<4> {
    if x.dims()[2..] == size {
        return x;
    }
    interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Bilinear)
            .with_align_corners(align_corners)
            .with_output_size(size),
    )
}

/// The `[out, input]` matrix of 1-D bilinear resampling with `align_corners` semantics (half-pixel
/// centres when false, source index clamped at 0 and `input − 1`), as PyTorch/Paddle define it.
pub fn bilinear_matrix(input: usize, out: usize, align_corners: bool) -> Vec<f32> {
    let mut m = vec![0.0f32; out * input];
    for d in 0..out {
        let src = if align_corners {
            if out > 1 {
                d as f64 * (input - 1) as f64 / (out - 1) as f64
            } else {
                0.0
            }
        } else {
            ((d as f64 + 0.5) * input as f64 / out as f64 - 0.5).max(0.0)
        };
        let i0 = (src.floor() as usize).min(input - 1);
        let i1 = (i0 + 1).min(input - 1);
        let l = (src - i0 as f64) as f32;
        m[d * input + i0] += 1.0 - l;
        m[d * input + i1] += l;
    }
    m
}

/// [`upsample`] as two matrix products (`Wy · x · Wxᵀ`): the same resampling, built from operations
/// every burn backend can differentiate (burn 0.22's wgpu backend has no bilinear-interpolate
/// backward), so training uses it on any device.
pub fn upsample_matmul(x: Tensor<4>, size: [usize; 2], align_corners: bool) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    if [h, w] == size {
        return x;
    }
    let device = x.device();
    let wy = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(bilinear_matrix(h, size[0], align_corners), [size[0], h]),
        &device,
    )
    .reshape([1, 1, size[0], h])
    .expand([n, c, size[0], h]);
    let wxt = Tensor::<2>::from_data(
        burn::tensor::TensorData::new(bilinear_matrix(w, size[1], align_corners), [size[1], w]),
        &device,
    )
    .transpose()
    .reshape([1, 1, w, size[1]])
    .expand([n, c, w, size[1]]);
    wy.matmul(x).matmul(wxt)
}
