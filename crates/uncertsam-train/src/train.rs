//! The training loops: the whole model end to end, and decoder-only ensemble members on the
//! frozen encoder's precomputed embeddings.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::{ImageEmbedding, PromptBatch, PromptRow, Prompts, Sam, preprocess_shape};

use crate::data::{
    ClickGrid, FLIPS, Flip, TrainImage, box_prompts, corrective_clicks, flipped, point_prompts,
};
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
}

impl OptimSettings {
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
fn cat_prompts<A: AutodiffBackend>(parts: Vec<Prompts<A>>) -> Prompts<A> {
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
fn step_loss<A: AutodiffBackend>(
    model: &Sam<A>,
    embs: &[ImageEmbedding<A>],
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

/// Where image embeddings come from during training.
pub enum Embeddings<'a, B: Backend> {
    /// Run the (trainable) encoder on every step.
    Encoder,
    /// Precomputed by the frozen encoder: `cache[image][flip]`.
    Frozen(&'a [Vec<Tensor<B, 4>>]),
}

fn embed_batch<A: AutodiffBackend>(
    model: &Sam<A>,
    items: &[(usize, Flip, TrainImage)],
    source: &Embeddings<'_, A::InnerBackend>,
) -> Vec<ImageEmbedding<A>> {
    match source {
        Embeddings::Encoder => {
            let images: Vec<&RgbImage> = items.iter().map(|(_, _, it)| &it.image).collect();
            model.embed_many(&images, images.len())
        }
        Embeddings::Frozen(cache) => items
            .iter()
            .map(|(i, f, it)| {
                let [h, w] = [it.image.height() as usize, it.image.width() as usize];
                ImageEmbedding {
                    embeddings: Tensor::from_inner(cache[*i][*f as usize].clone()),
                    input_size: preprocess_shape(h, w, model.config().img_size),
                    original_size: [h, w],
                }
            })
            .collect(),
    }
}

/// Trains `model` on `images` with random flips and the box / point prompt mix; `label` names
/// the progress bar. Returns the trained model and its loss curve.
pub fn train_loop<A: AutodiffBackend>(
    mut model: Sam<A>,
    images: &[TrainImage],
    source: &Embeddings<'_, A::InnerBackend>,
    settings: &OptimSettings,
    seed: u64,
    label: &str,
) -> anyhow::Result<(Sam<A>, Curve)> {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(settings.weight_decay)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(settings.grad_clip_norm)))
        .init::<A, Sam<A>>();
    let per_epoch = images.len().div_ceil(settings.batch_images.max(1));
    let total = per_epoch * settings.epochs;
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} steps, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(label.to_owned());
    let mut curve = Curve::default();
    let mut step = 0;
    for epoch in 0..settings.epochs {
        let mut order: Vec<usize> = (0..images.len()).collect();
        order.shuffle(&mut rng);
        let mut epoch_loss = 0.0;
        for chunk in order.chunks(settings.batch_images.max(1)) {
            let items: Vec<(usize, Flip, TrainImage)> = chunk
                .iter()
                .map(|&i| {
                    let f: Flip = rng.random_range(0..FLIPS);
                    (i, f, flipped(&images[i], f))
                })
                .collect();
            let embs = embed_batch(&model, &items, source);
            let refs: Vec<&TrainImage> = items.iter().map(|(_, _, it)| it).collect();
            let loss = step_loss(&model, &embs, &refs, &mut rng)?;
            let value: f32 = loss.clone().into_scalar().elem();
            anyhow::ensure!(value.is_finite(), "{label}: non-finite loss at step {step}");
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(settings.lr_at(step, total), model, grads);
            epoch_loss += f64::from(value) * chunk.len() as f64;
            step += 1;
            bar.inc(1);
            bar.set_message(format!("epoch {} loss {value:.4}", epoch + 1));
        }
        let mean = epoch_loss / images.len() as f64;
        curve.loss_per_epoch.push(mean);
        bar.println(format!(
            "{label}: epoch {}/{} loss {mean:.4} ({:.0} s)",
            epoch + 1,
            settings.epochs,
            start.elapsed().as_secs_f64()
        ));
        if bar.is_hidden() {
            eprintln!(
                "{label}: epoch {}/{} loss {mean:.4} ({:.0} s)",
                epoch + 1,
                settings.epochs,
                start.elapsed().as_secs_f64()
            );
        }
    }
    bar.finish_and_clear();
    curve.steps = step;
    curve.seconds = start.elapsed().as_secs_f64();
    Ok((model, curve))
}

/// Embeddings of every image under every flip, from the frozen encoder of `model`.
pub fn precompute_embeddings<B: Backend>(
    model: &Sam<B>,
    images: &[TrainImage],
) -> Vec<Vec<Tensor<B, 4>>> {
    images
        .iter()
        .map(|it| {
            (0..FLIPS)
                .map(|f| model.embed(&flipped(it, f).image).embeddings)
                .collect()
        })
        .collect()
}

/// The inference copy of a training model.
pub fn to_inference<A: AutodiffBackend>(model: &Sam<A>) -> Sam<A::InnerBackend> {
    model.valid()
}
