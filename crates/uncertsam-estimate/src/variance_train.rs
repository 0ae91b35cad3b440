//! Training of the variance network (spec §4.2) through burn autodiff: SAM and its image
//! encoder stay frozen (they run on the inner backend), only the head gets gradients. Loss:
//! Gaussian NLL on probabilities at the original image size,
//! `L = mean 0.5 (exp(-s) (σ(logit) - y)² + s)`, `s` the clamped log-variance. Either family:
//! `σ(logit)` is the model's reported prediction (SAM 2: its chosen mask) and both maps go to
//! the original size as the family's post-processing does (SAM v1: crop the padding and
//! resize; SAM 2: one bilinear resize).

use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use uncertsam_sam::sam2::sam2::resize_bilinear_two_tap;
use uncertsam_sam::{Prompts, postprocess_masks};

use crate::decode::selected;
use crate::error::EstimateError;
use crate::segmenter::Segmenter;
use crate::variance_net::{DecoderFeatures, VarianceNet};
use uncertsam_sam::{Embedding, SamModel};

/// One training example: an image embedding, its prompts and the ground-truth masks.
#[derive(Clone, Debug)]
pub struct TrainSample<B: Backend> {
    /// The (frozen) image embedding.
    pub embedding: Embedding<B>,
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

/// The spec's loss for one example of SAM v1 / MobileSAM (`s` cropped and resized as
/// `postprocess_masks`); [`gaussian_nll`] on maps already at the original size.
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
    gaussian_nll(s.reshape([b, h, w]), prob, gt)
}

/// `mean 0.5 (exp(-s) (prob - gt)² + s)`.
///
/// # Shapes
/// - s, prob, gt: `[b, h, w]`
pub fn gaussian_nll<B: Backend>(
    s: Tensor<B, 3>,
    prob: Tensor<B, 3>,
    gt: Tensor<B, 3>,
) -> Tensor<B, 1> {
    let err = (prob - gt).powi_scalar(2);
    ((s.clone().neg().exp() * err + s) * 0.5).mean()
}

/// Low-resolution maps `[b, 4E, 4E]` at the original size `[b, h, w]`, on any backend, as the
/// family post-processes them.
fn to_original<C: Backend>(
    model: SamModel<'_, impl Backend>,
    x: Tensor<C, 3>,
    emb: &Embedding<impl Backend>,
) -> Tensor<C, 3> {
    let [b, lh, lw] = x.dims();
    let [h, w] = emb.original_size;
    let x = x.reshape([b, 1, lh, lw]);
    let up = match model {
        SamModel::Sam(s) => {
            postprocess_masks(x, s.config().img_size, emb.input_size, emb.original_size)
        }
        SamModel::Sam2(_) => resize_bilinear_two_tap(x, emb.original_size),
    };
    up.reshape([b, h, w])
}

/// Trains `net` one optimiser step per sample of `data` with AdamW; the model (either family)
/// is frozen.
pub fn train_variance_net<B: AutodiffBackend>(
    model: &dyn Segmenter<B::InnerBackend>,
    mut net: VarianceNet<B>,
    data: impl IntoIterator<Item = TrainSample<B::InnerBackend>>,
    config: &VarianceTrainConfig,
) -> Result<Trained<B::InnerBackend>, EstimateError> {
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(config.grad_clip.map(GradientClippingConfig::Norm))
        .init::<B, VarianceNet<B>>();
    let family = model.model();
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
        let (logits, _) = selected(&model.decode(emb, &sample.prompts, false)?);
        let rows = logits.dims()[0];
        if rows != b {
            return Err(EstimateError::Input(format!(
                "{rows} prompts but {b} ground-truth masks"
            )));
        }
        let prob = sigmoid(to_original(family, logits, emb));
        let f = DecoderFeatures::of(family, emb, &sample.prompts)?;
        let high_res = f.high_res.map(|hr| hr.map(Tensor::from_inner));
        let logvar = net.forward_features(
            Tensor::from_inner(f.token),
            Tensor::from_inner(f.src),
            high_res.as_ref(),
        );
        let loss = gaussian_nll(
            to_original(family, logvar, emb),
            Tensor::from_inner(prob),
            Tensor::from_inner(sample.gt),
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
