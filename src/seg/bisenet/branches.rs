//! The network's parts above the building blocks: the detail branch, the semantic branch (stem,
//! stages, context embedding), the bilateral guided aggregation and the segmentation heads.

use super::layers::{ConvBn, ConvBnRelu, DwConvBn, Ge1, Ge2, plain_conv, upsample};
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, MaxPool2d};
use burn::nn::{BatchNorm, Dropout, DropoutConfig, PaddingConfig2d};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

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
    pub(super) fn new(c_in: usize, c_mid: usize, classes: usize, d: &Device) -> Self {
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
