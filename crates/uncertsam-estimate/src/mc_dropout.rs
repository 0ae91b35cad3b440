//! MC dropout at inference through the decoder's `NoiseHook` seam (burn's `Dropout` is inert
//! without autodiff). Masks are drawn from the caller's seeded ChaCha rng and uploaded, so
//! they do not depend on the backend's global RNG. The S samples run as one decoder pass
//! over the prompt batch repeated S times, each row with its own masks. When dropout sits
//! only in the hypernetwork, the transformer and upscaling are shared by all samples: one
//! plain pass, then S hypernetwork evaluations (same masks, same result).

use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{DecoderSite, NoiseHook, PromptBatch, Prompts};

use crate::decode::{repeat_prompts, selected, token0};
use crate::{Embedding, EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

/// A family of decoder sites where dropout applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropoutSite {
    /// Hidden layer of every two-way-transformer MLP (`[b, tokens, mlp_dim]`).
    TransformerMlp,
    /// Hidden layers of the single-mask token's hypernetwork MLP (`[b, 1, dim]`).
    Hypernetwork,
    /// Outputs of the token self-attention, the token-to-image attentions and the final one
    /// (`[b, tokens, dim]`).
    TokenAttention,
    /// Output of the image-to-token attention (`[b, E * E, dim]`: large).
    ImageToToken,
}

impl DropoutSite {
    fn matches(self, site: DecoderSite) -> bool {
        match self {
            Self::TransformerMlp => matches!(site, DecoderSite::TransformerMlp(_)),
            Self::Hypernetwork => matches!(site, DecoderSite::Hypernetwork { token: 0, .. }),
            Self::TokenAttention => matches!(
                site,
                DecoderSite::SelfAttention(_)
                    | DecoderSite::TokenToImage(_)
                    | DecoderSite::FinalTokenToImage
            ),
            Self::ImageToToken => matches!(site, DecoderSite::ImageToToken(_)),
        }
    }

    fn short(self) -> &'static str {
        match self {
            Self::TransformerMlp => "mlp",
            Self::Hypernetwork => "hyper",
            Self::TokenAttention => "attn",
            Self::ImageToToken => "i2t",
        }
    }
}

fn default_sites() -> Vec<DropoutSite> {
    vec![DropoutSite::TransformerMlp, DropoutSite::Hypernetwork]
}

impl McDropoutConfig {
    /// The paper's MC dropout: p = 0.1 in the transformer MLPs and the hypernetwork, `samples`
    /// masks.
    pub fn paper(samples: usize) -> Self {
        Self {
            p: 0.1,
            samples,
            sites: default_sites(),
        }
    }
}

/// Configuration of [`McDropout`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct McDropoutConfig {
    /// Drop probability p in `[0, 1)`.
    pub p: f64,
    /// Number of samples S.
    pub samples: usize,
    /// Where dropout applies (default: transformer MLPs and the token-0 hypernetwork).
    #[serde(default = "default_sites")]
    pub sites: Vec<DropoutSite>,
}

/// MC dropout. Name `mc_dropout(p=0.1,s=16,sites=mlp+hyper)`.
#[derive(Clone, Debug)]
pub struct McDropout {
    config: McDropoutConfig,
}

impl McDropout {
    /// Validates `config`.
    pub fn new(config: McDropoutConfig) -> Result<Self, EstimateError> {
        if !(0.0..1.0).contains(&config.p) {
            return Err(EstimateError::config(
                "mc_dropout",
                format!("p must be in [0, 1), got {}", config.p),
            ));
        }
        if config.samples == 0 || config.sites.is_empty() {
            return Err(EstimateError::config(
                "mc_dropout",
                "needs at least one sample and one site",
            ));
        }
        Ok(Self { config })
    }
}

/// Inverted dropout with masks from a ChaCha stream: `x * m / (1 - p)`, `m ~ Bernoulli(1 - p)`.
pub struct BernoulliHook<'a> {
    p: f64,
    sites: &'a [DropoutSite],
    rng: &'a mut ChaCha8Rng,
}

impl<'a> BernoulliHook<'a> {
    /// A hook dropping with probability `p` at `sites`, drawing from `rng`.
    pub fn new(p: f64, sites: &'a [DropoutSite], rng: &'a mut ChaCha8Rng) -> Self {
        Self { p, sites, rng }
    }
}

impl<B: Backend> NoiseHook<B> for BernoulliHook<'_> {
    fn apply(&mut self, site: DecoderSite, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if self.p <= 0.0 || !self.sites.iter().any(|s| s.matches(site)) {
            return x;
        }
        let keep = 1.0 - self.p;
        // u32 draws below keep * 2^32 are kept (exact Bernoulli up to 2^-32).
        let threshold = (keep * 4_294_967_296.0) as u64;
        let scale = (1.0 / keep) as f32;
        let dims = x.dims();
        let mask: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|_| {
                if (self.rng.next_u32() as u64) < threshold {
                    scale
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::<B, 3>::from_data(TensorData::new(mask, dims), &x.device());
        x * mask
    }
}

impl<B: Backend> UncertaintyEstimator<B> for McDropout {
    fn name(&self) -> String {
        let c = &self.config;
        let sites: Vec<&str> = c.sites.iter().map(|s| s.short()).collect();
        format!(
            "mc_dropout(p={},s={},sites={})",
            c.p,
            c.samples,
            sites.join("+")
        )
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let c = &self.config;
        let emb = &image.embedding;
        let p = model.prompts(prompts, emb)?;
        let b = p.batch_size().map_err(EstimateError::Input)?;
        // SAM 2 chooses its output per sample (dynamic multimask, NO_OBJ), which the
        // token-0 shortcut cannot reproduce: it takes the batched pass.
        let sam_v1 = model.sam().is_some();
        if sam_v1 && c.sites.iter().all(|s| *s == DropoutSite::Hypernetwork) && c.p > 0.0 {
            return self.hypernetwork_only(model, emb, &p, b, rng);
        }
        let all = repeat_prompts(&p, c.samples);
        let mut hook = BernoulliHook::new(c.p, &c.sites, rng);
        let out = model.decode_with_noise(emb, &all, false, &mut hook)?;
        let (logits, iou) = selected(&out);
        let [_, h, w] = logits.dims();
        Ok(Estimate::from_samples(
            logits.reshape([c.samples, b, h, w]),
            iou.reshape([c.samples, b]),
        ))
    }
}

/// Records the first hidden layer (after ReLU) of the single-mask hypernetwork.
struct CaptureHidden<B: Backend>(Option<Tensor<B, 3>>);

impl<B: Backend> NoiseHook<B> for CaptureHidden<B> {
    fn apply(&mut self, site: DecoderSite, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if site == (DecoderSite::Hypernetwork { token: 0, layer: 0 }) {
            self.0 = Some(x.clone());
        }
        x
    }
}

impl McDropout {
    /// Dropout in the token-0 hypernetwork only: one plain pass, then the hypernetwork's
    /// remaining layers on S masked copies of its first hidden layer, dotted with the shared
    /// upscaled embedding. Draws the same masks, in the same order, as the batched pass.
    fn hypernetwork_only<B: Backend>(
        &self,
        model: &dyn Segmenter<B>,
        emb: &Embedding<B>,
        prompts: &Prompts<B>,
        b: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let c = &self.config;
        let s = c.samples;
        let mut capture = CaptureHidden(None);
        let out = model
            .decode_with_noise(emb, prompts, false, &mut capture)?
            .all;
        let layers = model
            .hypernetwork_mlps()
            .first()
            .map(|mlp| &mlp.layers[..])
            .unwrap_or_default();
        let (Some(hidden), [middle @ .., last]) = (capture.0, layers) else {
            return Err(EstimateError::config(
                "mc_dropout",
                "the model has no hypernetwork hidden layer to drop",
            ));
        };
        let mut hook = BernoulliHook::new(c.p, &c.sites, rng);
        let site = |layer| DecoderSite::Hypernetwork { token: 0, layer };
        let mut x = hook.apply(site(0), Tensor::cat(vec![hidden; s], 0)); // [s*b, 1, d]
        for (l, layer) in middle.iter().enumerate().skip(1) {
            x = hook.apply(site(l), relu(layer.forward(x)));
        }
        let z = last.forward(x); // [s*b, 1, d/8]
        let [_, c8, h, w] = out.upscaled_embedding.dims();
        let logits = z
            .reshape([s, b, c8])
            .swap_dims(0, 1)
            .matmul(out.upscaled_embedding.clone().reshape([b, c8, h * w]))
            .swap_dims(0, 1)
            .reshape([s, b, h, w]);
        let (_, iou) = token0(&out);
        Ok(Estimate::from_samples(
            logits,
            iou.unsqueeze::<2>().expand([s, b]),
        ))
    }
}
