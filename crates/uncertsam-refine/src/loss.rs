//! The SAM loss the paper trains the fusion module with (spec §4.3), summed over masks:
//! `20 focal(alpha 0.25, gamma 2) + dice (+1 smoothing) + |predicted IoU - actual IoU|`, each
//! term from `uncertsam_sam::loss` (the loss the model is trained with) and averaged over masks.

use burn::prelude::*;
use uncertsam_sam::loss::{FOCAL_WEIGHT, iou_loss, mask_terms};

/// The three terms and their weighted sum, each a one-element tensor.
#[derive(Clone, Debug)]
pub struct SamLoss<B: Backend> {
    /// Sigmoid focal loss, mean over masks and pixels.
    pub focal: Tensor<B, 1>,
    /// Soft dice loss, mean over masks.
    pub dice: Tensor<B, 1>,
    /// L1 between predicted IoU and the IoU of `logit > 0`, mean over masks.
    pub iou: Tensor<B, 1>,
    /// `20 focal + dice + iou`.
    pub total: Tensor<B, 1>,
}

/// The SAM loss of `logits` against `gt` in {0, 1}; `iou_pred` is the IoU head's output.
///
/// # Shapes
/// - logits, gt: `[b, h, w]` (the same resolution), iou_pred: `[b]`
pub fn sam_loss<B: Backend>(
    logits: Tensor<B, 3>,
    iou_pred: Tensor<B, 1>,
    gt: Tensor<B, 3>,
) -> SamLoss<B> {
    let b = logits.dims()[0];
    let terms = mask_terms(logits.unsqueeze_dim(1), gt.unsqueeze_dim(1));
    let iou = iou_loss(&terms, iou_pred.reshape([b, 1])).mean();
    let focal = terms.focal.mean();
    let dice = terms.dice.mean();
    let total = focal.clone() * FOCAL_WEIGHT + dice.clone() + iou.clone();
    SamLoss {
        focal,
        dice,
        iou,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::NdArray<f32>;
    type A = burn::backend::Autodiff<B>;

    fn loss_grad() -> Vec<f32> {
        // Large enough for burn-ndarray's SIMD kernels.
        let n = 2 * 64 * 64;
        let v: Vec<f32> = (0..n)
            .map(|i| (i * 7919 % 1001) as f32 / 100.0 - 5.0)
            .collect();
        let g: Vec<f32> = (0..n).map(|i| ((i * 13) % 3 == 0) as u8 as f32).collect();
        let dev = Default::default();
        let x = Tensor::<A, 3>::from_data(TensorData::new(v, [2, 64, 64]), &dev).require_grad();
        let gt = Tensor::<A, 3>::from_data(TensorData::new(g, [2, 64, 64]), &dev);
        let iou = Tensor::<A, 1>::from_data(TensorData::new(vec![0.5f32, 0.5], [2]), &dev);
        let grads = sam_loss(x.clone(), iou, gt).total.backward();
        x.grad(&grads)
            .expect("grad")
            .into_data()
            .to_vec()
            .expect("f32")
    }

    /// The loss's gradient is the same on every run (it was not through `log1p`'s backward).
    #[test]
    fn the_gradient_repeats_exactly() {
        let first = loss_grad();
        for _ in 0..10 {
            assert_eq!(loss_grad(), first);
        }
    }

    #[test]
    fn the_loss_averages_the_per_mask_terms() {
        let d = Default::default();
        let logits = Tensor::<B, 3>::from_floats(
            [[[2.0, -1.0], [0.5, -3.0]], [[-2.0, 1.0], [3.0, 0.25]]],
            &d,
        );
        let gt =
            Tensor::<B, 3>::from_floats([[[1.0, 1.0], [0.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]]], &d);
        let iou_pred = Tensor::<B, 1>::from_floats([0.5, 0.9], &d);
        let l = sam_loss(logits.clone(), iou_pred.clone(), gt.clone());
        let (mut focal, mut dice, mut iou) = (0.0, 0.0, 0.0);
        for i in 0..2 {
            let one = |t: &Tensor<B, 3>| t.clone().slice(i..i + 1).unsqueeze_dim::<4>(1);
            let terms = mask_terms(one(&logits), one(&gt));
            let pred = iou_pred.clone().slice(i..i + 1).reshape([1, 1]);
            focal += terms.focal.clone().into_scalar() / 2.0;
            dice += terms.dice.clone().into_scalar() / 2.0;
            iou += iou_loss(&terms, pred).into_scalar() / 2.0;
        }
        let scalar = |t: Tensor<B, 1>| t.into_scalar();
        assert!((scalar(l.focal) - focal).abs() < 1e-6);
        assert!((scalar(l.dice) - dice).abs() < 1e-6);
        assert!((scalar(l.iou) - iou).abs() < 1e-6);
        assert!((scalar(l.total) - (20.0 * focal + dice + iou)).abs() < 1e-5);
    }
}
