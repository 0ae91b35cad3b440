//! The training loop of either family ([`train_loop`]): the whole model end to end, or
//! decoder-only ensemble members on the frozen encoder's precomputed embeddings.
//!
//! **Per-image graphs** ([`TrainFamily::PER_IMAGE_GRAPHS`], SAM 2): the ndarray backend runs a
//! training step on about one core, so the images of a step run side by side on scoped
//! threads (`uncertsam_sam::par_map_on`, not rayon tasks: a graph's `backward` holds its lock
//! while burn-ndarray's operations wait on rayon, and a waiting rayon worker could run another
//! image's step that waits on that lock), each on its own autodiff graph (a copy of the model with fresh leaves, the same
//! parameter ids), with its own rng seeded from the step's rng in image order, and its loss
//! weighted by its share of the step's masks. The step's gradient is the sum of the images'
//! gradients in image order, so it does not depend on the number of threads; as the losses are
//! sums over objects divided by the objects of the step, it is the gradient of the joint loss,
//! up to the prompt draws.

use std::time::Instant;

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::{Embedding, par_map_on};

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

/// The loss of one step and its gradients, the whole batch on one autodiff graph.
fn joint_step<A: AutodiffBackend, F: TrainFamily<A>>(
    model: &F::Model,
    items: &[(usize, Flip, TrainImage)],
    source: &Embeddings<'_, A::InnerBackend>,
    rng: &mut ChaCha8Rng,
    frozen: bool,
) -> anyhow::Result<(f32, GradientsParams)> {
    let embs = embed_batch::<A, F>(model, items, source);
    let refs: Vec<&TrainImage> = items.iter().map(|(_, _, it)| it).collect();
    let loss = F::step_loss(model, &embs, &refs, rng, frozen)?;
    let value: f32 = loss.clone().into_scalar().elem();
    Ok((value, GradientsParams::from_grads(loss.backward(), model)))
}

/// The loss of one step and its gradients, each image on its own graph (module docs).
fn per_image_step<A: AutodiffBackend, F: TrainFamily<A>>(
    model: &F::Model,
    items: &[(usize, Flip, TrainImage)],
    source: &Embeddings<'_, A::InnerBackend>,
    rng: &mut ChaCha8Rng,
    frozen: bool,
) -> anyhow::Result<(f32, GradientsParams)> {
    let masks: usize = items.iter().map(|(_, _, it)| it.masks.len()).sum();
    let jobs: Vec<_> = items
        .iter()
        .map(|item| {
            (
                F::Model::from_inner(model.valid()),
                item,
                rng.random::<u64>(),
            )
        })
        .collect();
    let run = |(local, item, seed): (F::Model, &(usize, Flip, TrainImage), u64)| {
        let embs = embed_batch::<A, F>(&local, std::slice::from_ref(item), source);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let share = item.2.masks.len() as f32 / masks.max(1) as f32;
        let loss = F::step_loss(&local, &embs, &[&item.2], &mut rng, frozen)? * share;
        let value: f32 = loss.clone().into_scalar().elem();
        Ok((value, GradientsParams::from_grads(loss.backward(), &local)))
    };
    let parts: Vec<anyhow::Result<(f32, GradientsParams)>> =
        par_map_on(rayon::current_num_threads(), jobs, run);
    let mut value = 0.0;
    let mut sum = GradientsParams::new();
    for part in parts {
        let (v, grads) = part?;
        value += v;
        model.visit(&mut AddGrads::<A> {
            sum: &mut sum,
            grads,
            backend: std::marker::PhantomData,
        });
    }
    Ok((value, sum))
}

/// Adds `grads` into `sum`, parameter by parameter.
struct AddGrads<'a, A: AutodiffBackend> {
    sum: &'a mut GradientsParams,
    grads: GradientsParams,
    backend: std::marker::PhantomData<A>,
}

impl<A: AutodiffBackend> ModuleVisitor<A> for AddGrads<'_, A> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<A, D>>) {
        if let Some(g) = self.grads.remove::<A::InnerBackend, D>(param.id) {
            let total = match self.sum.remove::<A::InnerBackend, D>(param.id) {
                Some(s) => s + g,
                None => g,
            };
            self.sum.register(param.id, total);
        }
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
            let frozen = step < settings.high_res_warmup_steps;
            let (value, grads) = if F::PER_IMAGE_GRAPHS {
                per_image_step::<A, F>(&model, &items, source, &mut rng, frozen)?
            } else {
                joint_step::<A, F>(&model, &items, source, &mut rng, frozen)?
            };
            anyhow::ensure!(value.is_finite(), "{label}: non-finite loss at step {step}");
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
