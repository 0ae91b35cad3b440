//! The SAM loss the paper trains the fusion module with (spec §4.3):
//! `20 focal(alpha 0.25, gamma 2) + dice (+1 smoothing) + |predicted IoU - actual IoU|`.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

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

/// `log(1 + exp(-|x|))` (the stable BCE's softplus term), its gradient `-sign(x) sigmoid(-|x|)`
/// computed in the forward pass and applied by a multiplication (straight-through:
/// `value + g (x - x)`, the same value). Used by this loss and by `uncertsam-train`'s.
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

/// The SAM loss of `logits` against `gt` in {0, 1}; `iou_pred` is the IoU head's output.
///
/// # Shapes
/// - logits, gt: `[b, h, w]` (the same resolution), iou_pred: `[b]`
pub fn sam_loss<B: Backend>(
    logits: Tensor<B, 3>,
    iou_pred: Tensor<B, 1>,
    gt: Tensor<B, 3>,
) -> SamLoss<B> {
    let [b, h, w] = logits.dims();
    let (alpha, gamma) = (0.25, 2.0);
    let p = sigmoid(logits.clone());
    // Stable BCE with logits: max(x, 0) - x y + log(1 + exp(-|x|)).
    let ce = logits.clone().clamp_min(0.0) - logits.clone() * gt.clone()
        + softplus_neg_abs(logits.clone());
    let p_t = p.clone() * gt.clone() + (p.clone().neg() + 1.0) * (gt.clone().neg() + 1.0);
    let alpha_t = gt.clone() * alpha + (gt.clone().neg() + 1.0) * (1.0 - alpha);
    let focal = (ce * (p_t.neg() + 1.0).powf_scalar(gamma) * alpha_t).mean();

    let pf = p.reshape([b, h * w]);
    let gf = gt.clone().reshape([b, h * w]);
    let num = (pf.clone() * gf.clone()).sum_dim(1) * 2.0 + 1.0;
    let den = pf.sum_dim(1) + gf.clone().sum_dim(1) + 1.0;
    let dice = (num / den).neg().add_scalar(1.0).mean();

    // The actual IoU is a target: no gradient flows through the binarisation.
    let pred = logits
        .reshape([b, h * w])
        .greater_elem(0.0)
        .float()
        .detach();
    let inter = (pred.clone() * gf.clone()).sum_dim(1);
    let union = pred.sum_dim(1) + gf.sum_dim(1) - inter.clone();
    let actual = (inter / (union + 1e-6)).reshape([b]);
    let iou = (iou_pred - actual).abs().mean();

    let total = focal.clone() * 20.0 + dice.clone() + iou.clone();
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

    fn softplus_grad(f: impl Fn(Tensor<A, 3>) -> Tensor<A, 3>) -> (Vec<f32>, Vec<f32>) {
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

    /// The loss's gradient is the same on every run (it was not through `log1p`'s backward).
    #[test]
    fn the_gradient_repeats_exactly() {
        let first = loss_grad();
        for _ in 0..10 {
            assert_eq!(loss_grad(), first);
        }
    }

    fn scalar(t: Tensor<B, 1>) -> f32 {
        t.into_scalar()
    }

    #[test]
    fn the_loss_matches_hand_computed_values() {
        let d = Default::default();
        let logits = Tensor::<B, 3>::from_floats([[[2.0, -1.0], [0.5, -3.0]]], &d);
        let gt = Tensor::<B, 3>::from_floats([[[1.0, 1.0], [0.0, 0.0]]], &d);
        let iou_pred = Tensor::<B, 1>::from_floats([0.5], &d);
        let l = sam_loss(logits, iou_pred, gt);
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
        let iou = (0.5f64 - 1.0 / 3.0).abs();
        assert!((scalar(l.focal) as f64 - focal).abs() < 1e-6);
        assert!((scalar(l.dice) as f64 - dice).abs() < 1e-6);
        assert!((scalar(l.iou) as f64 - iou).abs() < 1e-5);
        assert!((scalar(l.total) as f64 - (20.0 * focal + dice + iou)).abs() < 1e-4);
    }
}
