//! The two model families: SAM v1 / MobileSAM ([`Sam`]) and SAM 2 ([`Sam2`]), borrowed
//! ([`SamModel`]) or owned ([`AnySam`]), and [`Embedding`], an image embedding of either family.
//! The estimators (`uncertsam-estimate`'s `Segmenter`) and refinement (`uncertsam-refine`)
//! reach both families through these.

use std::ops::Deref;
use std::path::Path;

use crate::sam2::sam2::resize_bilinear_two_tap;
use crate::{
    Decoded, ImageEmbedding, Mlp, NoNoise, NoiseHook, PromptBatch, Prompts, Sam, Sam2, Sam2Config,
    Sam2Embedding, SamConfig, SamError,
};
use burn::prelude::*;
use image::RgbImage;

/// An image after either family's encoder. Derefs to the SAM v1 view ([`ImageEmbedding`]:
/// embedding, input and original size); SAM 2 adds its conv_s0 / conv_s1 high-resolution
/// features, and its `input_size` is `[S, S]` (the image is resized without padding).
#[derive(Clone, Debug)]
pub struct Embedding<B: Backend> {
    /// The embedding (SAM 2: lowest FPN level plus `no_mem_embed`) and the sizes.
    pub image: ImageEmbedding<B>,
    /// SAM 2's high-resolution features; `None` for SAM v1 and MobileSAM.
    pub high_res_features: Option<[Tensor<B, 4>; 2]>,
}

impl<B: Backend> Deref for Embedding<B> {
    type Target = ImageEmbedding<B>;

    fn deref(&self) -> &ImageEmbedding<B> {
        &self.image
    }
}

impl<B: Backend> From<ImageEmbedding<B>> for Embedding<B> {
    fn from(image: ImageEmbedding<B>) -> Self {
        Self {
            image,
            high_res_features: None,
        }
    }
}

impl<B: Backend> From<Sam2Embedding<B>> for Embedding<B> {
    fn from(e: Sam2Embedding<B>) -> Self {
        let [_, _, h, w] = e.embeddings.dims();
        let side = 16 * h.max(w);
        Self {
            image: ImageEmbedding {
                embeddings: e.embeddings,
                input_size: [side, side],
                original_size: e.original_size,
            },
            high_res_features: Some(e.high_res_features),
        }
    }
}

impl<B: Backend> Embedding<B> {
    /// The SAM 2 view, or an error when the embedding came from a SAM v1 encoder.
    pub fn sam2(&self) -> Result<Sam2Embedding<B>, SamError> {
        let high_res_features = self.high_res_features.clone().ok_or_else(|| {
            SamError::Input(
                "a SAM 2 decoder needs SAM 2 high-resolution features; this embedding came \
                 from a SAM v1 / MobileSAM encoder"
                    .into(),
            )
        })?;
        Ok(Sam2Embedding {
            embeddings: self.image.embeddings.clone(),
            high_res_features,
            original_size: self.image.original_size,
        })
    }
}

/// A borrowed model of either family (what `uncertsam_estimate::Segmenter::model` returns).
#[derive(Debug)]
pub enum SamModel<'a, B: Backend> {
    /// SAM v1 or MobileSAM.
    Sam(&'a Sam<B>),
    /// SAM 2.
    Sam2(&'a Sam2<B>),
}

impl<B: Backend> Clone for SamModel<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for SamModel<'_, B> {}

impl<'a, B: Backend> From<&'a Sam<B>> for SamModel<'a, B> {
    fn from(sam: &'a Sam<B>) -> Self {
        Self::Sam(sam)
    }
}

impl<'a, B: Backend> From<&'a Sam2<B>> for SamModel<'a, B> {
    fn from(sam: &'a Sam2<B>) -> Self {
        Self::Sam2(sam)
    }
}

impl<'a, B: Backend> From<&'a AnySam<B>> for SamModel<'a, B> {
    fn from(sam: &'a AnySam<B>) -> Self {
        sam.model()
    }
}

impl<'a, B: Backend> SamModel<'a, B> {
    /// The device the weights live on.
    pub fn device(self) -> B::Device {
        match self {
            Self::Sam(s) => s.device(),
            Self::Sam2(s) => s.device(),
        }
    }

    /// Side of the square model input (`img_size`, SAM 2 `image_size`).
    pub fn img_size(self) -> usize {
        match self {
            Self::Sam(s) => s.config().img_size,
            Self::Sam2(s) => s.config().image_size,
        }
    }

    /// Side `[4E, 4E]` of the decoder's low-resolution masks.
    pub fn low_res_size(self) -> [usize; 2] {
        match self {
            Self::Sam(s) => s.config().low_res_size(),
            Self::Sam2(s) => {
                let side = s.config().low_res_side();
                [side, side]
            }
        }
    }

    /// Whether this is a SAM 2 model.
    pub fn is_sam2(self) -> bool {
        matches!(self, Self::Sam2(_))
    }

    /// Channels of the image embedding and the decoder tokens.
    pub fn prompt_embed_dim(self) -> usize {
        match self {
            Self::Sam(s) => s.config().prompt_embed_dim,
            Self::Sam2(s) => s.config().d_model,
        }
    }

    /// The hypernetwork MLP of every mask token (token 0 = single-mask token). The last
    /// Linear of token 0's is the layer last-layer Laplace treats as Bayesian.
    pub fn hypernetwork_mlps(self) -> &'a [Mlp<B>] {
        match self {
            Self::Sam(s) => &s.mask_decoder.output_hypernetworks_mlps,
            Self::Sam2(s) => &s.sam_mask_decoder.output_hypernetworks_mlps,
        }
    }

    /// Preprocesses and encodes an RGB image (`set_image` of the family's predictor).
    pub fn embed(self, image: &RgbImage) -> Embedding<B> {
        match self {
            Self::Sam(s) => s.embed(image).into(),
            Self::Sam2(s) => s.embed(image).into(),
        }
    }

    /// [`SamModel::embed`] of several images: SAM v1 / MobileSAM batch them through the
    /// encoder ([`Sam::embed_many`], [`Sam::encoder_batch`] at a time), SAM 2 encodes them
    /// one by one.
    pub fn embed_many(self, images: &[RgbImage]) -> Vec<Embedding<B>> {
        match self {
            Self::Sam(s) => s
                .embed_many(images, s.encoder_batch())
                .into_iter()
                .map(Embedding::from)
                .collect(),
            Self::Sam2(s) => images.iter().map(|i| s.embed(i).into()).collect(),
        }
    }

    /// One decoder pass. SAM 2: `low_res_logits` are the chosen masks (dynamic multimask
    /// without `multimask`) with NO_OBJ masking (-1024 where the object score is `<= 0`), as
    /// `_forward_sam_heads`; `all` holds every token's raw outputs.
    pub fn decode_with_noise(
        self,
        embedding: &Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
        hook: &mut dyn NoiseHook<B>,
    ) -> Result<Decoded<B>, SamError> {
        match self {
            Self::Sam(s) => s.decode_with_noise(embedding, prompts, multimask, hook),
            Self::Sam2(s) => {
                let d = s.decode_with_noise(&embedding.sam2()?, prompts, multimask, hook)?;
                Ok(Decoded {
                    low_res_logits: d.low_res_logits,
                    iou_predictions: d.iou_predictions,
                    all: d.all,
                })
            }
        }
    }

    /// [`SamModel::decode_with_noise`] without noise.
    pub fn decode(
        self,
        embedding: &Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
    ) -> Result<Decoded<B>, SamError> {
        self.decode_with_noise(embedding, prompts, multimask, &mut NoNoise)
    }

    /// Original-image prompts to model-input prompts for `embedding`'s image.
    pub fn prompts(
        self,
        batch: &PromptBatch,
        embedding: &Embedding<B>,
    ) -> Result<Prompts<B>, SamError> {
        match self {
            Self::Sam(s) => batch.build(s, embedding),
            Self::Sam2(s) => batch.build_sam2(s, &embedding.sam2()?),
        }
    }

    /// Low-resolution maps `[b, m, 4E, 4E]` to the original image `[b, m, h, w]`: SAM v1
    /// crops the padding first; SAM 2 resizes straight to the original size.
    pub fn postprocess(self, low_res: Tensor<B, 4>, embedding: &Embedding<B>) -> Tensor<B, 4> {
        match self {
            Self::Sam(s) => s.postprocess(low_res, embedding),
            Self::Sam2(_) => resize_bilinear_two_tap(low_res, embedding.original_size),
        }
    }

    /// Low-resolution maps `[b, 4E, 4E]` (one per prompt row) at the original image size
    /// `[b, h, w]` ([`crate::frame::upsample_maps`] of [`SamModel::postprocess`]).
    pub fn upsample(self, maps: Tensor<B, 3>, embedding: &Embedding<B>) -> Tensor<B, 3> {
        crate::frame::upsample_maps(maps, |x| self.postprocess(x, embedding))
    }
}

/// An owned model of either family (what a command line loads).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per process
pub enum AnySam<B: Backend> {
    /// SAM v1 or MobileSAM.
    Sam(Sam<B>),
    /// SAM 2.
    Sam2(Sam2<B>),
}

/// The geometry of either family.
#[derive(Clone, Debug)]
pub enum AnyConfig {
    /// SAM v1 or MobileSAM.
    Sam(SamConfig),
    /// SAM 2.
    Sam2(Sam2Config),
}

impl AnyConfig {
    /// A preset by name: `vit_b`, `vit_l`, `vit_h`, `tiny`, `mobile_sam`, `sam2_hiera_t`,
    /// `sam2_hiera_s`, `sam2_hiera_b+`, `sam2_hiera_l`.
    pub fn preset(name: &str) -> Option<Self> {
        match name.strip_prefix("sam2_") {
            Some(rest) => Sam2Config::preset(rest).map(Self::Sam2),
            None => SamConfig::preset(name).map(Self::Sam),
        }
    }

    /// A `config.json` of either family (`"model_type": "sam2"` selects SAM 2, as in the
    /// parity fixtures).
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_str(text)?;
        if v.get("model_type").and_then(|t| t.as_str()) == Some("sam2") {
            serde_json::from_value(v).map(Self::Sam2)
        } else {
            serde_json::from_value(v).map(Self::Sam)
        }
    }
}

impl<B: Backend> AnySam<B> {
    /// A model of `config` with the constructors' (random) initial weights.
    pub fn new(config: &AnyConfig, device: &B::Device) -> Result<Self, SamError> {
        Ok(match config {
            AnyConfig::Sam(c) => Self::Sam(Sam::new(c, device)?),
            AnyConfig::Sam2(c) => Self::Sam2(Sam2::new(c, device)?),
        })
    }

    /// Loads an official checkpoint (SAM v1 / MobileSAM `.pth` / `.pt`, SAM 2 `.pt` with the
    /// state dict under `"model"`, or safetensors with the official keys).
    pub fn load_checkpoint(self, path: impl AsRef<Path>) -> Result<Self, SamError> {
        Ok(match self {
            Self::Sam(s) => Self::Sam(s.load_checkpoint(path)?),
            Self::Sam2(s) => Self::Sam2(s.load_checkpoint(path)?),
        })
    }

    /// The borrowed view.
    pub fn model(&self) -> SamModel<'_, B> {
        match self {
            Self::Sam(s) => SamModel::Sam(s),
            Self::Sam2(s) => SamModel::Sam2(s),
        }
    }
}
