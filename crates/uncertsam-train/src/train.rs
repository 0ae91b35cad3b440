//! What every training loop shares (optimiser settings, the loss curve, low-resolution targets,
//! prompt batching) and the SAM v1 step loss ([`step_loss`]; SAM 2's is [`crate::sam2_step`],
//! the loop of either family [`crate::train_loop`]).

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::{Embedding, ImageEmbedding, PromptBatch, PromptRow, Prompts, Sam};

use crate::data::{ClickGrid, TrainImage, box_prompts, corrective_clicks, point_prompts};
use uncertsam_sam::loss::{iou_loss, mask_loss, mask_terms};

/// Optimiser settings shared by both loops.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OptimSettings {
    /// Epochs over the training images.
    pub epochs: usize,
    /// Images per optimiser step.
    pub batch_images: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Fraction of the steps spent on the linear warm-up.
    pub warmup_fraction: f64,
    /// Final learning rate as a fraction of the peak (cosine decay).
    pub final_lr_fraction: f64,
    /// AdamW decoupled weight decay (all trainable parameters).
    pub weight_decay: f32,
    /// Per-parameter gradient L2-norm clip (burn's `GradientClippingConfig::Norm`).
    pub grad_clip_norm: f32,
    /// SAM 2 only: the first steps of this loop during which the decoder's high-resolution
    /// features are held at their zero initial value (see [`crate::sam2_step`]); 0 (not
    /// written) for SAM v1 and every stage after the first.
    #[serde(skip_serializing_if = "is_zero")]
    pub high_res_warmup_steps: usize,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl OptimSettings {
    /// Optimiser steps of a loop over `images` images: batches per epoch times epochs.
    pub fn steps(&self, images: usize) -> usize {
        images.div_ceil(self.batch_images.max(1)) * self.epochs
    }

    /// The learning rate at `step` of `total`: linear warm-up, then cosine decay.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        let warm = ((total as f64 * self.warmup_fraction).round() as usize).max(1);
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        let t = (step - warm) as f64 / (total - warm).max(1) as f64;
        let lo = self.lr * self.final_lr_fraction;
        lo + 0.5 * (self.lr - lo) * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
    }
}

/// What one training loop reports.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Curve {
    /// Mean training loss of each epoch.
    pub loss_per_epoch: Vec<f64>,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Ground-truth masks on the low-resolution logit grid, `[k, low_h, low_w]` row-major: each
/// logit cell covers `img_size / low` model-input pixels a side; the value is the fraction of
/// them (sampled at their centres, mapped back to the original image by the resize) that are
/// foreground, 0 in the padding.
pub fn low_res_targets(
    masks: &[uncertsam_data::Mask],
    input_size: [usize; 2],
    img_size: usize,
    low: [usize; 2],
) -> Vec<f32> {
    let (fy, fx) = (img_size / low[0].max(1), img_size / low[1].max(1));
    let mut out = Vec::with_capacity(masks.len() * low[0] * low[1]);
    for m in masks {
        let (oh, ow) = (m.height(), m.width());
        let sy = oh as f64 / input_size[0].max(1) as f64;
        let sx = ow as f64 / input_size[1].max(1) as f64;
        for i in 0..low[0] {
            for j in 0..low[1] {
                let mut hits = 0u32;
                for y in i * fy..(i + 1) * fy {
                    for x in j * fx..(j + 1) * fx {
                        if y < input_size[0] && x < input_size[1] {
                            let oy = (((y as f64 + 0.5) * sy) as usize).min(oh - 1);
                            let ox = (((x as f64 + 0.5) * sx) as usize).min(ow - 1);
                            hits += u32::from(m.get(ox, oy));
                        }
                    }
                }
                out.push(hits as f32 / (fy * fx).max(1) as f32);
            }
        }
    }
    out
}

/// Concatenates per-image prompts (same structure) into one decoder batch.
pub(crate) fn cat_prompts<A: AutodiffBackend>(parts: Vec<Prompts<A>>) -> Prompts<A> {
    let mut points = Vec::new();
    let mut labels = Vec::new();
    let mut boxes = Vec::new();
    let mut masks = Vec::new();
    for p in parts {
        if let Some(m) = p.masks {
            masks.push(m);
        }
        if let Some((pt, l)) = p.points {
            points.push(pt);
            labels.push(l);
        }
        if let Some(b) = p.boxes {
            boxes.push(b);
        }
    }
    Prompts {
        points: (!points.is_empty()).then(|| (Tensor::cat(points, 0), Tensor::cat(labels, 0))),
        boxes: (!boxes.is_empty()).then(|| Tensor::cat(boxes, 0)),
        masks: (!masks.is_empty()).then(|| Tensor::cat(masks, 0)),
    }
}

/// The loss of one step, all masks of all its images in three decoder calls: a box call
/// (token 0), a point call with `n` points per mask (`n` in 1..=3 drawn per step; for one
/// point the min-loss of the three multimask tokens, else token 0) and a corrective call (the
/// box, clicks on the box call's errors and / or its logits as mask prompt; token 0), averaged.
pub(crate) fn step_loss<A: AutodiffBackend>(
    model: &Sam<A>,
    embs: &[Embedding<A>],
    items: &[&TrainImage],
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<Tensor<A, 1>> {
    let device = model.device();
    let low = model.config().low_res_size();
    let k: usize = items.iter().map(|it| it.masks.len()).sum();
    let mut gt = Vec::with_capacity(k * low[0] * low[1]);
    let mut rows = Vec::with_capacity(k);
    for (emb, it) in embs.iter().zip(items) {
        gt.extend(low_res_targets(
            &it.masks,
            emb.input_size,
            model.config().img_size,
            low,
        ));
        rows.extend(std::iter::repeat_n(emb.embeddings.clone(), it.masks.len()));
    }
    let gt_host = gt.clone();
    let gt = Tensor::<A, 4>::from_data(TensorData::new(gt, [k, 1, low[0], low[1]]), &device);
    let joint = ImageEmbedding {
        embeddings: Tensor::cat(rows, 0),
        input_size: embs[0].input_size,
        original_size: embs[0].original_size,
    };

    // Box prompts: the single-mask token.
    let boxes: Vec<PromptBatch> = items.iter().map(|it| box_prompts(&it.masks, rng)).collect();
    let mut parts = Vec::with_capacity(items.len());
    for (emb, b) in embs.iter().zip(&boxes) {
        parts.push(b.build(model, emb)?);
    }
    let out = model.decode(&joint, &cat_prompts(parts), false)?;
    let first: Vec<f32> = out.low_res_logits.clone().detach().into_data().to_vec()?;
    let terms = mask_terms(out.low_res_logits, gt.clone());
    let box_loss = (mask_loss(&terms) + iou_loss(&terms, out.iou_predictions)).mean();

    // Corrective pass, as the refinement variants prompt: the same box plus 0-2 clicks from
    // the box pass's error region, with the box pass's logits as mask prompt (always with no
    // click, else with probability 1/2); the single-mask token.
    let clicks = rng.random_range(0..=2usize);
    let with_mask = clicks == 0 || rng.random_bool(0.5);
    let cells = low[0] * low[1];
    let mut parts = Vec::with_capacity(items.len());
    let mut row = 0;
    for ((emb, it), b) in embs.iter().zip(items).zip(&boxes) {
        let grid = ClickGrid {
            low,
            img_size: model.config().img_size,
            input_size: emb.input_size,
            original_size: emb.original_size,
        };
        let mut batch = PromptBatch::new();
        for r in &b.rows {
            let span = row * cells..(row + 1) * cells;
            let logits = &first[span.clone()];
            batch = batch.with_row(PromptRow {
                points: corrective_clicks(logits, &gt_host[span], grid, clicks, rng),
                bbox: r.bbox,
                mask: with_mask.then(|| logits.to_vec()),
            });
            row += 1;
        }
        debug_assert_eq!(batch.rows.len(), it.masks.len());
        parts.push(batch.build(model, emb)?);
    }
    let out = model.decode(&joint, &cat_prompts(parts), false)?;
    let terms = mask_terms(out.low_res_logits, gt.clone());
    let fix_loss = (mask_loss(&terms) + iou_loss(&terms, out.iou_predictions)).mean();

    // Point prompts.
    let smallest = items
        .iter()
        .flat_map(|it| it.masks.iter().map(uncertsam_data::Mask::area))
        .min()
        .unwrap_or(1)
        .max(1) as usize;
    let n = rng.random_range(1..=3usize).min(smallest);
    let mut parts = Vec::with_capacity(items.len());
    for (emb, it) in embs.iter().zip(items) {
        parts.push(point_prompts(&it.masks, n, rng).build(model, emb)?);
    }
    let multimask = n == 1;
    let out = model.decode(&joint, &cat_prompts(parts), multimask)?;
    let terms = mask_terms(out.low_res_logits, gt);
    let per_token = mask_loss(&terms); // [k, t]
    let iou = iou_loss(&terms, out.iou_predictions).mean();
    let point_loss = if multimask {
        let t = per_token.dims()[1];
        let values: Vec<f32> = per_token.clone().detach().into_data().to_vec()?;
        let mut onehot = vec![0f32; k * t];
        for (r, row) in values.chunks(t).enumerate() {
            let best = row
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            onehot[r * t + best] = 1.0;
        }
        let onehot = Tensor::<A, 2>::from_data(TensorData::new(onehot, [k, t]), &device);
        (per_token * onehot).sum_dim(1).mean() + iou
    } else {
        per_token.mean() + iou
    };
    Ok((box_loss + point_loss + fix_loss) / 3.0)
}
