//! Training of the dense-fusion module through burn autodiff (spec §4.3): SAM stays frozen
//! (its prompt encoder runs on the inner backend, its mask decoder on the autodiff backend
//! without parameter gradients), only the fusion module learns, with AdamW on the SAM loss of
//! the refined logits upsampled to the original image. Either family: SAM 2's frozen decoder
//! runs its image-path output choice (see [`crate::DenseFusion::decode`]) and its logits are
//! upsampled by its one bilinear resize.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{AutodiffModule, Module};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use uncertsam_sam::sam2::mask_decoder::MaskDecoder as Sam2MaskDecoder;
use uncertsam_sam::sam2::sam2::resize_bilinear_two_tap;
use uncertsam_sam::{Embedding, MaskDecoder, Prompts, SamModel, postprocess_masks};

use crate::error::RefineError;
use crate::first_pass::FirstPass;
use crate::fusion::{DecoderInputs, DenseFusion, FusionDecoder};
use crate::loss::{SamLoss, sam_loss};

/// One fitting example: an image embedding, its prompts, the first pass and the ground truth.
#[derive(Clone, Debug)]
pub struct FusionSample<B: Backend> {
    /// The frozen image embedding.
    pub embedding: Embedding<B>,
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
    model: SamModel<'_, B>,
    sample: &FusionSample<B>,
    ones: bool,
) -> Result<(DecoderInputs<B>, Tensor<B, 3>), RefineError> {
    let side = model.low_res_size();
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
    let mask = sample
        .first_pass
        .logits
        .clone()
        .reshape([b, 1, side[0], side[1]]);
    let c = crate::decode::SAM2_MASK_PROMPT_CLAMP;
    prompts.masks = Some(if model.is_sam2() {
        mask.clamp(-c, c)
    } else {
        mask
    });
    let u = sample.first_pass.uncertainty.clone();
    let u = if ones { u.ones_like() } else { u };
    let inputs = DecoderInputs::new(model, &sample.embedding, &prompts, u)?;
    Ok((inputs, sample.gt.clone()))
}

/// How the fused logits reach the original image: SAM v1's crop and resize, or SAM 2's
/// resize.
#[derive(Clone, Copy, Debug)]
enum Upscale {
    Sam { img_size: usize },
    Sam2,
}

impl Upscale {
    fn of<B: Backend>(model: SamModel<'_, B>) -> Self {
        match model {
            SamModel::Sam(s) => Self::Sam {
                img_size: s.config().img_size,
            },
            SamModel::Sam2(_) => Self::Sam2,
        }
    }

    fn apply<B: Backend>(
        self,
        x: Tensor<B, 4>,
        embedding: &Embedding<impl Backend>,
    ) -> Tensor<B, 4> {
        match self {
            Self::Sam { img_size } => {
                postprocess_masks(x, img_size, embedding.input_size, embedding.original_size)
            }
            Self::Sam2 => resize_bilinear_two_tap(x, embedding.original_size),
        }
    }
}

fn loss_of<B: Backend>(
    fusion: &DenseFusion<B>,
    decoder: FusionDecoder<'_, B>,
    inputs: DecoderInputs<B>,
    gt: Tensor<B, 3>,
    embedding: &Embedding<impl Backend>,
    upscale: Upscale,
) -> Result<SamLoss<B>, RefineError> {
    let out = fusion.decode_inputs(decoder, inputs)?;
    let [b, lh, lw] = out.logits.dims();
    let [h, w] = embedding.original_size;
    let up = upscale
        .apply(out.logits.reshape([b, 1, lh, lw]), embedding)
        .reshape([b, h, w]);
    Ok(sam_loss(up, out.iou, gt))
}

/// The loss of `fusion` on one sample, without training (for validation and tests).
pub fn fusion_loss<'a, B: Backend>(
    model: impl Into<SamModel<'a, B>>,
    fusion: &DenseFusion<B>,
    sample: &FusionSample<B>,
    ones_baseline: bool,
) -> Result<SamLoss<B>, RefineError> {
    let model = model.into();
    let (inputs, gt) = prepare(model, sample, ones_baseline)?;
    let decoder = match model {
        SamModel::Sam(s) => FusionDecoder::Sam(&s.mask_decoder),
        SamModel::Sam2(s) => FusionDecoder::Sam2(&s.sam_mask_decoder, s.config()),
    };
    loss_of(
        fusion,
        decoder,
        inputs,
        gt,
        &sample.embedding,
        Upscale::of(model),
    )
}

/// The frozen mask decoder on the autodiff backend (gradients reach the fusion output through
/// it, its own parameters take none).
#[allow(clippy::large_enum_variant)] // one per training run
enum FrozenDecoder<AB: AutodiffBackend> {
    Sam(MaskDecoder<AB>),
    Sam2(Sam2MaskDecoder<AB>, uncertsam_sam::Sam2Config),
}

impl<AB: AutodiffBackend> FrozenDecoder<AB> {
    fn of(model: SamModel<'_, AB::InnerBackend>) -> Self {
        match model {
            SamModel::Sam(s) => {
                Self::Sam(MaskDecoder::from_inner(s.mask_decoder.clone()).no_grad())
            }
            SamModel::Sam2(s) => Self::Sam2(
                Sam2MaskDecoder::from_inner(s.sam_mask_decoder.clone()).no_grad(),
                s.config().clone(),
            ),
        }
    }

    fn view(&self) -> FusionDecoder<'_, AB> {
        match self {
            Self::Sam(d) => FusionDecoder::Sam(d),
            Self::Sam2(d, c) => FusionDecoder::Sam2(d, c),
        }
    }
}

/// Trains `fusion` with one AdamW step per sample of `data`; the model is frozen.
pub fn train_fusion<'a, AB: AutodiffBackend>(
    model: impl Into<SamModel<'a, AB::InnerBackend>>,
    mut fusion: DenseFusion<AB>,
    data: impl IntoIterator<Item = FusionSample<AB::InnerBackend>>,
    config: &FusionTrainConfig,
) -> Result<TrainedFusion<AB::InnerBackend>, RefineError> {
    let model = model.into();
    if fusion.embed_dim() != model.prompt_embed_dim() {
        return Err(RefineError::Input(format!(
            "fusion module has dimension {}, the model's prompt embedding {}",
            fusion.embed_dim(),
            model.prompt_embed_dim()
        )));
    }
    let mut optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(config.grad_clip.map(GradientClippingConfig::Norm))
        .init::<AB, DenseFusion<AB>>();
    let decoder = FrozenDecoder::<AB>::of(model);
    let upscale = Upscale::of(model);
    let mut losses = Vec::new();
    for sample in data {
        let (x, gt) = prepare(model, &sample, config.ones_baseline)?;
        let inputs = DecoderInputs {
            image: Tensor::from_inner(x.image),
            pe: Tensor::from_inner(x.pe),
            sparse: x.sparse.map(Tensor::from_inner),
            mask_dense: Tensor::from_inner(x.mask_dense),
            uncertainty: Tensor::from_inner(x.uncertainty),
            high_res: x.high_res.map(|hr| hr.map(Tensor::from_inner)),
        };
        let loss = loss_of(
            &fusion,
            decoder.view(),
            inputs,
            Tensor::from_inner(gt),
            &sample.embedding,
            upscale,
        )?;
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
