//! The paper's dense-embedding fusion (spec §2.2, §6): the uncertainty map is downscaled like
//! a mask prompt and fused with the mask prompt's dense embedding by a 1x1 convolution; the
//! result replaces SAM's dense embedding for one more decoder pass.
//!
//! SAM 2: the same module fuses into SAM 2's dense embedding; the fused pass is SAM 2's own
//! decoder pass (high-resolution features, output choice by dynamic multimask, NO_OBJ masking),
//! with the frozen decoder in eval mode during training as at inference.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use uncertsam_sam::sam2::mask_decoder::MaskDecoder as Sam2MaskDecoder;
use uncertsam_sam::{
    Embedding, LayerNorm2d, MaskDecoder, NoNoise, Prompts, Sam2Config, SamModel,
    sam2_select_outputs,
};

use crate::error::RefineError;

/// Geometry of a [`DenseFusion`]; the channel widths 4 and 16 are the paper's.
#[derive(Config, Debug)]
pub struct DenseFusionConfig {
    /// SAM's prompt embedding dimension (256 for ViT-B/L/H).
    pub embed_dim: usize,
}

/// `uncertainty_downscaling`: `Conv(1->4, k2, s2) -> LN2d -> GELU -> Conv(4->16, k2, s2) ->
/// LN2d -> GELU -> Conv(16->dim, k1)` (PyTorch `Sequential` indices 0, 1, 3, 4, 6).
#[derive(Module, Debug)]
pub struct UncertaintyDownscaling<B: Backend> {
    /// `.0`.
    pub conv1: Conv2d<B>,
    /// `.1`.
    pub ln1: LayerNorm2d<B>,
    /// `.3`.
    pub conv2: Conv2d<B>,
    /// `.4`.
    pub ln2: LayerNorm2d<B>,
    /// `.6`.
    pub conv3: Conv2d<B>,
}

/// The trainable fusion module: `uncertainty_downscaling` and `uncertainty_fusion`
/// (`Conv1x1(2 dim -> dim)` over `concat(mask embedding, uncertainty embedding)`).
#[derive(Module, Debug)]
pub struct DenseFusion<B: Backend> {
    /// Uncertainty-map downscaling.
    pub uncertainty_downscaling: UncertaintyDownscaling<B>,
    /// The fusion convolution.
    pub uncertainty_fusion: Conv2d<B>,
}

/// Token-0 output of a fused decode.
#[derive(Clone, Debug)]
pub struct FusedDecode<B: Backend> {
    /// Low-resolution logits, `[b, 4E, 4E]`.
    pub logits: Tensor<B, 3>,
    /// Predicted IoU, `[b]`.
    pub iou: Tensor<B, 1>,
}

impl DenseFusionConfig {
    /// A fusion module with PyTorch's default initialisation (as the paper: random fusion conv).
    pub fn init<B: Backend>(&self, device: &B::Device) -> DenseFusion<B> {
        let conv = |i: usize, o: usize, k: usize| {
            Conv2dConfig::new([i, o], [k, k])
                .with_stride([k, k])
                .init(device)
        };
        DenseFusion {
            uncertainty_downscaling: UncertaintyDownscaling {
                conv1: conv(1, 4, 2),
                ln1: LayerNorm2d::new(4, 1e-6, device),
                conv2: conv(4, 16, 2),
                ln2: LayerNorm2d::new(16, 1e-6, device),
                conv3: conv(16, self.embed_dim, 1),
            },
            uncertainty_fusion: conv(2 * self.embed_dim, self.embed_dim, 1),
        }
    }
}

impl<B: Backend> DenseFusion<B> {
    /// The prompt dimension this module fuses.
    pub fn embed_dim(&self) -> usize {
        self.uncertainty_fusion.weight.dims()[0]
    }

    /// Embeds an uncertainty map like a mask prompt.
    ///
    /// # Shapes
    /// - uncertainty: `[b, 1, 4E, 4E]` -> `[b, dim, E, E]`
    pub fn embed_uncertainty(&self, uncertainty: Tensor<B, 4>) -> Tensor<B, 4> {
        let d = &self.uncertainty_downscaling;
        let x = gelu(d.ln1.forward(d.conv1.forward(uncertainty)));
        let x = gelu(d.ln2.forward(d.conv2.forward(x)));
        d.conv3.forward(x)
    }

    /// The fused dense embedding.
    ///
    /// # Shapes
    /// - mask_dense: `[b, dim, E, E]`, uncertainty: `[b, 1, 4E, 4E]` -> `[b, dim, E, E]`
    pub fn forward(&self, mask_dense: Tensor<B, 4>, uncertainty: Tensor<B, 4>) -> Tensor<B, 4> {
        let u = self.embed_uncertainty(uncertainty);
        self.uncertainty_fusion
            .forward(Tensor::cat(vec![mask_dense, u], 1))
    }

    /// One refinement pass: `prompts` carry the sparse prompt and the mask prompt (the first
    /// pass's logits), `uncertainty` is fused into the mask's dense embedding, and the model
    /// decodes with the fused embedding (single-mask output: token 0 for SAM v1, SAM 2's chosen
    /// mask).
    ///
    /// # Shapes
    /// - uncertainty: `[b, 4E, 4E]`
    pub fn decode<'a>(
        &self,
        model: impl Into<SamModel<'a, B>>,
        embedding: &Embedding<B>,
        prompts: &Prompts<B>,
        uncertainty: Tensor<B, 3>,
    ) -> Result<FusedDecode<B>, RefineError>
    where
        B: 'a,
    {
        let model = model.into();
        let parts = DecoderInputs::new(model, embedding, prompts, uncertainty)?;
        let decoder = match model {
            SamModel::Sam(s) => FusionDecoder::Sam(&s.mask_decoder),
            SamModel::Sam2(s) => FusionDecoder::Sam2(&s.sam_mask_decoder, s.config()),
        };
        self.decode_inputs(decoder, parts)
    }

    /// [`DenseFusion::decode`] from prepared decoder inputs, with any (possibly autodiff) copy
    /// of the model's mask decoder.
    pub fn decode_inputs(
        &self,
        decoder: FusionDecoder<'_, B>,
        x: DecoderInputs<B>,
    ) -> Result<FusedDecode<B>, RefineError> {
        let [b, _, h, w] = x.uncertainty.dims();
        let dense = self.forward(x.mask_dense, x.uncertainty);
        let (logits, iou) = match decoder {
            FusionDecoder::Sam(d) => {
                let out = d.predict_masks(x.image, x.pe, x.sparse, dense, &mut NoNoise);
                (
                    out.masks.slice([0..b, 0..1]),
                    out.iou_predictions.slice([0..b, 0..1]),
                )
            }
            FusionDecoder::Sam2(d, config) => {
                let high_res = x.high_res.ok_or_else(|| {
                    RefineError::Input(
                        "a SAM 2 fused pass needs the embedding's high-resolution features".into(),
                    )
                })?;
                let out = d.predict_masks(x.image, x.pe, x.sparse, dense, &high_res, &mut NoNoise);
                let chosen = sam2_select_outputs(out, false, config);
                (chosen.low_res_logits, chosen.iou_predictions)
            }
        };
        let [_, _, lh, lw] = logits.dims();
        debug_assert_eq!([lh, lw], [h, w]);
        Ok(FusedDecode {
            logits: logits.reshape([b, lh, lw]),
            iou: iou.reshape([b]),
        })
    }
}

/// The mask decoder a fused pass runs, of either family (the model's, or an autodiff copy
/// of it while training).
#[derive(Clone, Copy, Debug)]
pub enum FusionDecoder<'a, B: Backend> {
    /// SAM v1 / MobileSAM.
    Sam(&'a MaskDecoder<B>),
    /// SAM 2, with the geometry of its output choice.
    Sam2(&'a Sam2MaskDecoder<B>, &'a Sam2Config),
}

/// Everything the mask decoder needs for a fused pass, computed by the frozen prompt encoder.
#[derive(Clone, Debug)]
pub struct DecoderInputs<B: Backend> {
    /// Image embedding, `[1, dim, E, E]`.
    pub image: Tensor<B, 4>,
    /// Dense positional encoding, `[1, dim, E, E]`.
    pub pe: Tensor<B, 4>,
    /// Sparse prompt embedding, `[b, n, dim]`.
    pub sparse: Option<Tensor<B, 3>>,
    /// Dense embedding of the mask prompt, `[b, dim, E, E]`.
    pub mask_dense: Tensor<B, 4>,
    /// The uncertainty map, `[b, 1, 4E, 4E]`.
    pub uncertainty: Tensor<B, 4>,
    /// SAM 2's high-resolution features; `None` for SAM v1.
    pub high_res: Option<[Tensor<B, 4>; 2]>,
}

impl<B: Backend> DecoderInputs<B> {
    /// Runs the prompt encoder; `prompts` must hold a mask prompt.
    pub fn new(
        model: SamModel<'_, B>,
        embedding: &Embedding<B>,
        prompts: &Prompts<B>,
        uncertainty: Tensor<B, 3>,
    ) -> Result<Self, RefineError> {
        let b = prompts.batch_size().map_err(RefineError::Input)?;
        let side = model.low_res_size();
        let mask_ok = prompts
            .masks
            .as_ref()
            .is_some_and(|m| m.dims() == [b, 1, side[0], side[1]]);
        if !mask_ok || uncertainty.dims() != [b, side[0], side[1]] {
            let [h, w] = side;
            return Err(RefineError::Input(format!(
                "dense fusion needs a [{b}, 1, {h}, {w}] mask prompt and a [{b}, {h}, {w}] \
                 uncertainty map; got {:?} and {:?}",
                prompts.masks.as_ref().map(|m| m.dims()),
                uncertainty.dims()
            )));
        }
        let ((sparse, mask_dense), pe, high_res) = match model {
            SamModel::Sam(sam) => (
                sam.prompt_encoder.forward(prompts, b),
                sam.prompt_encoder.get_dense_pe(&sam.device()),
                None,
            ),
            SamModel::Sam2(sam) => {
                let heads = sam.heads();
                (
                    heads.prompt_embeddings(prompts)?,
                    heads.dense_pe(),
                    Some(embedding.sam2()?.high_res_features),
                )
            }
        };
        Ok(Self {
            image: embedding.embeddings.clone(),
            pe,
            sparse,
            mask_dense,
            uncertainty: uncertainty.reshape([b, 1, side[0], side[1]]),
            high_res,
        })
    }
}
