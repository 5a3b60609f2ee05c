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
//!   [`InterpolateOptions`](burn::tensor::ops::InterpolateOptions) does not default to;
//! - `lambd` scales only the stem (64·λ) and stage-3 (128·λ) widths.
//!
//! Any input size works: with SAME padding each stride-2 stage gives ⌈n/2⌉, and both branches meet at
//! ⌈…⌈n/2⌉…/2⌉ (five times) because the detail branch's 1/8 map is reduced by the same two ceil steps
//! inside the aggregation layer. The logits are interpolated back to the input size, as PaddleSeg
//! does; no padding to a multiple of 32 is needed or done.
//!
//! - `layers`: PaddleSeg's building blocks (`ConvBN`, `ConvBNReLU`, depthwise, the two gather-
//!   and-expand layers) and bilinear upsampling.
//! - `branches`: the detail and semantic branches, the aggregation layer and the heads.
//! - here: the configuration, which builds the whole network, and the network itself.

mod branches;
mod layers;

pub use branches::{
    Bga, ContextEmbedding, DetailBranch, SegHead, SemanticBranch, SemanticFeatures, StemBlock,
};
pub use layers::{
    ConvBn, ConvBnRelu, DwConvBn, Ge1, Ge2, bilinear_matrix, upsample, upsample_matmul,
};

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{AvgPool2dConfig, MaxPool2dConfig};
use burn::tensor::{Device, Tensor};
use layers::{batch_norm, plain_conv};

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
