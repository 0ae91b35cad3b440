//! The variance network of spec §2.2 / §3.4: a second upscaling branch and a hypernetwork MLP
//! on the single-mask token, giving a per-pixel log-variance `logvar = hyper(token) · E_unc`
//! clamped to `[-5, 5]`. The uncertainty map is the low-resolution logvar itself (not its
//! exponential), as in the paper; the prediction is SAM's own deterministic logits.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{
    ImageEmbedding, LayerNorm2d, Mlp, NoNoise, PromptBatch, Prompts, Sam, resize_bilinear,
};

use crate::decode::{PlainPass, plain_pass};
use crate::estimate::MapKind;
use crate::estimator::Persist;
use crate::persist::{load_json, load_module, save_json, save_module};
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

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
}

impl VarianceNetConfig {
    /// The geometry for `sam`'s decoder.
    pub fn for_sam<B: Backend>(sam: &Sam<B>) -> Self {
        Self {
            dim: sam.config().prompt_embed_dim,
            clamp: default_clamp(),
        }
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

    /// The clamped log-variance.
    ///
    /// # Shapes
    /// - token: `[b, dim]` (single-mask token after the transformer)
    /// - src: `[b, dim, E, E]` (image tokens after the transformer)
    /// - -> `[b, 4E, 4E]`
    pub fn forward(&self, token: Tensor<B, 2>, src: Tensor<B, 4>) -> Tensor<B, 3> {
        let [b, _, eh, ew] = src.dims();
        let x = resize_bilinear(src, [2 * eh, 2 * ew]);
        let x = gelu(self.ln.forward(self.conv1.forward(x)));
        let x = resize_bilinear(x, [4 * eh, 4 * ew]);
        let x = gelu(self.conv2.forward(x)); // [b, dim/8, 4E, 4E]
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
        let p = model.prompts(prompts, &image.embedding)?;
        let sam = model.sam().ok_or_else(|| EstimateError::Unsupported {
            estimator: "variance_net".into(),
            what: "SAM 2 (the head reads SAM v1 decoder features)".into(),
        })?;
        let (token, src) = decoder_features(sam, &image.embedding, &p)?;
        let mut estimate = Estimate::from_logits(logits, iou);
        estimate.maps.log_variance = Some(self.net.forward(token, src));
        estimate.maps.primary = MapKind::LogVariance;
        Ok(estimate)
    }
}
