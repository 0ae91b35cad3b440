//! The SAM training loss: `20 x focal(alpha 0.25, gamma 2) + dice(+1 smoothing) + |IoU-head -
//! actual IoU|` (uncertsam-spec §4.3, SAM 2's `MultiStepMultiMasksAndIous` on one step).

use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use uncertsam_refine::softplus_neg_abs;

/// Weight of the focal term.
pub const FOCAL_WEIGHT: f32 = 20.0;
/// Focal `alpha` (weight of the foreground class).
pub const FOCAL_ALPHA: f32 = 0.25;

/// Per-mask, per-token terms of the loss, each `[b, t]`.
#[derive(Clone, Debug)]
pub struct MaskTerms<B: Backend> {
    /// Focal loss, mean over pixels.
    pub focal: Tensor<B, 2>,
    /// Soft dice loss with +1 smoothing.
    pub dice: Tensor<B, 2>,
    /// IoU of `logits > 0` with the ground truth (no gradient), the IoU head's target.
    pub actual_iou: Tensor<B, 2>,
}

/// Focal, dice and actual IoU of `logits` `[b, t, h, w]` against `gt` `[b, 1, h, w]`: soft
/// targets in `[0, 1]` (the foreground fraction of each cell); the IoU uses `gt > 0.5`.
pub fn mask_terms<B: Backend>(logits: Tensor<B, 4>, gt: Tensor<B, 4>) -> MaskTerms<B> {
    let [b, t, h, w] = logits.dims();
    let y = gt.expand([b, t, h, w]);
    let p = sigmoid(logits.clone());
    // Numerically stable BCE with logits: max(x, 0) - x y + log(1 + exp(-|x|)).
    let ce = relu(logits.clone()) - logits.clone() * y.clone() + softplus_neg_abs(logits.clone());
    let p_t = p.clone() * y.clone() + (p.clone().neg() + 1.0) * (y.clone().neg() + 1.0);
    let alpha_t = y.clone() * FOCAL_ALPHA + (y.clone().neg() + 1.0) * (1.0 - FOCAL_ALPHA);
    let modulator = (p_t.neg() + 1.0).powi_scalar(2);
    let focal = (ce * modulator * alpha_t)
        .reshape([b, t, h * w])
        .mean_dim(2)
        .reshape([b, t]);
    let sum = |x: Tensor<B, 4>| x.reshape([b, t, h * w]).sum_dim(2).reshape([b, t]);
    let inter = sum(p.clone() * y.clone());
    let dice = (inter * 2.0 + 1.0) / (sum(p) + sum(y.clone()) + 1.0);
    let dice = dice.neg() + 1.0;
    let pred = logits.detach().greater_elem(0.0).float();
    let y = y.detach().greater_elem(0.5).float();
    let hard_inter = sum(pred.clone() * y.clone());
    let union = sum(pred + y) - hard_inter.clone();
    let actual_iou = hard_inter / union.clamp_min(1.0);
    MaskTerms {
        focal,
        dice,
        actual_iou,
    }
}

/// The mask part of the loss per mask and token, `[b, t]`: `20 focal + dice`.
pub fn mask_loss<B: Backend>(terms: &MaskTerms<B>) -> Tensor<B, 2> {
    terms.focal.clone() * FOCAL_WEIGHT + terms.dice.clone()
}

/// The IoU-head loss per mask and token, `[b, t]`: `|predicted - actual|`.
pub fn iou_loss<B: Backend>(terms: &MaskTerms<B>, predicted: Tensor<B, 2>) -> Tensor<B, 2> {
    (predicted - terms.actual_iou.clone()).abs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type T = NdArray<f32>;

    #[test]
    fn confident_correct_logits_give_small_loss_and_iou_one() {
        let dev = Default::default();
        let gt = Tensor::<T, 4>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0], [1, 1, 2, 2]),
            &dev,
        );
        let good = gt.clone() * 40.0 - 20.0;
        let bad = good.clone().neg();
        let tg = mask_terms(good, gt.clone());
        let tb = mask_terms(bad, gt);
        let lg: f32 = mask_loss(&tg).into_scalar();
        let lb: f32 = mask_loss(&tb).into_scalar();
        assert!(lg < 1e-3 && lb > 1.0, "{lg} {lb}");
        assert_eq!(tg.actual_iou.into_scalar(), 1.0);
        assert_eq!(tb.actual_iou.into_scalar(), 0.0);
    }
}
