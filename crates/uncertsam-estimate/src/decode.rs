//! Decoder helpers shared by the estimators: batched repetition of prompts, token-0 outputs
//! of a pass, and decoding with a detached prompt encoder / mask decoder (ensemble members of
//! either family).

use burn::prelude::*;
use uncertsam_sam::sam2::mask_decoder::MaskDecoder as Sam2MaskDecoder;
use uncertsam_sam::{
    Decoded, DecoderOutput, ImageEmbedding, MaskDecoder, NoNoise, PromptEncoder, Prompts, Sam,
    Sam2, Sam2Config, Sam2Embedding, Sam2Heads,
};

use crate::error::EstimateError;

/// The prompts repeated `times` times along the batch, sample-major: row `s * b + i` is
/// sample `s` of prompt `i`.
pub fn repeat_prompts<B: Backend>(prompts: &Prompts<B>, times: usize) -> Prompts<B> {
    fn rep<B: Backend, const D: usize, K>(t: &Tensor<B, D, K>, times: usize) -> Tensor<B, D, K>
    where
        K: burn::tensor::TensorKind<B> + burn::tensor::BasicOps<B>,
    {
        if times == 1 {
            t.clone()
        } else {
            Tensor::cat(vec![t.clone(); times], 0)
        }
    }
    Prompts {
        points: prompts
            .points
            .as_ref()
            .map(|(p, l)| (rep(p, times), rep(l, times))),
        boxes: prompts.boxes.as_ref().map(|b| rep(b, times)),
        masks: prompts.masks.as_ref().map(|m| rep(m, times)),
    }
}

/// Token-0 (single-mask) raw logits `[rows, 4E, 4E]` and IoU predictions `[rows]` of a pass
/// (SAM 2: before the dynamic multimask choice and NO_OBJ masking; see [`selected`]).
pub fn token0<B: Backend>(out: &DecoderOutput<B>) -> (Tensor<B, 3>, Tensor<B, 1>) {
    let [rows, _, h, w] = out.masks.dims();
    let logits = out.masks.clone().narrow(1, 0, 1).reshape([rows, h, w]);
    let iou = out.iou_predictions.clone().narrow(1, 0, 1).reshape([rows]);
    (logits, iou)
}

/// The selected single-mask output of a pass without multimask, `[rows, 4E, 4E]` and
/// `[rows]`: token 0 for SAM v1 (equal to [`token0`]); for SAM 2 the dynamic multimask choice
/// with NO_OBJ masking, as the official image path.
pub fn selected<B: Backend>(d: &Decoded<B>) -> (Tensor<B, 3>, Tensor<B, 1>) {
    let [rows, _, h, w] = d.low_res_logits.dims();
    let logits = d
        .low_res_logits
        .clone()
        .narrow(1, 0, 1)
        .reshape([rows, h, w]);
    let iou = d.iou_predictions.clone().narrow(1, 0, 1).reshape([rows]);
    (logits, iou)
}

/// A prompt encoder and mask decoder taken out of a [`Sam`], sharing another model's image
/// encoder (an ensemble member).
#[derive(burn::module::Module, Debug)]
pub struct DecoderHead<B: Backend> {
    /// The member's prompt encoder.
    pub prompt_encoder: PromptEncoder<B>,
    /// The member's mask decoder.
    pub mask_decoder: MaskDecoder<B>,
}

impl<B: Backend> DecoderHead<B> {
    /// Keeps the prompt encoder and mask decoder of `sam`, dropping its image encoder.
    pub fn from_sam(sam: Sam<B>) -> Self {
        let Sam {
            prompt_encoder,
            mask_decoder,
            ..
        } = sam;
        Self {
            prompt_encoder,
            mask_decoder,
        }
    }

    /// One deterministic decoder pass against a (shared) image embedding, as `Sam::decode`.
    pub fn decode(
        &self,
        embedding: &ImageEmbedding<B>,
        prompts: &Prompts<B>,
    ) -> Result<DecoderOutput<B>, EstimateError> {
        let b = prompts.batch_size().map_err(EstimateError::Input)?;
        let (sparse, dense) =
            self.prompt_encoder
                .forward_shared(prompts, b, embedding.embeddings.dims()[0]);
        let pe = self
            .prompt_encoder
            .get_dense_pe(&embedding.embeddings.device());
        Ok(self.mask_decoder.predict_masks(
            embedding.embeddings.clone(),
            pe,
            sparse,
            dense,
            &mut NoNoise,
        ))
    }
}

/// The prompt encoder and mask decoder of a SAM 2 checkpoint, sharing another SAM 2 model's
/// image path (an ensemble member). The shared embedding already holds the model's `conv_s0` /
/// `conv_s1` features and `no_mem_embed`, so the member's own copies of those (and its image
/// encoder) are dropped.
#[derive(Debug)]
pub struct Sam2DecoderHead<B: Backend> {
    /// The member's `sam_prompt_encoder`.
    pub prompt_encoder: PromptEncoder<B>,
    /// The member's `sam_mask_decoder`.
    pub mask_decoder: Sam2MaskDecoder<B>,
    /// The geometry (output choice).
    pub config: Sam2Config,
}

impl<B: Backend> Sam2DecoderHead<B> {
    /// Keeps the prompt encoder and mask decoder of `sam`, dropping its image path.
    pub fn from_sam2(sam: Sam2<B>) -> Self {
        let config = sam.config().clone();
        let Sam2 {
            sam_prompt_encoder,
            sam_mask_decoder,
            ..
        } = sam;
        Self {
            prompt_encoder: sam_prompt_encoder,
            mask_decoder: sam_mask_decoder,
            config,
        }
    }

    /// One deterministic pass against a (shared) embedding, as `Sam2::decode` without
    /// multimask: the chosen mask (dynamic multimask, NO_OBJ masking) and its IoU, `[b, 4E, 4E]`
    /// and `[b]`, like [`selected`].
    pub fn decode(
        &self,
        embedding: &Sam2Embedding<B>,
        prompts: &Prompts<B>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 1>), EstimateError> {
        let heads = Sam2Heads {
            prompt_encoder: &self.prompt_encoder,
            mask_decoder: &self.mask_decoder,
            config: &self.config,
        };
        let d = heads.decode_with_noise(embedding, prompts, false, &mut NoNoise)?;
        let [rows, _, h, w] = d.low_res_logits.dims();
        Ok((
            d.low_res_logits.reshape([rows, h, w]),
            d.iou_predictions.reshape([rows]),
        ))
    }
}

/// The plain deterministic pass of a prompt batch.
#[derive(Clone, Debug)]
pub struct PlainPass<B: Backend> {
    /// Selected single-mask logits, `[b, 4E, 4E]` (SAM v1: token 0; see [`selected`]).
    pub logits: Tensor<B, 3>,
    /// Selected IoU predictions, `[b]`.
    pub iou: Tensor<B, 1>,
    /// Everything the pass produced (all tokens, last-layer features).
    pub output: DecoderOutput<B>,
}

/// Runs one deterministic decoder pass of `prompts` against the cached embedding.
pub fn plain_pass<B: Backend>(
    model: &dyn crate::Segmenter<B>,
    image: &crate::EncodedImage<B>,
    prompts: &uncertsam_sam::PromptBatch,
) -> Result<PlainPass<B>, EstimateError> {
    let p = model.prompts(prompts, &image.embedding)?;
    let decoded = model.decode(&image.embedding, &p, false)?;
    let (logits, iou) = selected(&decoded);
    Ok(PlainPass {
        logits,
        iou,
        output: decoded.all,
    })
}
