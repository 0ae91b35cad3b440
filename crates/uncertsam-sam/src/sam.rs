//! `Sam`: image encoder + prompt encoder + mask decoder, with the encode-once / decode-many API.
//! The image encoder is SAM's ViT or MobileSAM's TinyViT; both share the prompt encoder and
//! the mask decoder.

use std::borrow::Borrow;

use burn::module::Module;
use burn::prelude::*;
use image::RgbImage;

use crate::config::{EncoderKind, SamConfig};
use crate::error::SamError;
use crate::image_encoder::ImageEncoderViT;
use crate::mask_decoder::{DecoderOutput, MaskDecoder};
use crate::noise::{NoNoise, NoiseHook};
use crate::postprocess::postprocess_masks;
use crate::preprocess::{resize_longest_side, to_model_input};
use crate::prompt_encoder::{PromptEncoder, Prompts};
use crate::tiny_vit::TinyViT;

/// The image encoder of a [`Sam`]. Checkpoint keys do not name the variant
/// (`image_encoder.blocks.0...` or `image_encoder.layers.0...`, as in the official models).
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // one per model; boxing would add a path segment
pub enum ImageEncoder<B: Backend> {
    /// SAM's ViT.
    Vit(ImageEncoderViT<B>),
    /// MobileSAM's TinyViT.
    TinyVit(TinyViT<B>),
}

impl<B: Backend> ImageEncoder<B> {
    /// Encodes a normalised, padded image batch.
    ///
    /// # Shapes
    /// - x: `[n, 3, img_size, img_size]` -> `[n, prompt_embed_dim, E, E]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self {
            Self::Vit(e) => e.forward(x),
            Self::TinyVit(e) => e.forward(x),
        }
    }

    /// The ViT, when the encoder is one.
    pub fn vit(&self) -> Option<&ImageEncoderViT<B>> {
        match self {
            Self::Vit(e) => Some(e),
            Self::TinyVit(_) => None,
        }
    }

    /// The TinyViT, when the encoder is one.
    pub fn tiny_vit(&self) -> Option<&TinyViT<B>> {
        match self {
            Self::TinyVit(e) => Some(e),
            Self::Vit(_) => None,
        }
    }
}

/// The Segment Anything model (v1 geometry: ViT encoder, or TinyViT for MobileSAM).
#[derive(Module, Debug)]
pub struct Sam<B: Backend> {
    /// Image encoder.
    pub image_encoder: ImageEncoder<B>,
    /// Prompt encoder.
    pub prompt_encoder: PromptEncoder<B>,
    /// Mask decoder.
    pub mask_decoder: MaskDecoder<B>,
    #[module(skip)]
    config: SamConfig,
}

/// An image after the encoder: what every prompt on it reuses.
#[derive(Clone, Debug)]
pub struct ImageEmbedding<B: Backend> {
    /// Image embedding, `[1, prompt_embed_dim, E, E]`.
    pub embeddings: Tensor<B, 4>,
    /// Size `[h, w]` of the resized image inside the padded model input.
    pub input_size: [usize; 2],
    /// Size `[h, w]` of the original image.
    pub original_size: [usize; 2],
}

/// One decoder pass for a batch of prompts.
#[derive(Clone, Debug)]
pub struct Decoded<B: Backend> {
    /// Selected low-resolution logits: `[b, 3, 4E, 4E]` with multimask, else `[b, 1, 4E, 4E]`.
    pub low_res_logits: Tensor<B, 4>,
    /// Selected IoU predictions, `[b, 3]` or `[b, 1]`.
    pub iou_predictions: Tensor<B, 2>,
    /// Outputs of every mask token and the features last-layer methods need.
    pub all: DecoderOutput<B>,
}

impl<B: Backend> Sam<B> {
    /// A model of the given geometry with placeholder weights; load a checkpoint next.
    pub fn new(config: &SamConfig, device: &B::Device) -> Result<Self, SamError> {
        config.validate().map_err(SamError::Config)?;
        Ok(Self {
            image_encoder: match &config.encoder {
                EncoderKind::Vit => ImageEncoder::Vit(ImageEncoderViT::new(config, device)),
                EncoderKind::TinyVit(t) => {
                    ImageEncoder::TinyVit(TinyViT::new(t, config.prompt_embed_dim, device))
                }
            },
            prompt_encoder: PromptEncoder::new(config, device),
            mask_decoder: MaskDecoder::new(config, device),
            config: config.clone(),
        })
    }

    /// The model's geometry.
    pub fn config(&self) -> &SamConfig {
        &self.config
    }

    /// Encodes an already normalised and padded model input (`[1, 3, S, S]`).
    pub fn embed_input(
        &self,
        model_input: Tensor<B, 4>,
        input_size: [usize; 2],
        original_size: [usize; 2],
    ) -> ImageEmbedding<B> {
        ImageEmbedding {
            embeddings: self.image_encoder.forward(model_input),
            input_size,
            original_size,
        }
    }

    /// Resizes, normalises, pads and encodes an RGB image, as `SamPredictor.set_image`.
    pub fn embed(&self, image: &RgbImage) -> ImageEmbedding<B> {
        let device = self.device();
        let c = self.config();
        let resized = resize_longest_side(image, c.img_size);
        let input = to_model_input::<B>(&resized, c, &device);
        self.embed_input(
            input,
            [resized.height() as usize, resized.width() as usize],
            [image.height() as usize, image.width() as usize],
        )
    }

    /// [`Sam::embed`] of several images, `batch` at a time through the encoder (each image is
    /// padded to the square model input, so any sizes batch). Every embedding equals `embed`
    /// of its image (tested).
    pub fn embed_many(
        &self,
        images: &[impl Borrow<RgbImage>],
        batch: usize,
    ) -> Vec<ImageEmbedding<B>> {
        let device = self.device();
        let c = self.config();
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(batch.max(1)) {
            let mut inputs = Vec::with_capacity(chunk.len());
            let mut sizes = Vec::with_capacity(chunk.len());
            for image in chunk {
                let image = image.borrow();
                let resized = resize_longest_side(image, c.img_size);
                inputs.push(to_model_input::<B>(&resized, c, &device));
                sizes.push((
                    [resized.height() as usize, resized.width() as usize],
                    [image.height() as usize, image.width() as usize],
                ));
            }
            let all = self.image_encoder.forward(Tensor::cat(inputs, 0));
            let [_, d, h, w] = all.dims();
            for (i, (input_size, original_size)) in sizes.into_iter().enumerate() {
                out.push(ImageEmbedding {
                    embeddings: all.clone().slice([i..i + 1, 0..d, 0..h, 0..w]),
                    input_size,
                    original_size,
                });
            }
        }
        out
    }

    /// Images per encoder pass in [`Sam::embed_many`] that keep one global-attention matrix
    /// of the batch (`tokens^2 x heads` floats) under 1 GiB: all the views of a small model,
    /// one at a time for ViT-B/L/H at 1024.
    pub fn encoder_batch(&self) -> usize {
        let c = self.config();
        let tokens = (c.img_size / c.patch_size.max(1)).pow(2);
        let bytes = tokens * tokens * c.encoder_num_heads.max(1) * 4;
        ((1usize << 30) / bytes.max(1)).max(1)
    }

    /// The device the weights live on.
    pub fn device(&self) -> B::Device {
        self.mask_decoder.iou_token.weight.val().device()
    }

    /// Decodes a batch of prompts (model-input coordinates) against one embedding.
    pub fn decode(
        &self,
        image: &ImageEmbedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
    ) -> Result<Decoded<B>, SamError> {
        self.decode_with_noise(image, prompts, multimask, &mut NoNoise)
    }

    /// `decode` with `hook` applied at the decoder's noise sites (MC dropout and the like).
    pub fn decode_with_noise(
        &self,
        image: &ImageEmbedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
        hook: &mut dyn NoiseHook<B>,
    ) -> Result<Decoded<B>, SamError> {
        let b = prompts.batch_size().map_err(SamError::Input)?;
        self.check_prompts(prompts)?;
        let (sparse, dense) =
            self.prompt_encoder
                .forward_shared(prompts, b, image.embeddings.dims()[0]);
        let pe = self.prompt_encoder.get_dense_pe(&self.device());
        let all =
            self.mask_decoder
                .predict_masks(image.embeddings.clone(), pe, sparse, dense, hook);
        let n = self.mask_decoder.num_mask_tokens();
        let range = if multimask { 1..n } else { 0..1 };
        let [_, _, h, w] = all.masks.dims();
        Ok(Decoded {
            low_res_logits: all.masks.clone().slice([0..b, range.clone(), 0..h, 0..w]),
            iou_predictions: all.iou_predictions.clone().slice([0..b, range]),
            all,
        })
    }

    fn check_prompts(&self, p: &Prompts<B>) -> Result<(), SamError> {
        let low = self.config().low_res_size();
        if let Some((pts, labels)) = &p.points {
            let [b, n, two] = pts.dims();
            if two != 2 || labels.dims() != [b, n] {
                return Err(SamError::Input(format!(
                    "points must be [b, n, 2] with labels [b, n]; got {:?} and {:?}",
                    pts.dims(),
                    labels.dims()
                )));
            }
        }
        if let Some(m) = &p.masks {
            let d = m.dims();
            if d[1] != 1 || [d[2], d[3]] != low {
                return Err(SamError::Input(format!(
                    "mask prompt must be [b, 1, {}, {}]; got {d:?}",
                    low[0], low[1]
                )));
            }
        }
        Ok(())
    }

    /// Upscales low-resolution logits to the original image (`postprocess_masks`).
    ///
    /// # Shapes
    /// - low_res: `[b, m, 4E, 4E]` -> `[b, m, original_h, original_w]`
    pub fn postprocess(&self, low_res: Tensor<B, 4>, image: &ImageEmbedding<B>) -> Tensor<B, 4> {
        postprocess_masks(
            low_res,
            self.config().img_size,
            image.input_size,
            image.original_size,
        )
    }

    /// Upscales `[b, 4E, 4E]` maps to `[b, original_h, original_w]` (one map per prompt row;
    /// see [`crate::frame::upsample_maps`]).
    pub fn upsample(&self, maps: Tensor<B, 3>, image: &ImageEmbedding<B>) -> Tensor<B, 3> {
        crate::frame::upsample_maps(maps, |x| self.postprocess(x, image))
    }
}
