//! The variance network of spec §2.2 / §3.4: a second upscaling branch and a hypernetwork MLP
//! on the single-mask token, giving a per-pixel log-variance `logvar = hyper(token) · E_unc`
//! clamped to `[-5, 5]`. The uncertainty map is the low-resolution logvar itself (not its
//! exponential), as in the paper; the prediction is SAM's own deterministic logits.
//!
//! SAM 2: the head reads the same transformer outputs (its single-mask token is the third
//! output token, after the object-score and IoU tokens) and, like SAM 2's own upscaling, adds
//! the embedding's high-resolution features: `conv_s1` before the LayerNorm, `conv_s0` before
//! the last GELU. Same weights, one flag in the config ([`VarianceNetConfig::sam2`]).

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{
    ImageEmbedding, LayerNorm2d, Mlp, NoNoise, PromptBatch, Prompts, Sam, Sam2, Sam2Embedding,
    resize_bilinear,
};

use crate::decode::{PlainPass, plain_pass};
use crate::estimate::MapKind;
use crate::estimator::Persist;
use crate::persist::{load_json, load_module, save_json, save_module};
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};
use uncertsam_sam::{Embedding, SamModel};

fn default_clamp() -> f64 {
    5.0
}

/// Geometry of a [`VarianceNet`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VarianceNetConfig {
    /// Decoder width (`prompt_embed_dim`: 256 for the official models).
    pub dim: usize,
    /// The log-variance is clamped to `[-clamp, clamp]` (the paper: 5).
    #[serde(default = "default_clamp")]
    pub clamp: f64,
    /// Trained on SAM 2 decoder features (adds the high-resolution features); absent, false,
    /// for SAM v1 / MobileSAM.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sam2: bool,
}

impl VarianceNetConfig {
    /// The geometry for `sam`'s decoder.
    pub fn for_sam<B: Backend>(sam: &Sam<B>) -> Self {
        Self {
            dim: sam.config().prompt_embed_dim,
            clamp: default_clamp(),
            sam2: false,
        }
    }

    /// The geometry for `sam`'s SAM 2 decoder.
    pub fn for_sam2<B: Backend>(sam: &Sam2<B>) -> Self {
        Self {
            dim: sam.config().d_model,
            clamp: default_clamp(),
            sam2: true,
        }
    }

    /// The geometry for the decoder of either family.
    pub fn for_model<B: Backend>(model: SamModel<'_, B>) -> Self {
        match model {
            SamModel::Sam(s) => Self::for_sam(s),
            SamModel::Sam2(s) => Self::for_sam2(s),
        }
    }

    /// Checks that a head of this geometry reads `model`'s decoder (family and width);
    /// `what` names the head in the message.
    pub fn check_model<B: Backend>(
        &self,
        model: SamModel<'_, B>,
        what: &str,
    ) -> Result<(), EstimateError> {
        let expected = Self::for_model(model);
        let family = |sam2: bool| if sam2 { "SAM 2" } else { "SAM v1 / MobileSAM" };
        if self.sam2 != expected.sam2 {
            return Err(EstimateError::config(
                "variance_net",
                format!(
                    "{what}: head trained on {} decoder features, the model is {}",
                    family(self.sam2),
                    family(expected.sam2)
                ),
            ));
        }
        if self.dim != expected.dim {
            return Err(EstimateError::config(
                "variance_net",
                format!(
                    "{what}: head width {} does not match the model's {}",
                    self.dim, expected.dim
                ),
            ));
        }
        Ok(())
    }
}

/// The log-variance head: `Upsample x2 (bilinear) -> Conv3x3(dim -> dim/4) -> LN2d -> GELU ->
/// Upsample x2 -> Conv3x3(dim/4 -> dim/8) -> GELU` on the transformer's image output, dotted
/// with a hypernetwork MLP `dim -> dim -> dim -> dim/8` of the single-mask token.
#[derive(Module, Debug)]
pub struct VarianceNet<B: Backend> {
    /// `Conv3x3(dim -> dim/4)`, padding 1.
    pub conv1: Conv2d<B>,
    /// LayerNorm2d over `dim/4` channels.
    pub ln: LayerNorm2d<B>,
    /// `Conv3x3(dim/4 -> dim/8)`, padding 1.
    pub conv2: Conv2d<B>,
    /// Hypernetwork MLP of the single-mask token (Kaiming-normal fan-out weights, zero bias).
    pub hypernetwork: Mlp<B>,
    clamp: f64,
}

impl<B: Backend> VarianceNet<B> {
    /// A freshly initialised head.
    pub fn new(config: &VarianceNetConfig, device: &B::Device) -> Self {
        let d = config.dim;
        let conv = |i: usize, o: usize| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let linear = |i: usize, o: usize| {
            let mut l = LinearConfig::new(i, o)
                .with_initializer(Initializer::KaimingNormal {
                    gain: std::f64::consts::SQRT_2,
                    fan_out_only: true,
                })
                .init(device);
            l.bias = Some(Param::from_tensor(Tensor::zeros([o], device)));
            l
        };
        Self {
            conv1: conv(d, d / 4),
            ln: LayerNorm2d::new(d / 4, 1e-6, device),
            conv2: conv(d / 4, d / 8),
            hypernetwork: Mlp {
                layers: vec![linear(d, d), linear(d, d), linear(d, d / 8)],
            },
            clamp: config.clamp,
        }
    }

    /// The clamped log-variance (SAM v1 / MobileSAM features).
    ///
    /// # Shapes
    /// - token: `[b, dim]` (single-mask token after the transformer)
    /// - src: `[b, dim, E, E]` (image tokens after the transformer)
    /// - -> `[b, 4E, 4E]`
    pub fn forward(&self, token: Tensor<B, 2>, src: Tensor<B, 4>) -> Tensor<B, 3> {
        self.forward_features(token, src, None)
    }

    /// The clamped log-variance; SAM 2's high-resolution features, when given, are added after
    /// each convolution as SAM 2's upscaling adds them.
    ///
    /// # Shapes
    /// - token: `[b, dim]`, src: `[b, dim, E, E]`
    /// - high_res: `[1 or b, dim / 8, 4E, 4E]` (conv_s0) and `[1 or b, dim / 4, 2E, 2E]` (conv_s1)
    /// - -> `[b, 4E, 4E]`
    pub fn forward_features(
        &self,
        token: Tensor<B, 2>,
        src: Tensor<B, 4>,
        high_res: Option<&[Tensor<B, 4>; 2]>,
    ) -> Tensor<B, 3> {
        let [b, _, eh, ew] = src.dims();
        let expand = |t: &Tensor<B, 4>| {
            let [_, c, h, w] = t.dims();
            t.clone().expand([b, c, h, w])
        };
        let x = self.conv1.forward(resize_bilinear(src, [2 * eh, 2 * ew]));
        let x = match high_res {
            Some([_, s1]) => x + expand(s1),
            None => x,
        };
        let x = gelu(self.ln.forward(x));
        let x = self.conv2.forward(resize_bilinear(x, [4 * eh, 4 * ew]));
        let x = match high_res {
            Some([s0, _]) => x + expand(s0),
            None => x,
        };
        let x = gelu(x); // [b, dim/8, 4E, 4E]
        let c8 = x.dims()[1];
        let hyper = self.hypernetwork.forward(token).reshape([b, 1, c8]);
        hyper
            .matmul(x.reshape([b, c8, 16 * eh * ew]))
            .reshape([b, 4 * eh, 4 * ew])
            .clamp(-self.clamp, self.clamp)
    }
}

/// The mask decoder's transformer outputs the variance head reads: the single-mask token
/// `[b, dim]` and the image tokens `[b, dim, E, E]`. SAM is not modified; this re-runs the
/// two-way transformer (the model does not expose its outputs).
pub fn decoder_features<B: Backend>(
    sam: &Sam<B>,
    embedding: &ImageEmbedding<B>,
    prompts: &Prompts<B>,
) -> Result<(Tensor<B, 2>, Tensor<B, 4>), EstimateError> {
    let b = prompts.batch_size().map_err(EstimateError::Input)?;
    let md = &sam.mask_decoder;
    let (sparse, dense) = sam.prompt_encoder.forward(prompts, b);
    let image_pe = sam.prompt_encoder.get_dense_pe(&dense.device());
    let [_, d, eh, ew] = dense.dims();
    let n = md.num_mask_tokens();
    let output_tokens = Tensor::cat(
        vec![md.iou_token.weight.val(), md.mask_tokens.weight.val()],
        0,
    )
    .unsqueeze::<3>()
    .expand([b, 1 + n, d]);
    let tokens = match sparse {
        Some(s) => Tensor::cat(vec![output_tokens, s], 1),
        None => output_tokens,
    };
    let src = embedding.embeddings.clone().expand([b, d, eh, ew]) + dense;
    let pos = image_pe.expand([b, d, eh, ew]);
    let (hs, src) = md.transformer.forward(src, pos, tokens, &mut NoNoise);
    let token0 = hs.narrow(1, 1, 1).reshape([b, d]);
    let src = src.swap_dims(1, 2).reshape([b, d, eh, ew]);
    Ok((token0, src))
}

/// [`decoder_features`] of SAM 2: the single-mask token (the third output token) `[b, dim]` and
/// the image tokens `[b, dim, E, E]` after the two-way transformer.
pub fn sam2_decoder_features<B: Backend>(
    sam: &Sam2<B>,
    embedding: &Sam2Embedding<B>,
    prompts: &Prompts<B>,
) -> Result<(Tensor<B, 2>, Tensor<B, 4>), EstimateError> {
    let heads = sam.heads();
    let (sparse, dense) = heads.prompt_embeddings(prompts)?;
    let [b, d, _, _] = dense.dims();
    let (hs, src) = sam.sam_mask_decoder.transformer_outputs(
        embedding.embeddings.clone(),
        heads.dense_pe(),
        sparse,
        dense,
        &mut NoNoise,
    );
    Ok((hs.narrow(1, 2, 1).reshape([b, d]), src))
}

/// The variance head's inputs from one pass of either family.
#[derive(Clone, Debug)]
pub struct DecoderFeatures<B: Backend> {
    /// Single-mask token after the transformer, `[b, dim]`.
    pub token: Tensor<B, 2>,
    /// Image tokens after the transformer, `[b, dim, E, E]`.
    pub src: Tensor<B, 4>,
    /// SAM 2's high-resolution features (`[1, dim / 8, 4E, 4E]`, `[1, dim / 4, 2E, 2E]`);
    /// `None` for SAM v1 / MobileSAM.
    pub high_res: Option<[Tensor<B, 4>; 2]>,
}

impl<B: Backend> DecoderFeatures<B> {
    /// The features of `prompts` on `embedding` ([`decoder_features`] or
    /// [`sam2_decoder_features`]).
    pub fn of(
        model: SamModel<'_, B>,
        embedding: &Embedding<B>,
        prompts: &Prompts<B>,
    ) -> Result<Self, EstimateError> {
        Ok(match model {
            SamModel::Sam(sam) => {
                let (token, src) = decoder_features(sam, embedding, prompts)?;
                Self {
                    token,
                    src,
                    high_res: None,
                }
            }
            SamModel::Sam2(sam) => {
                let e = embedding.sam2()?;
                let (token, src) = sam2_decoder_features(sam, &e, prompts)?;
                Self {
                    token,
                    src,
                    high_res: Some(e.high_res_features),
                }
            }
        })
    }
}

impl<B: Backend> VarianceNet<B> {
    /// [`VarianceNet::forward_features`] of `features`.
    pub fn forward_decoder(&self, features: DecoderFeatures<B>) -> Tensor<B, 3> {
        self.forward_features(features.token, features.src, features.high_res.as_ref())
    }
}

/// The variance network as an estimator. Name `variance_net(<label>)`, the label being the
/// weights directory's name.
#[derive(Debug)]
pub struct VarianceNetEstimator<B: Backend> {
    /// The trained head.
    pub net: VarianceNet<B>,
    /// Geometry of `net`.
    pub config: VarianceNetConfig,
    /// Label in the name (the weights directory's name).
    pub label: String,
}

const WEIGHTS: &str = "variance_net.safetensors";
const CONFIG: &str = "variance_net.json";

impl<B: Backend> Persist<B> for VarianceNetEstimator<B> {
    fn save(&self, dir: &Path) -> Result<(), EstimateError> {
        save_json(&self.config, &dir.join(CONFIG))?;
        save_module(&self.net, &dir.join(WEIGHTS))
    }

    fn load(dir: &Path, device: &B::Device) -> Result<Self, EstimateError> {
        let config: VarianceNetConfig = load_json(&dir.join(CONFIG))?;
        let net = load_module(VarianceNet::new(&config, device), &dir.join(WEIGHTS))?;
        Ok(Self {
            net,
            config,
            label: label_of(dir),
        })
    }
}

fn label_of(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| PathBuf::from(dir).display().to_string())
}

impl<B: Backend> UncertaintyEstimator<B> for VarianceNetEstimator<B> {
    fn name(&self) -> String {
        format!("variance_net({})", self.label)
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let PlainPass { logits, iou, .. } = plain_pass(model, image, prompts)?;
        self.config.check_model(model.model(), &self.label)?;
        let p = model.prompts(prompts, &image.embedding)?;
        let features = DecoderFeatures::of(model.model(), &image.embedding, &p)?;
        let mut estimate = Estimate::from_logits(logits, iou);
        estimate.maps.log_variance = Some(self.net.forward_decoder(features));
        estimate.maps.primary = MapKind::LogVariance;
        Ok(estimate)
    }
}
