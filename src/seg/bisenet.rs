//! BiSeNetV2 exactly as PaddleSeg 2.8 defines it (`paddleseg/models/bisenet.py`), as a burn module, so
//! a PaddleSeg training checkpoint runs unchanged: the same layers, the same arithmetic and the same
//! parameter names (module fields mirror PaddleSeg's attribute names, tuples stand for its
//! `nn.Sequential`s, so burn's parameter paths are PaddleSeg's names once batch norm's
//! `gamma/beta/running_mean/running_var` are read as `weight/bias/_mean/_variance`).
//!
//! The facts that matter for equal logits:
//! - every convolution built by PaddleSeg's `ConvBN*` helpers uses `padding='same'`, which for a
//!   stride-2 3×3 convolution pads bottom/right only on even sizes (burn's [`PaddingConfig2d::Same`]
//!   computes the same asymmetric padding from the input size at run time); the plain `nn.Conv2D`s
//!   (context block 3×3, 1×1s) use explicit symmetric padding;
//! - every convolution has a bias (paddle's default `bias_attr`), batch norm eps is 1e-5 and eval mode
//!   uses the running statistics;
//! - the guided-aggregation average pool (3×3, stride 2, padding 1) excludes the padding from the
//!   mean (paddle's `exclusive=True`), the stem's max pool pads with −∞;
//! - upsampling is bilinear with `align_corners=False` (half-pixel centres), which burn's
//!   [`InterpolateOptions`] does not default to;
//! - `lambd` scales only the stem (64·λ) and stage-3 (128·λ) widths.
//!
//! Any input size works: with SAME padding each stride-2 stage gives ⌈n/2⌉, and both branches meet at
//! ⌈…⌈n/2⌉…/2⌉ (five times) because the detail branch's 1/8 map is reduced by the same two ceil steps
//! inside the aggregation layer. The logits are interpolated back to the input size, as PaddleSeg
//! does; no padding to a multiple of 32 is needed or done.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, PaddingConfig2d};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

/// The shape of a BiSeNetV2: what PaddleSeg's constructor arguments decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BiSeNetV2Config {
    /// Output classes.
    pub num_classes: usize,
    /// Input channels (3: PaddleSeg reads images as BGR, a grey image as three equal channels).
    pub in_channels: usize,
    /// Semantic-branch stem width, `int(64 · lambd)`.
    pub stem_channels: usize,
    /// Semantic-branch stage-3 width, `int(128 · lambd)`.
    pub stage3_channels: usize,
    /// Bilinear upsampling with `align_corners` (PaddleSeg's BiSeNetV2 default and radpipe's: false).
    pub align_corners: bool,
}

impl BiSeNetV2Config {
    /// `BiSeNetV2(num_classes, lambd, align_corners=False, in_channels=3)` as PaddleSeg builds it.
    pub fn paddleseg(num_classes: usize, lambd: f64) -> Self {
        BiSeNetV2Config {
            num_classes,
            in_channels: 3,
            stem_channels: (64.0 * lambd) as usize,
            stage3_channels: (128.0 * lambd) as usize,
            align_corners: false,
        }
    }

    /// Checks the widths make a network (PaddleSeg's own constraints: the stem halves its width).
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str| Err(crate::Error::InvalidParams(format!("BiSeNetV2: {what}")));
        if self.num_classes == 0 {
            return bad("num_classes must be at least 1");
        }
        if self.in_channels == 0 {
            return bad("in_channels must be at least 1");
        }
        if self.stem_channels < 2 || !self.stem_channels.is_multiple_of(2) {
            return bad(&format!(
                "stem width {} must be even and at least 2 (64·lambd)",
                self.stem_channels
            ));
        }
        if self.stage3_channels == 0 {
            return bad("stage-3 width must be at least 1 (128·lambd)");
        }
        Ok(())
    }

    /// A new network with PaddleSeg's initialisation (Kaiming-normal convolutions, unit batch norms),
    /// lazily materialised on `device`. Call [`BiSeNetV2Config::validate`] first for user input.
    pub fn init(&self, device: &Device) -> BiSeNetV2 {
        let (c1, c3, c4, c5, mid) = (self.stem_channels, self.stage3_channels, 64, 128, 128);
        let d = device;
        BiSeNetV2 {
            db: DetailBranch {
                convs: (
                    ConvBnRelu::new(self.in_channels, 64, 3, 2, d),
                    ConvBnRelu::new(64, 64, 3, 1, d),
                    ConvBnRelu::new(64, 64, 3, 2, d),
                    ConvBnRelu::new(64, 64, 3, 1, d),
                    ConvBnRelu::new(64, 64, 3, 1, d),
                    ConvBnRelu::new(64, 128, 3, 2, d),
                    ConvBnRelu::new(128, 128, 3, 1, d),
                    ConvBnRelu::new(128, 128, 3, 1, d),
                ),
            },
            sb: SemanticBranch {
                stem: StemBlock {
                    conv: ConvBnRelu::new(self.in_channels, c1, 3, 2, d),
                    left: (
                        ConvBnRelu::new(c1, c1 / 2, 1, 1, d),
                        ConvBnRelu::new(c1 / 2, c1, 3, 2, d),
                    ),
                    right: MaxPool2dConfig::new([3, 3])
                        .with_strides([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(),
                    fuse: ConvBnRelu::new(c1 * 2, c1, 3, 1, d),
                },
                stage3: (Ge2::new(c1, c3, 6, d), Ge1::new(c3, c3, 6, d)),
                stage4: (Ge2::new(c3, c4, 6, d), Ge1::new(c4, c4, 6, d)),
                stage5_4: (
                    Ge2::new(c4, c5, 6, d),
                    Ge1::new(c5, c5, 6, d),
                    Ge1::new(c5, c5, 6, d),
                    Ge1::new(c5, c5, 6, d),
                ),
                ce: ContextEmbedding {
                    bn: batch_norm(c5, d),
                    conv_1x1: ConvBnRelu::new(c5, c5, 1, 1, d),
                    conv_3x3: plain_conv(c5, c5, 3, PaddingConfig2d::Explicit(1, 1, 1, 1), d),
                },
            },
            bga: Bga {
                db_branch_keep: (
                    DwConvBn::new(mid, mid, 1, d),
                    plain_conv(mid, mid, 1, PaddingConfig2d::Valid, d),
                ),
                db_branch_down: (
                    ConvBn::new(mid, mid, 3, 2, 1, d),
                    AvgPool2dConfig::new([3, 3])
                        .with_strides([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .with_count_include_pad(false)
                        .init(),
                ),
                sb_branch_keep: (
                    DwConvBn::new(mid, mid, 1, d),
                    plain_conv(mid, mid, 1, PaddingConfig2d::Valid, d),
                ),
                sb_branch_up: ConvBn::new(mid, mid, 3, 1, 1, d),
                conv: ConvBn::new(mid, mid, 3, 1, 1, d),
                align_corners: self.align_corners,
            },
            aux_head1: SegHead::new(c1, c1, self.num_classes, d),
            aux_head2: SegHead::new(c3, c3, self.num_classes, d),
            aux_head3: SegHead::new(c4, c4, self.num_classes, d),
            aux_head4: SegHead::new(c5, c5, self.num_classes, d),
            head: SegHead::new(mid, mid, self.num_classes, d),
            align_corners: self.align_corners,
        }
    }
}

/// Paddle's `param_init.kaiming_normal_init`: normal, std = sqrt(2 / fan_in).
fn kaiming() -> Initializer {
    Initializer::KaimingNormal {
        gain: std::f64::consts::SQRT_2,
        fan_out_only: false,
    }
}

fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
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

fn plain_conv(
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
    fn new(
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
    fn new(c_in: usize, c_out: usize, kernel: usize, stride: usize, d: &Device) -> Self {
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
    fn new(c_in: usize, c_out: usize, stride: usize, d: &Device) -> Self {
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
    fn new(c_in: usize, c_out: usize, expand: usize, d: &Device) -> Self {
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
    fn new(c_in: usize, c_out: usize, expand: usize, d: &Device) -> Self {
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

/// The detail branch: wide and shallow, 1/8 resolution.
#[derive(Module, Debug)]
pub struct DetailBranch {
    /// Stages 1–3.
    #[allow(clippy::type_complexity)]
    pub convs: (
        ConvBnRelu,
        ConvBnRelu,
        ConvBnRelu,
        ConvBnRelu,
        ConvBnRelu,
        ConvBnRelu,
        ConvBnRelu,
        ConvBnRelu,
    ),
}

impl DetailBranch {
    /// The 1/8-resolution detail features.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let c = &self.convs;
        let x = c.1.forward(c.0.forward(x));
        let x = c.4.forward(c.3.forward(c.2.forward(x)));
        c.7.forward(c.6.forward(c.5.forward(x)))
    }
}

/// The stem of the semantic branch (1/4 resolution).
#[derive(Module, Debug)]
pub struct StemBlock {
    /// Stride-2 3×3.
    pub conv: ConvBnRelu,
    /// 1×1 then stride-2 3×3.
    pub left: (ConvBnRelu, ConvBnRelu),
    /// 3×3 stride-2 max pool.
    pub right: MaxPool2d,
    /// 3×3 over both halves.
    pub fuse: ConvBnRelu,
}

impl StemBlock {
    /// Stem features.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv.forward(x);
        let left = self.left.1.forward(self.left.0.forward(x.clone()));
        let right = self.right.forward(x);
        self.fuse.forward(Tensor::cat(vec![left, right], 1))
    }
}

/// The context embedding block (global average, 1×1, broadcast add, 3×3).
#[derive(Module, Debug)]
pub struct ContextEmbedding {
    /// Batch norm of the global average.
    pub bn: BatchNorm,
    /// 1×1 on the normalised average.
    pub conv_1x1: ConvBnRelu,
    /// Plain 3×3 (padding 1) after the broadcast add.
    pub conv_3x3: Conv2d,
}

impl ContextEmbedding {
    /// Context-embedded features.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let gap = x.clone().mean_dim(3).mean_dim(2);
        let y = self.conv_1x1.forward(self.bn.forward(gap));
        self.conv_3x3.forward(y + x)
    }
}

/// The semantic branch: narrow and deep, 1/32 resolution.
#[derive(Module, Debug)]
pub struct SemanticBranch {
    /// Stem (stage 1–2).
    pub stem: StemBlock,
    /// Stage 3 (1/8).
    pub stage3: (Ge2, Ge1),
    /// Stage 4 (1/16).
    pub stage4: (Ge2, Ge1),
    /// Stage 5 (1/32).
    pub stage5_4: (Ge2, Ge1, Ge1, Ge1),
    /// Context embedding.
    pub ce: ContextEmbedding,
}

/// The semantic branch's outputs: per-stage features (for the auxiliary heads) and the final map.
#[derive(Debug, Clone)]
pub struct SemanticFeatures {
    /// Stem output (1/4).
    pub stage2: Tensor<4>,
    /// Stage 3 (1/8).
    pub stage3: Tensor<4>,
    /// Stage 4 (1/16).
    pub stage4: Tensor<4>,
    /// Stage 5 before the context block (1/32).
    pub stage5_4: Tensor<4>,
    /// Context-embedded 1/32 map.
    pub fm: Tensor<4>,
}

impl SemanticBranch {
    /// All stage outputs.
    pub fn forward(&self, x: Tensor<4>) -> SemanticFeatures {
        let stage2 = self.stem.forward(x);
        let stage3 = self.stage3.1.forward(self.stage3.0.forward(stage2.clone()));
        let stage4 = self.stage4.1.forward(self.stage4.0.forward(stage3.clone()));
        let s = &self.stage5_4;
        let stage5_4 =
            s.3.forward(s.2.forward(s.1.forward(s.0.forward(stage4.clone()))));
        let fm = self.ce.forward(stage5_4.clone());
        SemanticFeatures {
            stage2,
            stage3,
            stage4,
            stage5_4,
            fm,
        }
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

/// Bilateral guided aggregation: the detail and semantic maps gate each other.
#[derive(Module, Debug)]
pub struct Bga {
    /// Detail features kept at 1/8: depthwise 3×3 + BN, plain 1×1.
    pub db_branch_keep: (DwConvBn, Conv2d),
    /// Detail features down to 1/32: stride-2 3×3 + BN, exclusive 3×3 stride-2 average pool.
    pub db_branch_down: (ConvBn, AvgPool2d),
    /// Semantic gate at 1/32: depthwise 3×3 + BN, plain 1×1, sigmoid.
    pub sb_branch_keep: (DwConvBn, Conv2d),
    /// Semantic features for the 1/8 gate: 3×3 + BN, upsampled, sigmoid.
    pub sb_branch_up: ConvBn,
    /// Final 3×3 + BN.
    pub conv: ConvBn,
    /// Bilinear `align_corners`.
    pub align_corners: bool,
}

impl Bga {
    /// Aggregated 1/8 features.
    pub fn forward(&self, dfm: Tensor<4>, sfm: Tensor<4>) -> Tensor<4> {
        self.forward_with(dfm, sfm, upsample)
    }

    /// [`Bga::forward`] with the given bilinear resampling ([`upsample`] or [`upsample_matmul`]).
    pub fn forward_with(
        &self,
        dfm: Tensor<4>,
        sfm: Tensor<4>,
        upsample: fn(Tensor<4>, [usize; 2], bool) -> Tensor<4>,
    ) -> Tensor<4> {
        let db_feat_keep = self
            .db_branch_keep
            .1
            .forward(self.db_branch_keep.0.forward(dfm.clone()));
        let db_feat_down = self
            .db_branch_down
            .1
            .forward(self.db_branch_down.0.forward(dfm));
        let sb_feat_keep = sigmoid(
            self.sb_branch_keep
                .1
                .forward(self.sb_branch_keep.0.forward(sfm.clone())),
        );
        let [_, _, h, w] = db_feat_keep.dims();
        let sb_feat_up = sigmoid(upsample(
            self.sb_branch_up.forward(sfm),
            [h, w],
            self.align_corners,
        ));
        let db_feat = db_feat_keep * sb_feat_up;
        let sb_feat = upsample(db_feat_down * sb_feat_keep, [h, w], self.align_corners);
        self.conv.forward(db_feat + sb_feat)
    }
}

/// Segmentation head: 3×3 ConvBNReLU, dropout (training only), 1×1 to classes.
#[derive(Module, Debug)]
pub struct SegHead {
    /// 3×3 ConvBNReLU and dropout 0.1.
    pub conv_3x3: (ConvBnRelu, Dropout),
    /// 1×1 to `num_classes`.
    pub conv_1x1: Conv2d,
}

impl SegHead {
    fn new(c_in: usize, c_mid: usize, classes: usize, d: &Device) -> Self {
        SegHead {
            conv_3x3: (
                ConvBnRelu::new(c_in, c_mid, 3, 1, d),
                DropoutConfig::new(0.1).init(),
            ),
            conv_1x1: plain_conv(c_mid, classes, 1, PaddingConfig2d::Valid, d),
        }
    }

    /// Class logits at the input's resolution.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.conv_3x3.1.forward(self.conv_3x3.0.forward(x));
        self.conv_1x1.forward(x)
    }
}

/// PaddleSeg's BiSeNetV2 (see the module docs).
#[derive(Module, Debug)]
pub struct BiSeNetV2 {
    /// Detail branch.
    pub db: DetailBranch,
    /// Semantic branch.
    pub sb: SemanticBranch,
    /// Guided aggregation.
    pub bga: Bga,
    /// Auxiliary head on the stem (training).
    pub aux_head1: SegHead,
    /// Auxiliary head on stage 3 (training).
    pub aux_head2: SegHead,
    /// Auxiliary head on stage 4 (training).
    pub aux_head3: SegHead,
    /// Auxiliary head on stage 5 (training).
    pub aux_head4: SegHead,
    /// The segmentation head.
    pub head: SegHead,
    /// Bilinear `align_corners`.
    pub align_corners: bool,
}

impl BiSeNetV2 {
    /// Eval-mode logits `[N, num_classes, H, W]` for an input `[N, in_channels, H, W]` — PaddleSeg's
    /// `model(x)[0]` with `model.eval()`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let dfm = self.db.forward(x.clone());
        let s = self.sb.forward(x);
        let logit = self.head.forward(self.bga.forward(dfm, s.fm));
        upsample(logit, [h, w], self.align_corners)
    }

    /// Training-mode logits: the main head and the four auxiliary heads, each at the input size
    /// (PaddleSeg's `model(x)` in train mode, in the same order). Bilinear resampling is done with
    /// [`upsample_matmul`] so that every backend can differentiate it.
    pub fn forward_train(&self, x: Tensor<4>) -> [Tensor<4>; 5] {
        let [_, _, h, w] = x.dims();
        let dfm = self.db.forward(x.clone());
        let s = self.sb.forward(x);
        let up = |t: Tensor<4>| upsample_matmul(t, [h, w], self.align_corners);
        [
            up(self
                .head
                .forward(self.bga.forward_with(dfm, s.fm, upsample_matmul))),
            up(self.aux_head1.forward(s.stage2)),
            up(self.aux_head2.forward(s.stage3)),
            up(self.aux_head3.forward(s.stage4)),
            up(self.aux_head4.forward(s.stage5_4)),
        ]
    }

    /// The configuration this network was built with, read from its parameter shapes.
    pub fn config(&self) -> BiSeNetV2Config {
        let stem = self.sb.stem.conv._conv.weight.lazy_shape();
        let stage3 = self.sb.stage3.0.branch_1.3._conv.weight.lazy_shape();
        let head = self.head.conv_1x1.weight.lazy_shape();
        BiSeNetV2Config {
            num_classes: head[0],
            in_channels: stem[1],
            stem_channels: stem[0],
            stage3_channels: stage3[0],
            align_corners: self.align_corners,
        }
    }
}
