//! The SAM training loss: `20 x focal(alpha 0.25, gamma 2) + dice(+1 smoothing) + |IoU-head -
//! actual IoU|` (uncertsam-spec §4.3; SAM 2's `MultiStepMultiMasksAndIous` on one step), per mask
//! and output token. `uncertsam-train` trains the model with it and `uncertsam-refine` the fusion
//! module.

use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

/// Weight of the focal term.
pub const FOCAL_WEIGHT: f32 = 20.0;
/// Focal `alpha` (weight of the foreground class).
pub const FOCAL_ALPHA: f32 = 0.25;

/// `log(1 + exp(-|x|))` (the stable BCE's softplus term), its gradient `-sign(x) sigmoid(-|x|)`
/// computed in the forward pass and applied by a multiplication (straight-through:
/// `value + g (x - x)`, the same value).
///
/// burn-ndarray's backward of `log1p` (and of `log`) multiplies by `recip`, whose SIMD kernel is
/// an approximate reciprocal while unaligned head and tail elements take the exact scalar path;
/// which elements are which depends on the buffer's address, so autodiff's gradient changed from
/// run to run (by up to 2e-5) and training was not reproducible.
pub fn softplus_neg_abs<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let a = x.clone().detach().abs().neg();
    let grad = sigmoid(a.clone()) * x.clone().detach().sign().neg();
    a.exp().log1p() + (x.clone() - x.detach()) * grad
}

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

/// Focal, dice and actual IoU of `logits` `[b, t, h, w]` against `gt` `[b, 1, h, w]`: targets in
/// `[0, 1]` (soft ones, such as the foreground fraction of each cell, allowed); the IoU uses
/// `gt > 0.5`, and an empty union gives IoU 0.
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

    type T = burn::backend::NdArray<f32>;
    type A = burn::backend::Autodiff<T>;

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

    #[test]
    fn the_terms_match_hand_computed_values() {
        let d = Default::default();
        let logits = Tensor::<T, 4>::from_floats([[[[2.0, -1.0], [0.5, -3.0]]]], &d);
        let gt = Tensor::<T, 4>::from_floats([[[[1.0, 1.0], [0.0, 0.0]]]], &d);
        let terms = mask_terms(logits, gt);
        let iou = iou_loss(&terms, Tensor::from_floats([[0.5]], &d));
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let (xs, ys) = ([2.0, -1.0, 0.5, -3.0], [1.0, 1.0, 0.0, 0.0]);
        let mut focal = 0.0;
        let (mut inter, mut ps) = (0.0, 0.0);
        for (&x, &y) in xs.iter().zip(&ys) {
            let p: f64 = sig(x);
            let ce = -(y * p.ln() + (1.0 - y) * (1.0 - p).ln());
            let pt = p * y + (1.0 - p) * (1.0 - y);
            let at = 0.25 * y + 0.75 * (1.0 - y);
            focal += at * ce * (1.0 - pt).powi(2) / 4.0;
            inter += p * y;
            ps += p;
        }
        let dice = 1.0 - (2.0 * inter + 1.0) / (ps + 2.0 + 1.0);
        // Predicted mask {0, 2}, GT {0, 1}: IoU 1/3.
        let scalar = |t: Tensor<T, 2>| f64::from(t.into_scalar());
        assert!((scalar(terms.focal.clone()) - focal).abs() < 1e-6);
        assert!((scalar(terms.dice.clone()) - dice).abs() < 1e-6);
        assert!((scalar(terms.actual_iou.clone()) - 1.0 / 3.0).abs() < 1e-6);
        assert!((scalar(iou) - (0.5 - 1.0 / 3.0)).abs() < 1e-6);
        assert!((scalar(mask_loss(&terms)) - (20.0 * focal + dice)).abs() < 1e-5);
    }

    fn softplus_grad(f: impl Fn(Tensor<A, 3>) -> Tensor<A, 3>) -> (Vec<f32>, Vec<f32>) {
        // Large enough for burn-ndarray's SIMD kernels.
        let n = 3 * 64 * 64;
        let v: Vec<f32> = (0..n)
            .map(|i| (i * 7919 % 1001) as f32 / 100.0 - 5.0)
            .collect();
        let x = Tensor::<A, 3>::from_data(TensorData::new(v, [3, 64, 64]), &Default::default())
            .require_grad();
        let y = f(x.clone());
        let value = y.clone().into_data().to_vec().expect("f32");
        let g = y.sum().backward();
        let grad = x.grad(&g).expect("grad").into_data().to_vec().expect("f32");
        (value, grad)
    }

    /// The straight-through softplus has the plain expression's value exactly, its gradient
    /// (which autodiff computes through an approximate SIMD reciprocal, to about 1e-4), and the
    /// same gradient on every run.
    #[test]
    fn softplus_neg_abs_matches_the_plain_expression_and_repeats() {
        let (plain_value, plain_grad) = softplus_grad(|x| x.abs().neg().exp().log1p());
        let (value, grad) = softplus_grad(softplus_neg_abs);
        assert_eq!(value, plain_value);
        let worst = grad
            .iter()
            .zip(&plain_grad)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-3, "gradient differs by {worst}");
        for _ in 0..10 {
            assert_eq!(softplus_grad(softplus_neg_abs).1, grad);
        }
    }
}
