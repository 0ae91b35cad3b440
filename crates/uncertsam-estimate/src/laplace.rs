//! Last-layer Laplace (spec §3.3) as a plugin: [`LaplaceConfig`] (which likelihood, curvature
//! structure, prior and predictive) is [`Fit`] on data and gives a [`LaplaceEstimator`]
//! ([`Persist`]: `laplace_estimator.json` plus `uncertsam-laplace`'s `laplace.json` and
//! `laplace.safetensors` in one directory). The maths lives in `uncertsam-laplace`; this file
//! only streams the token-0 hypernetwork's last-layer features into it. Prediction is in
//! `laplace_predict.rs`.

use std::path::Path;

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_laplace::precision::{DiagFactor, FullFactor, KronFactor};
use uncertsam_laplace::{
    DiagPrecision, FullPrecision, KronPrecision, LastLayerLaplace, LayerShape, Likelihood,
    Posterior, Precision, PriorPrecision, PriorStructure,
};

use crate::decode::plain_pass;
use crate::estimator::{Fit, FitSample, Persist};
use crate::laplace_features::{Features, low_res_targets};
use crate::persist::{load_json, save_json};
use crate::{EstimateError, Segmenter};

/// The GGN's likelihood.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaplaceLikelihood {
    /// Independent Bernoulli per pixel (the correct model for sigmoid mask logits).
    BernoulliPixel,
    /// The paper's quirk: all pixels of a mask are the classes of one softmax.
    SoftmaxOverPixels,
}

/// How the curvature is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaplaceStructure {
    /// Diagonal (P values; the paper).
    Diag,
    /// Kronecker-factored (KFAC).
    Kron,
    /// Dense `P × P` (541 MB at SAM's real scale, plus twice that while factorising).
    Full,
}

/// Which prior-precision structure the marginal likelihood optimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarglikPrior {
    /// One precision for every parameter.
    Scalar,
    /// One for the weight, one for the bias.
    Layerwise,
    /// One per parameter (not with `kron`).
    PerParameter,
}

/// The prior precision: fixed, or chosen by the marginal likelihood of the fitting data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaplacePrior {
    /// A fixed scalar precision (the paper: 1).
    Fixed(f64),
    /// Maximises the Laplace marginal likelihood: `{"marglik": "scalar"}`.
    Marglik(MarglikPrior),
}

/// How the posterior turns into a prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LaplacePredictive {
    /// Closed-form probit `σ(μ / sqrt(1 + π v / 8))`, no sampling; map: `H(p̄)`.
    Probit,
    /// Monte Carlo in the K-dimensional output space (`z ~ N(z_MAP, Σ_z)`).
    Mc {
        /// Number of samples.
        samples: usize,
    },
    /// The paper's weight-space Monte Carlo (`θ ~ N(θ_MAP, Σ)`; same distribution as `mc`,
    /// costlier, for replication).
    PaperWeightSpace {
        /// Number of samples (the paper: 1000).
        samples: usize,
    },
}

impl LaplacePredictive {
    /// The same predictive with `samples` draws (the probit has none and is unchanged).
    pub fn with_mc_samples(self, samples: usize) -> Self {
        match self {
            Self::Probit => Self::Probit,
            Self::Mc { .. } => Self::Mc { samples },
            Self::PaperWeightSpace { .. } => Self::PaperWeightSpace { samples },
        }
    }
}

/// Configuration of last-layer Laplace on the token-0 hypernetwork's final Linear
/// (`transformer_dim -> transformer_dim / 8`). Defaults: [`LaplaceConfig::probit`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LaplaceConfig {
    /// The GGN's likelihood.
    pub likelihood: LaplaceLikelihood,
    /// The curvature structure.
    pub structure: LaplaceStructure,
    /// The prior precision.
    pub prior: LaplacePrior,
    /// The predictive.
    pub predictive: LaplacePredictive,
}

impl Default for LaplaceConfig {
    fn default() -> Self {
        Self::probit()
    }
}

impl LaplaceConfig {
    /// The principled variant: per-pixel Bernoulli GGN, Kronecker posterior,
    /// marginal-likelihood scalar prior, closed-form probit. Name `laplace_probit`.
    pub fn probit() -> Self {
        Self {
            likelihood: LaplaceLikelihood::BernoulliPixel,
            structure: LaplaceStructure::Kron,
            prior: LaplacePrior::Marglik(MarglikPrior::Scalar),
            predictive: LaplacePredictive::Probit,
        }
    }

    /// The paper's replication: softmax over pixels, diagonal, prior precision 1, `samples`
    /// output-space MC samples. Name `laplace_paper(s=<samples>)`.
    pub fn paper(samples: usize) -> Self {
        Self {
            likelihood: LaplaceLikelihood::SoftmaxOverPixels,
            structure: LaplaceStructure::Diag,
            prior: LaplacePrior::Fixed(1.0),
            predictive: LaplacePredictive::Mc { samples },
        }
    }

    /// The same fit with `samples` draws in its predictive (see
    /// [`LaplacePredictive::with_mc_samples`]).
    pub fn with_mc_samples(self, samples: usize) -> Self {
        Self {
            predictive: self.predictive.with_mc_samples(samples),
            ..self
        }
    }

    /// Whether `other` fits the same posterior (likelihood, structure, prior); the
    /// predictive may differ.
    pub fn same_fit(&self, other: &Self) -> bool {
        (self.likelihood, self.structure, self.prior)
            == (other.likelihood, other.structure, other.prior)
    }

    /// The estimator's name: `laplace_probit` and `laplace_paper(s=S)` for the presets, else
    /// every setting, e.g. `laplace(bernoulli_pixel,full,prior=marglik_scalar,mc(s=8))`.
    pub fn name(&self) -> String {
        if *self == Self::probit() {
            return "laplace_probit".into();
        }
        if let LaplacePredictive::Mc { samples } = self.predictive
            && *self == Self::paper(samples)
        {
            return format!("laplace_paper(s={samples})");
        }
        let likelihood = match self.likelihood {
            LaplaceLikelihood::BernoulliPixel => "bernoulli_pixel",
            LaplaceLikelihood::SoftmaxOverPixels => "softmax_over_pixels",
        };
        let structure = match self.structure {
            LaplaceStructure::Diag => "diag",
            LaplaceStructure::Kron => "kron",
            LaplaceStructure::Full => "full",
        };
        let prior = match self.prior {
            LaplacePrior::Fixed(x) => format!("{x}"),
            LaplacePrior::Marglik(MarglikPrior::Scalar) => "marglik_scalar".into(),
            LaplacePrior::Marglik(MarglikPrior::Layerwise) => "marglik_layerwise".into(),
            LaplacePrior::Marglik(MarglikPrior::PerParameter) => "marglik_per_parameter".into(),
        };
        let predictive = match self.predictive {
            LaplacePredictive::Probit => "probit".into(),
            LaplacePredictive::Mc { samples } => format!("mc(s={samples})"),
            LaplacePredictive::PaperWeightSpace { samples } => {
                format!("paper_weight_space(s={samples})")
            }
        };
        format!("laplace({likelihood},{structure},prior={prior},{predictive})")
    }

    /// Checks the settings before any fitting.
    pub fn validate(&self) -> Result<(), EstimateError> {
        let bad = |m: &str| Err(EstimateError::config(&self.name(), m));
        match self.predictive {
            LaplacePredictive::Mc { samples: 0 }
            | LaplacePredictive::PaperWeightSpace { samples: 0 } => {
                return bad("the predictive needs at least one sample");
            }
            _ => {}
        }
        match self.prior {
            LaplacePrior::Fixed(x) if !(x.is_finite() && x > 0.0) => {
                bad("a fixed prior precision must be finite and > 0")
            }
            LaplacePrior::Marglik(MarglikPrior::PerParameter)
                if self.structure == LaplaceStructure::Kron =>
            {
                bad("a per-parameter prior needs the diag or full structure")
            }
            _ => Ok(()),
        }
    }

    fn likelihood(&self) -> Likelihood {
        match self.likelihood {
            LaplaceLikelihood::BernoulliPixel => Likelihood::BernoulliPixel,
            LaplaceLikelihood::SoftmaxOverPixels => Likelihood::SoftmaxOverPixels,
        }
    }
}

/// A fitted curvature and its factorised posterior, for one structure.
#[derive(Debug, Clone)]
pub(crate) enum Fitted {
    Diag(LastLayerLaplace<DiagPrecision>, Posterior<DiagFactor>),
    Kron(LastLayerLaplace<KronPrecision>, Posterior<KronFactor>),
    Full(LastLayerLaplace<FullPrecision>, Posterior<FullFactor>),
}

/// Runs `$body` with `$la` and `$post` bound to the fitted structure's values.
macro_rules! each {
    ($fitted:expr, ($la:ident, $post:ident) => $body:expr) => {
        match $fitted {
            Fitted::Diag($la, $post) => $body,
            Fitted::Kron($la, $post) => $body,
            Fitted::Full($la, $post) => $body,
        }
    };
}
pub(crate) use each;

/// Fitted last-layer Laplace: the curvature, prior and factorised posterior of the token-0
/// hypernetwork's final Linear, and the predictive to run. Name: [`LaplaceConfig::name`].
#[derive(Debug, Clone)]
pub struct LaplaceEstimator {
    pub(crate) config: LaplaceConfig,
    pub(crate) fitted: Fitted,
}

/// File name of the estimator's own settings (next to `uncertsam-laplace`'s files).
pub const ESTIMATOR_FILE: &str = "laplace_estimator.json";

impl LaplaceEstimator {
    /// The settings it was fitted (and predicts) with.
    pub fn config(&self) -> &LaplaceConfig {
        &self.config
    }

    /// The same posterior with another predictive (e.g. MC with `--samples`).
    pub fn with_predictive(mut self, predictive: LaplacePredictive) -> Result<Self, EstimateError> {
        self.config.predictive = predictive;
        self.config.validate()?;
        Ok(self)
    }

    /// The prior precision in use (fixed or optimised).
    pub fn prior(&self) -> &PriorPrecision {
        each!(&self.fitted, (la, _p) => la.prior())
    }

    /// Number of masks the curvature was accumulated from.
    pub fn n_examples(&self) -> u64 {
        each!(&self.fitted, (la, _p) => la.n_examples())
    }

    /// The layer shape (D, K).
    pub fn shape(&self) -> LayerShape {
        each!(&self.fitted, (la, _p) => la.shape())
    }

    /// Reads a directory written by [`Persist::save`] (any backend; nothing lives on a device).
    pub fn open(dir: &Path) -> Result<Self, EstimateError> {
        let config: LaplaceConfig = load_json(&dir.join(ESTIMATOR_FILE))?;
        config.validate()?;
        fn read<P: Precision>(
            dir: &Path,
            config: &LaplaceConfig,
        ) -> Result<(LastLayerLaplace<P>, Posterior<P::Factor>), EstimateError> {
            let la = LastLayerLaplace::<P>::load(dir)?;
            if la.likelihood() != config.likelihood() {
                return Err(EstimateError::file(
                    dir.join(uncertsam_laplace::CONFIG_FILE),
                    format!(
                        "likelihood {} does not match {ESTIMATOR_FILE}'s {:?}",
                        la.likelihood().name(),
                        config.likelihood
                    ),
                ));
            }
            let post = la.posterior()?;
            Ok((la, post))
        }
        let fitted = match config.structure {
            LaplaceStructure::Diag => {
                let (la, p) = read(dir, &config)?;
                Fitted::Diag(la, p)
            }
            LaplaceStructure::Kron => {
                let (la, p) = read(dir, &config)?;
                Fitted::Kron(la, p)
            }
            LaplaceStructure::Full => {
                let (la, p) = read(dir, &config)?;
                Fitted::Full(la, p)
            }
        };
        Ok(Self { config, fitted })
    }

    /// Checks that the posterior was fitted around `sam`'s token-0 last layer (same shape and
    /// the same MAP weights), so that it is not applied to another model.
    pub fn check_model<B: Backend>(&self, model: &dyn Segmenter<B>) -> Result<(), EstimateError> {
        let (shape, weight, bias) = last_layer(model)?;
        let ours = self.shape();
        if shape != ours {
            return Err(EstimateError::config(
                &self.config.name(),
                format!(
                    "fitted for a layer D x K = {} x {}, the model's is {} x {}",
                    ours.d, ours.k, shape.d, shape.k
                ),
            ));
        }
        let mean = each!(&self.fitted, (la, _p) => la.mean());
        let same = weight
            .iter()
            .chain(&bias)
            .zip(&mean)
            .all(|(&a, &b)| f64::from(a) == b);
        if !same {
            return Err(EstimateError::config(
                &self.config.name(),
                "fitted around other weights than this model's token-0 hypernetwork layer \
                 (refit it for this model)",
            ));
        }
        Ok(())
    }
}

/// The token-0 hypernetwork's final Linear: its shape, `W` (row-major `K x D`, PyTorch
/// layout) and `b`.
pub(crate) fn last_layer<B: Backend>(
    model: &dyn Segmenter<B>,
) -> Result<(LayerShape, Vec<f32>, Vec<f32>), EstimateError> {
    let missing = |what: &str| EstimateError::config("laplace", what);
    let mlp = model
        .hypernetwork_mlps()
        .first()
        .ok_or_else(|| missing("the model has no hypernetwork MLP"))?;
    let layer = mlp
        .layers
        .last()
        .ok_or_else(|| missing("the token-0 hypernetwork MLP has no layer"))?;
    let w = layer.weight.val(); // burn layout [D, K]
    let [d, k] = w.dims();
    let weight = crate::laplace_features::host(w.transpose(), "hypernetwork weight")?;
    let bias = match &layer.bias {
        Some(b) => crate::laplace_features::host(b.val(), "hypernetwork bias")?,
        None => vec![0.0; k],
    };
    Ok((LayerShape::new(d, k)?, weight, bias))
}

fn fit_structure<B: Backend, P: Precision>(
    config: &LaplaceConfig,
    model: &dyn Segmenter<B>,
    data: &mut dyn Iterator<Item = FitSample<B>>,
) -> Result<(LastLayerLaplace<P>, Posterior<P::Factor>), EstimateError> {
    let (shape, weight, bias) = last_layer(model)?;
    let mut la = LastLayerLaplace::<P>::new(shape, config.likelihood(), &weight, &bias)?;
    for (index, sample) in data.enumerate() {
        let pass = plain_pass(model, &sample.image, &sample.prompts)?;
        let features = Features::of(&pass.output, shape)?;
        let targets = low_res_targets(model.model().img_size(), &sample, features.side)
            .map_err(|e| EstimateError::Input(format!("fitting sample {index}: {e}")))?;
        if targets.len() != features.rows {
            return Err(EstimateError::Input(format!(
                "fitting sample {index}: {} prompts but {} ground-truth masks",
                features.rows,
                targets.len()
            )));
        }
        for (row, target) in targets.iter().enumerate() {
            la.accumulate(features.h(row), features.e(row), Some(target))?;
        }
    }
    if la.n_examples() == 0 {
        return Err(EstimateError::config(
            &config.name(),
            "no fitting examples (the data iterator was empty)",
        ));
    }
    match config.prior {
        LaplacePrior::Fixed(x) => la.set_prior(PriorPrecision::Scalar(x))?,
        LaplacePrior::Marglik(m) => {
            la.optimize_prior_marglik(match m {
                MarglikPrior::Scalar => PriorStructure::Scalar,
                MarglikPrior::Layerwise => PriorStructure::Layerwise,
                MarglikPrior::PerParameter => PriorStructure::Diagonal,
            })?;
        }
    }
    let post = la.posterior()?;
    Ok((la, post))
}

impl<B: Backend> Fit<B> for LaplaceConfig {
    type Fitted = LaplaceEstimator;

    /// Streams `data` once (one decoder pass per sample, constant memory in the number of
    /// samples), accumulating the GGN of every mask against its ground truth on the decoder's
    /// low-resolution grid; then sets the prior and factorises the posterior. Deterministic:
    /// `rng` is not used.
    fn fit(
        &self,
        model: &dyn Segmenter<B>,
        data: &mut dyn Iterator<Item = FitSample<B>>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<LaplaceEstimator, EstimateError> {
        self.validate()?;
        let fitted = match self.structure {
            LaplaceStructure::Diag => {
                let (la, p) = fit_structure::<B, DiagPrecision>(self, model, data)?;
                Fitted::Diag(la, p)
            }
            LaplaceStructure::Kron => {
                let (la, p) = fit_structure::<B, KronPrecision>(self, model, data)?;
                Fitted::Kron(la, p)
            }
            LaplaceStructure::Full => {
                let (la, p) = fit_structure::<B, FullPrecision>(self, model, data)?;
                Fitted::Full(la, p)
            }
        };
        Ok(LaplaceEstimator {
            config: *self,
            fitted,
        })
    }
}

impl<B: Backend> Persist<B> for LaplaceEstimator {
    /// Writes `laplace_estimator.json` (the [`LaplaceConfig`]) and the curvature, prior and MAP
    /// (`laplace.json`, `laplace.safetensors`, f64).
    fn save(&self, dir: &Path) -> Result<(), EstimateError> {
        save_json(&self.config, &dir.join(ESTIMATOR_FILE))?;
        each!(&self.fitted, (la, _p) => la.save(dir))?;
        Ok(())
    }

    fn load(dir: &Path, _device: &B::Device) -> Result<Self, EstimateError> {
        Self::open(dir)
    }
}
