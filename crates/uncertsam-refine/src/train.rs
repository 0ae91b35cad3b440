//! Training of the dense-fusion module through burn autodiff (spec §4.3): SAM stays frozen
//! (its prompt encoder runs on the inner backend, its mask decoder on the autodiff backend
//! without parameter gradients), only the fusion module learns, with AdamW on the SAM loss of
//! the refined logits upsampled to the original image.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{ImageEmbedding, MaskDecoder, Prompts, Sam, postprocess_masks};

use crate::error::RefineError;
use crate::first_pass::FirstPass;
use crate::fusion::{DecoderInputs, DenseFusion};
use crate::loss::{SamLoss, sam_loss};

/// One fitting example: an image embedding, its prompts, the first pass and the ground truth.
#[derive(Clone, Debug)]
pub struct FusionSample<B: Backend> {
    /// The frozen image embedding.
    pub embedding: ImageEmbedding<B>,
    /// Model-input sparse prompts, one row per mask (any mask prompt is replaced by the first
    /// pass's logits).
    pub prompts: Prompts<B>,
    /// The first pass: logits become the mask prompt, uncertainty is fused.
    pub first_pass: FirstPass<B>,
    /// Ground truth in {0, 1} at the original image size, `[b, h, w]`.
    pub gt: Tensor<B, 3>,
}

/// Optimiser settings; defaults are the paper's `dense_laplace.yaml` (AdamW, lr 1e-4, weight
/// decay 0.01, gradient-norm clip 0.1) with a constant learning rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FusionTrainConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decoupled weight decay (applied to every parameter).
    pub weight_decay: f32,
    /// Gradient-norm clip, if any.
    pub grad_clip: Option<f32>,
    /// Replace the uncertainty map by ones (the paper's `*_ones` ablation).
    pub ones_baseline: bool,
}

impl Default for FusionTrainConfig {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            weight_decay: 0.01,
            grad_clip: Some(0.1),
            ones_baseline: false,
        }
    }
}

/// The trained module on the inner backend and the loss before each step.
#[derive(Debug)]
pub struct TrainedFusion<B: Backend> {
    /// The module, ready for [`DenseFusion::decode`] or [`DenseFusion::save`].
    pub fusion: DenseFusion<B>,
    /// Total loss before each optimiser step.
    pub losses: Vec<f32>,
}

/// Decoder inputs (frozen prompt encoder) and the ground truth of one sample.
fn prepare<B: Backend>(
    sam: &Sam<B>,
    sample: &FusionSample<B>,
    ones: bool,
) -> Result<(DecoderInputs<B>, Tensor<B, 3>), RefineError> {
    let side = sam.config().low_res_size();
    let b = sample.first_pass.check(side)?;
    let [gb, h, w] = sample.gt.dims();
    if gb != b || [h, w] != sample.embedding.original_size {
        return Err(RefineError::Input(format!(
            "ground truth is {:?}, expected [{b}, {:?}]",
            sample.gt.dims(),
            sample.embedding.original_size
        )));
    }
    let mut prompts = sample.prompts.clone();
    prompts.masks = Some(
        sample
            .first_pass
            .logits
            .clone()
            .reshape([b, 1, side[0], side[1]]),
    );
    let u = sample.first_pass.uncertainty.clone();
    let u = if ones { u.ones_like() } else { u };
    let inputs = DecoderInputs::new(sam, &sample.embedding, &prompts, u)?;
    Ok((inputs, sample.gt.clone()))
}

fn loss_of<B: Backend>(
    fusion: &DenseFusion<B>,
    decoder: &MaskDecoder<B>,
    inputs: DecoderInputs<B>,
    gt: Tensor<B, 3>,
    embedding: &ImageEmbedding<impl Backend>,
    img_size: usize,
) -> SamLoss<B> {
    let out = fusion.decode_inputs(decoder, inputs);
    let [b, lh, lw] = out.logits.dims();
    let [h, w] = embedding.original_size;
    let up = postprocess_masks(
        out.logits.reshape([b, 1, lh, lw]),
        img_size,
        embedding.input_size,
        embedding.original_size,
    )
    .reshape([b, h, w]);
    sam_loss(up, out.iou, gt)
}

/// The loss of `fusion` on one sample, without training (for validation and tests).
pub fn fusion_loss<B: Backend>(
    sam: &Sam<B>,
    fusion: &DenseFusion<B>,
    sample: &FusionSample<B>,
    ones_baseline: bool,
) -> Result<SamLoss<B>, RefineError> {
    let (inputs, gt) = prepare(sam, sample, ones_baseline)?;
    let img_size = sam.config().img_size;
    Ok(loss_of(
        fusion,
        &sam.mask_decoder,
        inputs,
        gt,
        &sample.embedding,
        img_size,
    ))
}

/// Trains `fusion` with one AdamW step per sample of `data`; SAM is frozen.
pub fn train_fusion<AB: AutodiffBackend>(
    sam: &Sam<AB::InnerBackend>,
    mut fusion: DenseFusion<AB>,
    data: impl IntoIterator<Item = FusionSample<AB::InnerBackend>>,
    config: &FusionTrainConfig,
) -> Result<TrainedFusion<AB::InnerBackend>, RefineError> {
    if fusion.embed_dim() != sam.config().prompt_embed_dim {
        return Err(RefineError::Input(format!(
            "fusion module has dimension {}, SAM's prompt embedding {}",
            fusion.embed_dim(),
            sam.config().prompt_embed_dim
        )));
    }
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(config.grad_clip.map(GradientClippingConfig::Norm))
        .init::<AB, DenseFusion<AB>>();
    // The decoder runs under autodiff so gradients reach the fusion output, but its own
    // parameters take none.
    let decoder = MaskDecoder::<AB>::from_inner(sam.mask_decoder.clone()).no_grad();
    let img_size = sam.config().img_size;
    let mut losses = Vec::new();
    for sample in data {
        let (x, gt) = prepare(sam, &sample, config.ones_baseline)?;
        let inputs = DecoderInputs {
            image: Tensor::from_inner(x.image),
            pe: Tensor::from_inner(x.pe),
            sparse: x.sparse.map(Tensor::from_inner),
            mask_dense: Tensor::from_inner(x.mask_dense),
            uncertainty: Tensor::from_inner(x.uncertainty),
        };
        let loss = loss_of(
            &fusion,
            &decoder,
            inputs,
            Tensor::from_inner(gt),
            &sample.embedding,
            img_size,
        );
        let total = loss.total;
        let value: f32 = total.clone().into_scalar().elem();
        if !value.is_finite() {
            return Err(RefineError::Input(format!(
                "non-finite fusion loss at step {}",
                losses.len()
            )));
        }
        losses.push(value);
        let grads = GradientsParams::from_grads(total.backward(), &fusion);
        fusion = optim.step(config.lr, fusion, grads);
    }
    Ok(TrainedFusion {
        fusion: fusion.valid(),
        losses,
    })
}
