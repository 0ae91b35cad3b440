//! `Sam2`: SAM 2 on single images with the encode-once / decode-many API
//! (`sam2_base.py` `forward_image`, `_prepare_backbone_features`, `_forward_sam_heads`, and the
//! transforms of `sam2_image_predictor.py`).

use std::path::Path;

use burn::module::{Module, Param};
use burn::prelude::*;
use image::RgbImage;

use crate::error::SamError;
use crate::host::HostReshape;
use crate::mask_decoder::DecoderOutput;
use crate::noise::{NoNoise, NoiseHook};
use crate::prompt_encoder::Prompts;
use crate::sam2::config::Sam2Config;
use crate::sam2::fpn::{FpnNeck, position_embedding_sine};
use crate::sam2::hiera::Hiera;
use crate::sam2::mask_decoder::{
    MaskDecoder, OUTPUT_UPSCALING_RENAMES, Sam2DecoderOutput, stability_scores,
};
use crate::sam2::preprocess::sam2_model_input;
use crate::sam2::prompt_encoder::{MASK_DOWNSCALING_RENAMES, PromptEncoder, as_sam2_points};
use crate::sam2::transformer::MLP_RENAMES;
use crate::weights::{KeyRules, LoadReport, load_official, save_official};

/// Mask logit written where the object-score head says no object (`NO_OBJ_SCORE`).
pub const NO_OBJ_SCORE: f32 = -1024.0;

/// The laplace layer of SAM 2: the last Linear of the token-0 hypernetwork MLP.
pub const LAPLACE_LAYER: &str = "sam_mask_decoder.output_hypernetworks_mlps.0.layers.2";

/// Trunk plus neck (`image_encoder.trunk`, `image_encoder.neck`).
#[derive(Module, Debug)]
pub struct ImageEncoder<B: Backend> {
    /// Hiera trunk.
    pub trunk: Hiera<B>,
    /// FPN neck.
    pub neck: FpnNeck<B>,
}

/// The SAM 2 image model.
#[derive(Module, Debug)]
pub struct Sam2<B: Backend> {
    /// Trunk and neck.
    pub image_encoder: ImageEncoder<B>,
    /// Prompt encoder.
    pub sam_prompt_encoder: PromptEncoder<B>,
    /// Mask decoder (also holds conv_s0 / conv_s1 of the image path).
    pub sam_mask_decoder: MaskDecoder<B>,
    /// Added to the lowest-resolution features of a frame without memory, `[1, 1, d_model]`.
    pub no_mem_embed: Param<Tensor<B, 3>>,
    #[module(skip)]
    config: Sam2Config,
}

/// An image after the SAM 2 encoder.
#[derive(Clone, Debug)]
pub struct Sam2Embedding<B: Backend> {
    /// `pix_feat` with `no_mem_embed` added, `[1, d_model, E, E]`.
    pub embeddings: Tensor<B, 4>,
    /// conv_s0 / conv_s1 features, `[1, d / 8, 4E, 4E]` and `[1, d / 4, 2E, 2E]`.
    pub high_res_features: [Tensor<B, 4>; 2],
    /// Size `[h, w]` of the original image.
    pub original_size: [usize; 2],
}

/// One SAM 2 decoder pass for a batch of prompts.
#[derive(Clone, Debug)]
pub struct Sam2Decoded<B: Backend> {
    /// Chosen low-res logits, NO_OBJ-masked: `[b, 3, 4E, 4E]` with multimask, else `[b, 1, ...]`
    /// (the single-mask token, or the best multimask one when it is unstable).
    pub low_res_logits: Tensor<B, 4>,
    /// Chosen IoU predictions (sigmoid), `[b, 3]` or `[b, 1]`.
    pub iou_predictions: Tensor<B, 2>,
    /// Object-score logits, `[b, 1]`; a mask is NO_OBJ where this is `<= 0`.
    pub object_score_logits: Tensor<B, 2>,
    /// Every token's raw outputs (not masked) and the features last-layer methods need.
    pub all: DecoderOutput<B>,
}

fn key_rules() -> KeyRules {
    KeyRules {
        renames: MLP_RENAMES
            .iter()
            .chain(&OUTPUT_UPSCALING_RENAMES)
            .chain(&MASK_DOWNSCALING_RENAMES)
            .copied()
            .collect(),
        ignored: |k| {
            !(k.starts_with("image_encoder.")
                || k.starts_with("sam_prompt_encoder.")
                || k.starts_with("sam_mask_decoder.")
                || k == "no_mem_embed")
        },
        top_level_key: Some("model"),
    }
}

impl<B: Backend> Sam2<B> {
    /// A model of the given geometry with placeholder weights; load a checkpoint next.
    pub fn new(config: &Sam2Config, device: &B::Device) -> Result<Self, SamError> {
        config.validate().map_err(SamError::Config)?;
        let trunk = Hiera::new(&config.hiera, device);
        let channels: Vec<usize> = (0..4)
            .rev()
            .map(|i| config.hiera.embed_dim * (config.hiera.dim_mul.powi(i) as usize))
            .collect();
        let d = config.d_model;
        Ok(Self {
            image_encoder: ImageEncoder {
                trunk,
                neck: FpnNeck::new(&channels, d, &config.fpn_top_down_levels, device),
            },
            sam_prompt_encoder: PromptEncoder::new(&config.prompt_config(), device),
            sam_mask_decoder: MaskDecoder::new(d, device),
            no_mem_embed: Param::from_tensor(Tensor::zeros([1, 1, d], device)),
            config: config.clone(),
        })
    }

    /// Loads an official checkpoint: a `.pt` with the state dict under `"model"`, or a
    /// safetensors file with the official keys. Video-only keys (memory attention and encoder,
    /// object pointers, ...) are ignored.
    ///
    /// F16, BF16 and F64 weights are converted to the model's float type, with a `note:` line
    /// on stderr; [`Sam2::load_checkpoint_reported`] returns the counts instead.
    pub fn load_checkpoint(self, path: impl AsRef<Path>) -> Result<Self, SamError> {
        let path = path.as_ref();
        let (sam, report) = self.load_checkpoint_reported(path)?;
        report.print_note(path);
        Ok(sam)
    }

    /// [`Sam2::load_checkpoint`] without the stderr note: also returns what was converted.
    pub fn load_checkpoint_reported(
        mut self,
        path: impl AsRef<Path>,
    ) -> Result<(Self, LoadReport), SamError> {
        let report = load_official(&mut self, path.as_ref(), &key_rules())?;
        Ok((self, report))
    }

    /// Saves the image-path weights as safetensors with the official key names.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), SamError> {
        save_official(self, path.as_ref(), &key_rules())
    }

    /// The model's geometry.
    pub fn config(&self) -> &Sam2Config {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> B::Device {
        self.no_mem_embed.val().device()
    }

    /// The FPN levels the decoder uses (after `scalp`), finest first.
    ///
    /// # Shapes
    /// - x: `[1, 3, S, S]` -> `[1, d, S / 4, S / 4]`, `[1, d, S / 8, ...]`, `[1, d, S / 16, ...]`
    pub fn backbone_fpn(&self, x: Tensor<B, 4>) -> Vec<Tensor<B, 4>> {
        let mut feats = self
            .image_encoder
            .neck
            .forward(self.image_encoder.trunk.forward(x));
        feats.truncate(feats.len().saturating_sub(self.config.scalp));
        feats
    }

    /// The neck's sine position encoding of FPN level `level` (unused by the image path).
    ///
    /// # Shapes
    /// -> `[1, d_model, S / 2^(level + 2), ...]`
    pub fn vision_pos_enc(&self, level: usize) -> Tensor<B, 4> {
        let side = self.config.image_size >> (level + 2);
        position_embedding_sine(self.config.d_model, [side, side], &self.device())
    }

    /// Encodes an already normalised model input (`[1, 3, S, S]`, the image resized to S x S).
    pub fn embed_input(
        &self,
        model_input: Tensor<B, 4>,
        original_size: [usize; 2],
    ) -> Sam2Embedding<B> {
        let mut feats = self.backbone_fpn(model_input);
        let d = self.config.d_model;
        let low = feats
            .pop()
            .unwrap_or_else(|| Tensor::zeros([1, d, 1, 1], &self.device()));
        let level1 = feats.pop().unwrap_or_else(|| low.clone());
        let level0 = feats.pop().unwrap_or_else(|| level1.clone());
        Sam2Embedding {
            embeddings: low + self.no_mem_embed.val().host_reshape([1, d, 1, 1]),
            high_res_features: self.sam_mask_decoder.high_res_features(level0, level1),
            original_size,
        }
    }

    /// Resizes to `S x S`, normalises and encodes an RGB image, as
    /// `SAM2ImagePredictor.set_image`.
    pub fn embed(&self, image: &RgbImage) -> Sam2Embedding<B> {
        let input = sam2_model_input::<B>(image, self.config.image_size, &self.device());
        self.embed_input(input, [image.height() as usize, image.width() as usize])
    }

    /// Decodes a batch of prompts (model-input coordinates: `x / w * S`, `y / h * S`).
    pub fn decode(
        &self,
        image: &Sam2Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
    ) -> Result<Sam2Decoded<B>, SamError> {
        self.decode_with_noise(image, prompts, multimask, &mut NoNoise)
    }

    /// `decode` with `hook` applied at the decoder's noise sites.
    pub fn decode_with_noise(
        &self,
        image: &Sam2Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
        hook: &mut dyn NoiseHook<B>,
    ) -> Result<Sam2Decoded<B>, SamError> {
        self.heads()
            .decode_with_noise(image, prompts, multimask, hook)
    }

    /// The model's prompt encoder and mask decoder with its geometry.
    pub fn heads(&self) -> Sam2Heads<'_, B> {
        Sam2Heads {
            prompt_encoder: &self.sam_prompt_encoder,
            mask_decoder: &self.sam_mask_decoder,
            config: &self.config,
        }
    }

    /// Upscales low-resolution logits to the original image (`postprocess_masks`: one bilinear
    /// resize, align_corners=False).
    ///
    /// # Shapes
    /// - low_res: `[b, m, 4E, 4E]` -> `[b, m, original_h, original_w]`
    pub fn postprocess(&self, low_res: Tensor<B, 4>, image: &Sam2Embedding<B>) -> Tensor<B, 4> {
        resize_bilinear_two_tap(low_res, image.original_size)
    }
}

/// A SAM 2 prompt encoder and mask decoder with the geometry they decode for: the model's own
/// ([`Sam2::heads`]) or those of another checkpoint sharing the model's image embedding (an
/// ensemble member). Everything after the image path of `_forward_sam_heads`.
#[derive(Clone, Copy, Debug)]
pub struct Sam2Heads<'a, B: Backend> {
    /// `sam_prompt_encoder`.
    pub prompt_encoder: &'a PromptEncoder<B>,
    /// `sam_mask_decoder` (its conv_s0 / conv_s1 are not used here: the embedding holds their
    /// output).
    pub mask_decoder: &'a MaskDecoder<B>,
    /// The geometry (output choice thresholds, low-resolution side).
    pub config: &'a Sam2Config,
}

impl<B: Backend> Sam2Heads<'_, B> {
    /// The device of the heads' weights.
    pub fn device(&self) -> B::Device {
        self.mask_decoder.iou_token.weight.val().device()
    }

    /// The sparse and dense prompt embeddings of `prompts` (boxes as corner points, a padding
    /// point, see [`as_sam2_points`]); a mask prompt must be `[b, 1, 4E, 4E]`.
    ///
    /// # Shapes
    /// - -> sparse `[b, n, d]`, dense `[b, d, E, E]`
    #[allow(clippy::type_complexity)]
    pub fn prompt_embeddings(
        &self,
        prompts: &Prompts<B>,
    ) -> Result<(Option<Tensor<B, 3>>, Tensor<B, 4>), SamError> {
        let b = prompts.batch_size().map_err(SamError::Input)?;
        self.prompt_embeddings_for(prompts, b)
    }

    /// [`Self::prompt_embeddings`] for a decoder run against an image embedding of batch
    /// `image_batch`: one image and no mask prompt leave the dense embedding at batch 1
    /// (`PromptEncoder::forward_shared`).
    #[allow(clippy::type_complexity)]
    pub fn prompt_embeddings_for(
        &self,
        prompts: &Prompts<B>,
        image_batch: usize,
    ) -> Result<(Option<Tensor<B, 3>>, Tensor<B, 4>), SamError> {
        let b = prompts.batch_size().map_err(SamError::Input)?;
        let low = self.config.low_res_side();
        if let Some(m) = &prompts.masks {
            let dims = m.dims();
            if dims[1] != 1 || [dims[2], dims[3]] != [low, low] {
                return Err(SamError::Input(format!(
                    "mask prompt must be [b, 1, {low}, {low}]; got {dims:?}"
                )));
            }
        }
        let p = as_sam2_points(prompts, b, &self.device());
        Ok(self.prompt_encoder.forward_shared(&p, b, image_batch))
    }

    /// The dense positional encoding, `[1, d, E, E]`.
    pub fn dense_pe(&self) -> Tensor<B, 4> {
        self.prompt_encoder.get_dense_pe(&self.device())
    }

    /// One decoder pass: the chosen masks as [`select_outputs`] picks them.
    pub fn decode_with_noise(
        &self,
        image: &Sam2Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
        hook: &mut dyn NoiseHook<B>,
    ) -> Result<Sam2Decoded<B>, SamError> {
        let out = self.predict_masks(image, prompts, hook)?;
        Ok(select_outputs(out, multimask, self.config))
    }

    /// Every token's outputs of one decoder pass, before the output choice.
    fn predict_masks(
        &self,
        image: &Sam2Embedding<B>,
        prompts: &Prompts<B>,
        hook: &mut dyn NoiseHook<B>,
    ) -> Result<Sam2DecoderOutput<B>, SamError> {
        let (sparse, dense) = self.prompt_embeddings_for(prompts, image.embeddings.dims()[0])?;
        Ok(self.mask_decoder.predict_masks(
            image.embeddings.clone(),
            self.dense_pe(),
            sparse,
            dense,
            &image.high_res_features,
            hook,
        ))
    }

    /// One decoder pass as in training ([`select_train_outputs`]: token 0 or the three
    /// multimask tokens, no dynamic multimask).
    pub fn decode_train(
        &self,
        image: &Sam2Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
    ) -> Result<Sam2Decoded<B>, SamError> {
        let out = self.predict_masks(image, prompts, &mut NoNoise)?;
        Ok(select_train_outputs(out, multimask))
    }
}

/// The output choice of the image path (`_forward_sam_heads` after the decoder, with the
/// decoder in eval mode): the three multimask tokens with `multimask`, else the single-mask
/// token unless it is unstable, then the best multimask one (`_dynamic_multimask_via_stability`);
/// logits are set to [`NO_OBJ_SCORE`] where the object score is `<= 0`.
pub fn select_outputs<B: Backend>(
    out: Sam2DecoderOutput<B>,
    multimask: bool,
    config: &Sam2Config,
) -> Sam2Decoded<B> {
    let (masks, ious) = (out.all.masks.clone(), out.all.iou_predictions.clone());
    let [b, n, h, w] = masks.dims();
    let (logits, iou) = if multimask {
        (
            masks.slice([0..b, 1..n, 0..h, 0..w]),
            ious.slice([0..b, 1..n]),
        )
    } else {
        dynamic_multimask(masks, ious, config)
    };
    with_no_obj_masking(out, logits, iou)
}

/// The output choice of the image path in training (`_forward_sam_heads` with the decoder in
/// train mode, as `SAM2Train` runs it): the three multimask tokens with `multimask`, else the
/// single-mask token 0 (`_dynamic_multimask_via_stability` runs only `if not self.training`);
/// logits are set to [`NO_OBJ_SCORE`] where the object score is `<= 0`, as at inference.
pub fn select_train_outputs<B: Backend>(
    out: Sam2DecoderOutput<B>,
    multimask: bool,
) -> Sam2Decoded<B> {
    let (masks, ious) = (out.all.masks.clone(), out.all.iou_predictions.clone());
    let [b, n, h, w] = masks.dims();
    let tokens = if multimask { 1..n } else { 0..1 };
    let logits = masks.slice([0..b, tokens.clone(), 0..h, 0..w]);
    let iou = ious.slice([0..b, tokens]);
    with_no_obj_masking(out, logits, iou)
}

/// `torch.where(is_obj_appearing, low_res_multimasks, NO_OBJ_SCORE)` on the chosen `logits`.
fn with_no_obj_masking<B: Backend>(
    out: Sam2DecoderOutput<B>,
    logits: Tensor<B, 4>,
    iou: Tensor<B, 2>,
) -> Sam2Decoded<B> {
    let b = logits.dims()[0];
    let device = logits.device();
    let present = out
        .object_score_logits
        .clone()
        .greater_elem(0.0)
        .reshape([b, 1, 1, 1])
        .expand(logits.dims());
    let masked = Tensor::full(logits.dims(), NO_OBJ_SCORE, &device).mask_where(present, logits);
    Sam2Decoded {
        low_res_logits: masked,
        iou_predictions: iou,
        object_score_logits: out.object_score_logits,
        all: out.all,
    }
}

/// `_dynamic_multimask_via_stability`: token 0 where its stability reaches the threshold,
/// else the multimask token with the highest predicted IoU.
fn dynamic_multimask<B: Backend>(
    masks: Tensor<B, 4>,
    ious: Tensor<B, 2>,
    config: &Sam2Config,
) -> (Tensor<B, 4>, Tensor<B, 2>) {
    let [b, n, h, w] = masks.dims();
    let multi = masks.clone().slice([0..b, 1..n, 0..h, 0..w]);
    let multi_iou = ious.clone().slice([0..b, 1..n]);
    let best = multi_iou.clone().argmax(1); // [b, 1]
    let best_masks = multi.gather(1, best.clone().reshape([b, 1, 1, 1]).expand([b, 1, h, w]));
    let best_iou = multi_iou.gather(1, best);
    let single = masks.slice([0..b, 0..1, 0..h, 0..w]);
    let single_iou = ious.slice([0..b, 0..1]);
    let stable = stability_scores(single.clone(), config.dynamic_multimask_stability_delta)
        .greater_equal_elem(config.dynamic_multimask_stability_thresh);
    let masks_out = best_masks.mask_where(
        stable.clone().reshape([b, 1, 1, 1]).expand([b, 1, h, w]),
        single,
    );
    (masks_out, best_iou.mask_where(stable, single_iou))
}

/// Bilinear resize (align_corners=False) with PyTorch's CPU arithmetic: two taps along the
/// width, then two along the height, `w0 = 1 - w1` in f32. A constant map (a NO_OBJ mask at
/// -1024) stays exactly constant, where a resize matrix would be off by an ulp (1.2e-4).
///
/// # Shapes
/// - x: `[n, c, h, w]` -> `[n, c, out_h, out_w]`
pub fn resize_bilinear_two_tap<B: Backend>(x: Tensor<B, 4>, [oh, ow]: [usize; 2]) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    if [h, w] == [oh, ow] {
        return x;
    }
    let device = x.device();
    let taps = |input: usize, output: usize, dim: usize| {
        let scale = input as f32 / output as f32;
        let (mut i0, mut i1, mut l0, mut l1) = (vec![], vec![], vec![], vec![]);
        for d in 0..output {
            let real = (scale * (d as f32 + 0.5) - 0.5).max(0.0);
            let a = (real as usize).min(input - 1);
            let lambda = real - a as f32;
            i0.push(a as i64);
            i1.push((a + usize::from(a < input - 1)) as i64);
            l0.push(1.0 - lambda);
            l1.push(lambda);
        }
        let mut shape = [1, 1, 1, 1];
        shape[dim] = output;
        let idx =
            |v: Vec<i64>| Tensor::<B, 1, Int>::from_data(TensorData::new(v, [output]), &device);
        let wt = |v: Vec<f32>| Tensor::<B, 4>::from_data(TensorData::new(v, shape), &device);
        (idx(i0), idx(i1), wt(l0), wt(l1))
    };
    let (a0, a1, w0, w1) = taps(w, ow, 3);
    let x = x.clone().select(3, a0) * w0 + x.select(3, a1) * w1;
    let (b0, b1, h0, h1) = taps(h, oh, 2);
    let out = x.clone().select(2, b0) * h0 + x.select(2, b1) * h1;
    debug_assert_eq!(out.dims(), [n, c, oh, ow]);
    out
}
