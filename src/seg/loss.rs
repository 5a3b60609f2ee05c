//! Training loss for the two-class segmentation: pixel-wise cross-entropy plus a soft Dice term on the
//! foreground probability, summed over BiSeNetV2's main head and its four auxiliary heads.
//!
//! The corpus callosum covers about 1 % of a mid-sagittal slice, so cross-entropy alone is dominated by
//! the background; the soft Dice term (per image, `1 − (2·Σpt + 1)/(Σp + Σt + 1)`) weighs the small
//! structure's overlap directly.

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;

/// Weights of the loss terms.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossWeights {
    /// Weight of the soft Dice term relative to cross-entropy (per head).
    pub dice: f32,
    /// Weight of each auxiliary head's loss relative to the main head's.
    pub aux: f32,
}

impl Default for LossWeights {
    fn default() -> Self {
        LossWeights {
            dice: 1.0,
            aux: 0.4,
        }
    }
}

/// Cross-entropy + `dice_weight` · soft Dice of logits `[N, 2, H, W]` against a 0/1 target
/// `[N, H, W]`, as a one-element tensor.
pub fn head_loss(logits: Tensor<4>, target: Tensor<3>, dice_weight: f32) -> Tensor<1> {
    let [n, _, h, w] = logits.dims();
    let logp = log_softmax(logits, 1);
    let fg = target.unsqueeze_dim::<4>(1);
    let bg = fg.clone().neg().add_scalar(1.0);
    let onehot = Tensor::cat(vec![bg, fg.clone()], 1);
    let ce = (logp.clone() * onehot).sum_dim(1).mean().neg();
    if dice_weight == 0.0 {
        return ce;
    }
    let p = logp.narrow(1, 1, 1).exp().reshape([n, h * w]);
    let t = fg.reshape([n, h * w]);
    let inter = (p.clone() * t.clone()).sum_dim(1);
    let denom = p.sum_dim(1) + t.sum_dim(1);
    let dice = inter.mul_scalar(2.0).add_scalar(1.0) / denom.add_scalar(1.0);
    let dice_loss = dice.mean().neg().add_scalar(1.0);
    ce + dice_loss.mul_scalar(dice_weight)
}

/// The total loss of BiSeNetV2's five training outputs (main head first).
pub fn total_loss(outputs: [Tensor<4>; 5], target: Tensor<3>, weights: LossWeights) -> Tensor<1> {
    let [main, a1, a2, a3, a4] = outputs;
    let mut loss = head_loss(main, target.clone(), weights.dice);
    for aux in [a1, a2, a3, a4] {
        loss = loss + head_loss(aux, target.clone(), weights.dice).mul_scalar(weights.aux);
    }
    loss
}

/// Dice of two binary masks (non-zero = foreground); 1 when both are empty.
pub fn dice(pred: &[u8], truth: &[u8]) -> f64 {
    let (mut inter, mut p, mut t) = (0usize, 0usize, 0usize);
    for (&a, &b) in pred.iter().zip(truth) {
        let (a, b) = (a != 0, b != 0);
        inter += usize::from(a && b);
        p += usize::from(a);
        t += usize::from(b);
    }
    if p + t == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (p + t) as f64
    }
}
