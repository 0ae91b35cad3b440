//! The training loop of either family ([`train_loop`]): the whole model end to end, or
//! decoder-only ensemble members on the frozen encoder's precomputed embeddings.

use std::time::Instant;

use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::Embedding;

use crate::data::{FLIPS, Flip, TrainImage, flipped};
use crate::family::{Inner, TrainFamily, embedding_from_inner};
use crate::train::{Curve, OptimSettings};

/// Where image embeddings come from during training.
pub enum Embeddings<'a, B: Backend> {
    /// Run the (trainable) encoder on every step.
    Encoder,
    /// Precomputed by the frozen encoder: `cache[image][flip]`.
    Frozen(&'a [Vec<Embedding<B>>]),
}

fn embed_batch<A: AutodiffBackend, F: TrainFamily<A>>(
    model: &F::Model,
    items: &[(usize, Flip, TrainImage)],
    source: &Embeddings<'_, A::InnerBackend>,
) -> Vec<Embedding<A>> {
    match source {
        Embeddings::Encoder => {
            let images: Vec<&RgbImage> = items.iter().map(|(_, _, it)| &it.image).collect();
            F::embed(model, &images)
        }
        Embeddings::Frozen(cache) => items
            .iter()
            .map(|(i, f, _)| embedding_from_inner::<A>(&cache[*i][*f as usize]))
            .collect(),
    }
}

/// Trains `model` on `images` with random flips and the box / point prompt mix; `label` names
/// the progress bar. Returns the trained model and its loss curve.
pub fn train_loop<A: AutodiffBackend, F: TrainFamily<A>>(
    mut model: F::Model,
    images: &[TrainImage],
    source: &Embeddings<'_, A::InnerBackend>,
    settings: &OptimSettings,
    seed: u64,
    label: &str,
) -> anyhow::Result<(F::Model, Curve)> {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut optim = AdamWConfig::new()
        .with_weight_decay(settings.weight_decay)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(settings.grad_clip_norm)))
        .init::<A, F::Model>();
    let total = settings.steps(images.len());
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
            let embs = embed_batch::<A, F>(&model, &items, source);
            let refs: Vec<&TrainImage> = items.iter().map(|(_, _, it)| it).collect();
            let frozen = step < settings.high_res_warmup_steps;
            let loss = F::step_loss(&model, &embs, &refs, &mut rng, frozen)?;
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
pub fn precompute_embeddings<A: AutodiffBackend, F: TrainFamily<A>>(
    model: &Inner<A, F>,
    images: &[TrainImage],
) -> Vec<Vec<Embedding<A::InnerBackend>>> {
    let view = F::view(model);
    images
        .iter()
        .map(|it| {
            (0..FLIPS)
                .map(|f| view.embed(&flipped(it, f).image))
                .collect()
        })
        .collect()
}
