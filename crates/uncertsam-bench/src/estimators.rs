//! The estimators the benchmark runs, behind one small trait: per mask, low-resolution logits,
//! an uncertainty map, an optional sample-std map and the IoU estimate.
//!
//! Every `uncertsam-estimate` plugin runs through [`Plugin`]. Built in here: last-layer Laplace (the crate
//! `uncertsam-laplace`, fitted on the clean training split: the correct per-pixel Bernoulli
//! GGN with a Kronecker posterior, the marginal-likelihood prior and the closed-form probit;
//! and the paper's replication, softmax-over-pixels diagonal GGN, prior 1, Monte Carlo).

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use uncertsam_estimate::{EncodedImage, UncertaintyEstimator};
use uncertsam_laplace::{
    DiagPrecision, KronPrecision, LastLayerLaplace, LayerShape, Likelihood, McOptions, Posterior,
    Precision, PriorStructure,
};
use uncertsam_sam::{Decoded, PromptBatch, Sam};

/// Per-mask output of an estimator at the decoder's low resolution (`[b, 4E, 4E]`).
pub struct Maps<B: Backend> {
    /// Prediction logits (`logit(p_bar)` for sampling estimators).
    pub logits: Tensor<B, 3>,
    /// Per-pixel uncertainty (predictive entropy unless the estimator says otherwise).
    pub uncertainty: Tensor<B, 3>,
    /// Per-pixel standard deviation of the sampled probabilities, when there are samples.
    pub std: Option<Tensor<B, 3>>,
    /// IoU estimate per mask, `[b]`.
    pub iou: Tensor<B, 1>,
}

/// An estimator as the benchmark sees it.
pub trait BenchEstimator<B: Backend> {
    /// Unique name used in result tables.
    fn name(&self) -> String;
    /// Maps for every prompt row (original-image pixels) of one encoded image; `rng` is
    /// seeded from (seed, dataset, image).
    fn estimate(
        &self,
        sam: &Sam<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Maps<B>>;
}

/// Any `uncertsam-estimate` plugin, scored on its primary uncertainty map.
pub struct Plugin<B: Backend>(pub Box<dyn UncertaintyEstimator<B>>);

impl<B: Backend> BenchEstimator<B> for Plugin<B> {
    fn name(&self) -> String {
        self.0.name()
    }

    fn estimate(
        &self,
        sam: &Sam<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Maps<B>> {
        let e = self.0.estimate(sam, image, prompts, rng)?;
        let uncertainty = e.maps.primary_map().clone();
        Ok(Maps {
            uncertainty,
            std: e.maps.std.clone(),
            logits: e.logits,
            iou: e.iou,
        })
    }
}

fn token0<B: Backend>(d: &Decoded<B>) -> (Tensor<B, 3>, Tensor<B, 1>) {
    let [b, _, h, w] = d.all.masks.dims();
    let logits = d.all.masks.clone().narrow(1, 0, 1).reshape([b, h, w]);
    let iou = d.all.iou_predictions.clone().narrow(1, 0, 1).reshape([b]);
    (logits, iou)
}

/// The last-layer Laplace variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaplaceVariant {
    /// Per-pixel Bernoulli GGN, Kronecker posterior, marginal-likelihood scalar prior, probit.
    Probit,
    /// The paper: softmax over pixels, diagonal, prior precision 1, Monte Carlo (S samples).
    Paper,
}

/// A fitted last-layer Laplace on the token-0 hypernetwork's final Linear.
pub enum FittedLaplace {
    /// See [`LaplaceVariant::Probit`].
    Probit(Posterior<<KronPrecision as Precision>::Factor>),
    /// See [`LaplaceVariant::Paper`].
    Paper(Posterior<<DiagPrecision as Precision>::Factor>, usize),
}

/// The layer's `W` (row-major `K x D`, PyTorch layout) and `b`.
fn last_layer<B: Backend>(sam: &Sam<B>) -> Result<(LayerShape, Vec<f32>, Vec<f32>)> {
    let mlp = sam
        .mask_decoder
        .output_hypernetworks_mlps
        .first()
        .context("no hypernetwork MLP")?;
    let layer = mlp.layers.last().context("empty hypernetwork MLP")?;
    let w = layer.weight.val(); // burn layout [D, K]
    let [d, k] = w.dims();
    let weight = host(w.transpose())?;
    let bias = match &layer.bias {
        Some(b) => host(b.val())?,
        None => vec![0.0; k],
    };
    Ok((LayerShape::new(d, k)?, weight, bias))
}

/// One mask's Laplace inputs: `h` (D), `E` (K x N_pix) and the low-resolution target.
pub struct LaplaceExample {
    /// Token-0 hidden features.
    pub h: Vec<f32>,
    /// Upscaled embedding, row-major `K x N_pix`.
    pub e: Vec<f32>,
    /// Ground truth on the low-resolution grid, in `{0, 1}`.
    pub target: Vec<f32>,
}

/// Fits a Laplace variant from examples.
pub fn fit_laplace(
    variant: LaplaceVariant,
    shape: LayerShape,
    weight: &[f32],
    bias: &[f32],
    examples: &[LaplaceExample],
    samples: usize,
) -> Result<FittedLaplace> {
    Ok(match variant {
        LaplaceVariant::Probit => {
            let mut la = LastLayerLaplace::<KronPrecision>::new(
                shape,
                Likelihood::BernoulliPixel,
                weight,
                bias,
            )?;
            for ex in examples {
                la.accumulate(&ex.h, &ex.e, Some(&ex.target))?;
            }
            la.optimize_prior_marglik(PriorStructure::Scalar)?;
            FittedLaplace::Probit(la.posterior()?)
        }
        LaplaceVariant::Paper => {
            let mut la = LastLayerLaplace::<DiagPrecision>::new(
                shape,
                Likelihood::SoftmaxOverPixels,
                weight,
                bias,
            )?;
            for ex in examples {
                la.accumulate(&ex.h, &ex.e, Some(&ex.target))?;
            }
            FittedLaplace::Paper(la.posterior()?, samples.max(1))
        }
    })
}

/// The model's last-layer shape and weights, for [`fit_laplace`].
pub fn laplace_layer<B: Backend>(sam: &Sam<B>) -> Result<(LayerShape, Vec<f32>, Vec<f32>)> {
    last_layer(sam)
}

/// Copies a tensor to the host as f32.
pub(crate) fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("tensor data: {e:?}"))
}

/// One `Vec<f32>` per prompt row.
pub type Rows = Vec<Vec<f32>>;

/// Features of every prompt row: `h` `[b, D]` and `E` `[b, K, N_pix]` flattened per row.
pub fn laplace_features<B: Backend>(d: &Decoded<B>) -> Result<(Rows, Rows)> {
    let [b, dim] = d.all.token0_hidden.dims();
    let [_, k, h, w] = d.all.upscaled_embedding.dims();
    let hs = host(d.all.token0_hidden.clone())?;
    let es = host(d.all.upscaled_embedding.clone())?;
    let per = k * h * w;
    Ok((
        (0..b)
            .map(|i| hs[i * dim..(i + 1) * dim].to_vec())
            .collect(),
        (0..b)
            .map(|i| es[i * per..(i + 1) * per].to_vec())
            .collect(),
    ))
}

/// Last-layer Laplace as an estimator.
pub struct Laplace {
    /// The fitted posterior.
    pub fitted: FittedLaplace,
}

impl<B: Backend> BenchEstimator<B> for Laplace {
    fn name(&self) -> String {
        match &self.fitted {
            FittedLaplace::Probit(_) => "laplace_probit".into(),
            FittedLaplace::Paper(_, s) => format!("laplace_paper(s={s})"),
        }
    }

    fn estimate(
        &self,
        sam: &Sam<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Maps<B>> {
        let prompts = prompts.build(sam, &image.embedding)?;
        let d = sam.decode(&image.embedding, &prompts, false)?;
        let (_, iou) = token0(&d);
        let [b, _, lh, lw] = d.all.masks.dims();
        let (hs, es) = laplace_features(&d)?;
        let (mut logits, mut unc, mut std) = (Vec::new(), Vec::new(), Vec::new());
        for (h, e) in hs.iter().zip(&es) {
            match &self.fitted {
                FittedLaplace::Probit(post) => {
                    let maps = post.z_posterior(h)?.probit(e)?;
                    for &p in &maps.prob {
                        let p = p.clamp(1e-7, 1.0 - 1e-7);
                        logits.push((p / (1.0 - p)).ln());
                        unc.push(-(p * p.ln() + (1.0 - p) * (1.0 - p).ln()));
                    }
                }
                FittedLaplace::Paper(post, s) => {
                    let opts = McOptions {
                        samples: *s,
                        entropy_eps: 1e-7,
                    };
                    let maps = post.z_posterior(h)?.mc(e, opts, rng)?;
                    for &p in &maps.mean_prob {
                        let p = p.clamp(1e-7, 1.0 - 1e-7);
                        logits.push((p / (1.0 - p)).ln());
                    }
                    unc.extend_from_slice(&maps.predictive_entropy);
                    std.extend_from_slice(&maps.std);
                }
            }
        }
        if logits.len() != b * lh * lw {
            bail!(
                "Laplace produced {} values for {b} masks of {lh}x{lw}",
                logits.len()
            );
        }
        let device = sam.device();
        let t = |v: Vec<f32>| Tensor::<B, 3>::from_data(TensorData::new(v, [b, lh, lw]), &device);
        Ok(Maps {
            logits: t(logits),
            uncertainty: t(unc),
            std: (!std.is_empty()).then(|| t(std)),
            iou,
        })
    }
}
