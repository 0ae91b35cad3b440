//! Training of the variance network (spec §4.2) through burn autodiff: SAM and its image
//! encoder stay frozen (they run on the inner backend), only the head gets gradients. Loss:
//! Gaussian NLL on probabilities at the original image size,
//! `L = mean 0.5 (exp(-s) (σ(logit) - y)² + s)`, `s` the clamped log-variance.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{ImageEmbedding, Prompts, Sam, postprocess_masks};

use crate::decode::token0;
use crate::error::EstimateError;
use crate::variance_net::{VarianceNet, decoder_features};

/// One training example: an image embedding, its prompts and the ground-truth masks.
#[derive(Clone, Debug)]
pub struct TrainSample<B: Backend> {
    /// The (frozen) image embedding.
    pub embedding: ImageEmbedding<B>,
    /// Model-input prompts, one row per mask.
    pub prompts: Prompts<B>,
    /// Ground truth in {0, 1} at the original image size, `[b, h, w]`.
    pub gt: Tensor<B, 3>,
}

/// Optimiser settings (the paper: AdamW, lr 1e-4, weight decay 1e-4, gradient-norm clip 0.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VarianceTrainConfig {
    /// Learning rate (constant; the paper's warm-up / decay schedule is left to the caller).
    pub lr: f64,
    /// Decoupled weight decay (applied to every parameter; the paper exempts biases and
    /// LayerNorms).
    pub weight_decay: f32,
    /// Gradient-norm clip, if any.
    pub grad_clip: Option<f32>,
}

impl Default for VarianceTrainConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            weight_decay: 1e-4,
            grad_clip: Some(0.1),
        }
    }
}

/// The trained head on the inner backend, and the loss of every step.
#[derive(Debug)]
pub struct Trained<B: Backend> {
    /// The head, ready for [`crate::VarianceNetEstimator`].
    pub net: VarianceNet<B>,
    /// Loss before each optimiser step.
    pub losses: Vec<f32>,
}

/// The spec's loss for one example.
///
/// # Shapes
/// - logvar: `[b, 4E, 4E]` (low-res), prob and gt: `[b, h, w]` (original size)
pub fn variance_loss<B: Backend>(
    logvar: Tensor<B, 3>,
    prob: Tensor<B, 3>,
    gt: Tensor<B, 3>,
    embedding_sizes: ([usize; 2], [usize; 2]),
    img_size: usize,
) -> Tensor<B, 1> {
    let [b, lh, lw] = logvar.dims();
    let (input, original) = embedding_sizes;
    let s = postprocess_masks(logvar.reshape([b, 1, lh, lw]), img_size, input, original);
    let [_, _, h, w] = s.dims();
    let s = s.reshape([b, h, w]);
    let err = (prob - gt).powi_scalar(2);
    ((s.clone().neg().exp() * err + s) * 0.5).mean()
}

/// Trains `net` one optimiser step per sample of `data` with AdamW; SAM is frozen.
pub fn train_variance_net<B: AutodiffBackend>(
    sam: &Sam<B::InnerBackend>,
    mut net: VarianceNet<B>,
    data: impl IntoIterator<Item = TrainSample<B::InnerBackend>>,
    config: &VarianceTrainConfig,
) -> Result<Trained<B::InnerBackend>, EstimateError> {
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(config.grad_clip.map(GradientClippingConfig::Norm))
        .init::<B, VarianceNet<B>>();
    let img_size = sam.config().img_size;
    let mut losses = Vec::new();
    for sample in data {
        let emb = &sample.embedding;
        let [b, h, w] = sample.gt.dims();
        if emb.original_size != [h, w] {
            return Err(EstimateError::Input(format!(
                "ground truth is [{b}, {h}, {w}], the image is {:?}",
                emb.original_size
            )));
        }
        let out = sam.decode(emb, &sample.prompts, false)?.all;
        let (logits, _) = token0(&out);
        let [rows, lh, lw] = logits.dims();
        if rows != b {
            return Err(EstimateError::Input(format!(
                "{rows} prompts but {b} ground-truth masks"
            )));
        }
        let prob = sigmoid(postprocess_masks(
            logits.reshape([b, 1, lh, lw]),
            img_size,
            emb.input_size,
            emb.original_size,
        ))
        .reshape([b, h, w]);
        let (token, src) = decoder_features(sam, emb, &sample.prompts)?;
        let logvar = net.forward(Tensor::from_inner(token), Tensor::from_inner(src));
        let loss = variance_loss(
            logvar,
            Tensor::from_inner(prob),
            Tensor::from_inner(sample.gt),
            (emb.input_size, emb.original_size),
            img_size,
        );
        losses.push(loss.clone().into_scalar().elem::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(config.lr, net, grads);
    }
    Ok(Trained {
        net: net.valid(),
        losses,
    })
}
