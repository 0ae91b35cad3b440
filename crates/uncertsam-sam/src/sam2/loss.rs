//! SAM 2's training loss, `MultiStepMultiMasksAndIous` of the official `training/loss_fns.py`:
//! for every frame and prediction step, focal (alpha 0.25, gamma 2) and dice (+1 smoothing)
//! losses of every output mask, of which only the mask with the smallest
//! `weight_mask focal + weight_dice dice` counts (the multimask min-loss selection); an IoU loss
//! (L1 or MSE between the predicted and the actual IoU of `logits > 0`) on that mask or averaged
//! over all (`supervise_all_iou`); all three only for objects present in the target; and a
//! sigmoid focal loss of the object-score logits against "the target is not empty". Every term
//! is divided by the number of objects (one process: the batch's, at least 1) and summed over
//! objects, steps and frames. The per-pixel terms are [`crate::loss::mask_terms`], the loss SAM
//! v1 training and the fusion module use. Parity with the official code is tested on
//! `fixtures/sam2_loss` (made by its `generate.py`).

use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::loss::{mask_terms, softplus_neg_abs};

/// Settings of the loss; [`Sam2LossConfig::default`] is the official sam2.1 training configs'
/// (`weight_dict` 20 / 1 / 1 / 1, `supervise_all_iou`, `iou_use_l1_loss`, `pred_obj_scores`,
/// object-score focal with gamma 0 and no alpha, i.e. plain BCE).
#[derive(Clone, Debug, PartialEq)]
pub struct Sam2LossConfig {
    /// Weight of the focal mask loss (`loss_mask`).
    pub weight_mask: f32,
    /// Weight of the dice loss (`loss_dice`).
    pub weight_dice: f32,
    /// Weight of the IoU loss (`loss_iou`).
    pub weight_iou: f32,
    /// Weight of the object-score loss (`loss_class`).
    pub weight_class: f32,
    /// The IoU loss averages over every output mask instead of the selected one.
    pub supervise_all_iou: bool,
    /// L1 instead of MSE for the IoU loss.
    pub iou_use_l1_loss: bool,
    /// Compute the object-score loss and gate the mask losses by object presence.
    pub pred_obj_scores: bool,
    /// Focal gamma of the object-score loss.
    pub focal_gamma_obj_score: f32,
    /// Focal alpha of the object-score loss (`None`: the official `-1`, no weighting).
    pub focal_alpha_obj_score: Option<f32>,
}

impl Default for Sam2LossConfig {
    fn default() -> Self {
        Self {
            weight_mask: 20.0,
            weight_dice: 1.0,
            weight_iou: 1.0,
            weight_class: 1.0,
            supervise_all_iou: true,
            iou_use_l1_loss: true,
            pred_obj_scores: true,
            focal_gamma_obj_score: 0.0,
            focal_alpha_obj_score: None,
        }
    }
}

/// One prediction step of a frame.
#[derive(Clone, Debug)]
pub struct Sam2Step<B: Backend> {
    /// Mask logits at the target's resolution, `[n, m, h, w]` (`m` 1 or 3).
    pub masks: Tensor<B, 4>,
    /// Predicted IoUs, `[n, m]`.
    pub ious: Tensor<B, 2>,
    /// Object-score logits, `[n, 1]`.
    pub object_score_logits: Tensor<B, 2>,
}

/// One frame: its prediction steps and its targets.
#[derive(Clone, Debug)]
pub struct Sam2Frame<B: Backend> {
    /// The steps (e.g. the initial prompt, then corrective clicks).
    pub steps: Vec<Sam2Step<B>>,
    /// Target masks in {0, 1}, `[n, h, w]`.
    pub targets: Tensor<B, 3>,
}

/// The summed terms and their weighted total, each a one-element tensor.
#[derive(Clone, Debug)]
pub struct Sam2Losses<B: Backend> {
    /// `loss_mask` (focal).
    pub mask: Tensor<B, 1>,
    /// `loss_dice`.
    pub dice: Tensor<B, 1>,
    /// `loss_iou`.
    pub iou: Tensor<B, 1>,
    /// `loss_class` (object score).
    pub class: Tensor<B, 1>,
    /// `core_loss`: the weighted sum of the terms with a non-zero weight.
    pub core: Tensor<B, 1>,
}

/// Sigmoid focal loss of `[n, 1]` logits against `[n, 1]` targets, `mean(1).sum() / objects`.
fn object_score_loss<B: Backend>(
    logits: Tensor<B, 2>,
    target: Tensor<B, 2>,
    objects: f32,
    gamma: f32,
    alpha: Option<f32>,
) -> Tensor<B, 1> {
    let p = sigmoid(logits.clone());
    let ce = relu(logits.clone()) - logits.clone() * target.clone() + softplus_neg_abs(logits);
    let mut loss = ce;
    if gamma != 0.0 {
        let p_t = p.clone() * target.clone() + (p.neg() + 1.0) * (target.clone().neg() + 1.0);
        loss = loss * (p_t.neg() + 1.0).powf_scalar(gamma);
    }
    if let Some(a) = alpha {
        loss = loss * (target.clone() * a + (target.neg() + 1.0) * (1.0 - a));
    }
    loss.mean_dim(1).sum() / objects
}

/// The loss of `frames` (each with the same number of objects `n`).
pub fn multi_step_loss<B: Backend>(
    frames: &[Sam2Frame<B>],
    config: &Sam2LossConfig,
) -> Sam2Losses<B> {
    let device = frames
        .first()
        .map(|f| f.targets.device())
        .unwrap_or_default();
    let zero = || Tensor::<B, 1>::zeros([1], &device);
    let objects = frames.first().map_or(1, |f| f.targets.dims()[0]).max(1) as f32;
    let (mut mask, mut dice, mut iou, mut class) = (zero(), zero(), zero(), zero());
    for frame in frames {
        let [n, h, w] = frame.targets.dims();
        let target = frame.targets.clone().reshape([n, 1, h, w]);
        let present = if config.pred_obj_scores {
            target
                .clone()
                .reshape([n, h * w])
                .greater_elem(0.0)
                .float()
                .max_dim(1) // [n, 1]
        } else {
            Tensor::ones([n, 1], &device)
        };
        for step in &frame.steps {
            let m = step.masks.dims()[1];
            let terms = mask_terms(step.masks.clone(), target.clone());
            let focal = terms.focal.clone() / objects;
            let dsc = terms.dice.clone() / objects;
            let diff = step.ious.clone() - terms.actual_iou.clone();
            let iou_all = if config.iou_use_l1_loss {
                diff.abs()
            } else {
                diff.powi_scalar(2)
            } / objects;
            let (l_mask, l_dice, l_iou) = if m > 1 {
                let combo = focal.clone() * config.weight_mask + dsc.clone() * config.weight_dice;
                let best = combo.argmin(1); // [n, 1]
                let l_iou = if config.supervise_all_iou {
                    iou_all.mean_dim(1)
                } else {
                    iou_all.gather(1, best.clone())
                };
                (focal.gather(1, best.clone()), dsc.gather(1, best), l_iou)
            } else {
                (focal, dsc, iou_all)
            };
            mask = mask + (l_mask * present.clone()).sum();
            dice = dice + (l_dice * present.clone()).sum();
            iou = iou + (l_iou * present.clone()).sum();
            if config.pred_obj_scores {
                class = class
                    + object_score_loss(
                        step.object_score_logits.clone(),
                        present.clone(),
                        objects,
                        config.focal_gamma_obj_score,
                        config.focal_alpha_obj_score,
                    );
            }
        }
    }
    let mut core = zero();
    for (weight, term) in [
        (config.weight_mask, &mask),
        (config.weight_dice, &dice),
        (config.weight_iou, &iou),
        (config.weight_class, &class),
    ] {
        if weight != 0.0 {
            core = core + term.clone() * weight;
        }
    }
    Sam2Losses {
        mask,
        dice,
        iou,
        class,
        core,
    }
}
