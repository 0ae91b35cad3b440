//! `EstimatorConfig`: the built-in estimators chosen by name from serde (`"kind"` tag), so a
//! benchmark can list them in a file, and their named presets ([`EstimatorConfig::presets`]:
//! the one list of names and defaults every caller uses). Third-party estimators plug in
//! through code; the `external` arm lets one file also name them for the caller to dispatch.
//!
//! Adding a built-in estimator: its own file (config type + `UncertaintyEstimator`), then here
//! one enum variant, its arm in [`EstimatorConfig::build`] and its line in
//! [`EstimatorConfig::presets`].

use std::path::PathBuf;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ensemble::{DeepEnsemble, EnsembleConfig};
use crate::entropy::Entropy;
use crate::estimator::Persist;
use crate::iou_head::IouHead;
use crate::laplace::{LaplaceConfig, LaplaceEstimator, LaplacePredictive};
use crate::mc_dropout::{McDropout, McDropoutConfig};
use crate::multimask::MultimaskDisagreement;
use crate::prompt_perturbation::{PromptPerturbation, PromptPerturbationConfig};
use crate::tta::{Tta, TtaConfig};
use crate::variance_net::VarianceNetEstimator;
use crate::{EstimateError, Segmenter, UncertaintyEstimator};

/// Where trained variance-network weights live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VarianceNetFiles {
    /// Directory written by `Persist::save` (`variance_net.json` + `variance_net.safetensors`);
    /// `None`: the head trained for the caller's model, which the caller resolves (the bench:
    /// `fixtures/default/variance_net` for the embedded model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
}

/// Where a fitted last-layer Laplace posterior lives, and optionally another predictive than
/// the one it was fitted with: `{"kind": "laplace", "dir": "...", "predictive": {"type": "mc",
/// "samples": 16}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaplaceFiles {
    /// Directory written by `Persist::save` of a [`LaplaceEstimator`].
    pub dir: PathBuf,
    /// Overrides the saved predictive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictive: Option<LaplacePredictive>,
}

/// An estimator the caller builds itself (for example a third-party plugin);
/// [`EstimatorConfig::build`] rejects it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExternalConfig {
    /// The estimator's kind, e.g. `temperature_scaling`.
    pub name: String,
    /// Its own configuration.
    #[serde(default)]
    pub params: serde_json::Value,
}

/// A named preset of [`EstimatorConfig::presets`].
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// The name a caller selects it by (`--estimators mc_dropout`).
    pub name: &'static str,
    /// One line on what it is.
    pub about: &'static str,
    /// Whether its sample count follows the caller's `S` ([`EstimatorConfig::with_samples`]).
    pub sampled: bool,
    /// The configuration with its defaults.
    pub config: EstimatorConfig,
}

/// A built-in estimator by name, e.g. `{"kind": "mc_dropout", "p": 0.1, "samples": 16}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EstimatorConfig {
    /// One-pass entropy baseline ([`Entropy`]).
    Entropy,
    /// SAM's IoU head as a mask-level confidence ([`IouHead`]).
    IouHead,
    /// Disagreement of the mask tokens of one pass ([`MultimaskDisagreement`]).
    MultimaskDisagreement,
    /// Test-time augmentation ([`Tta`]).
    Tta(TtaConfig),
    /// Prompt perturbation ([`PromptPerturbation`]).
    PromptPerturbation(PromptPerturbationConfig),
    /// MC dropout through the decoder noise seam ([`McDropout`]).
    McDropout(McDropoutConfig),
    /// Deep ensemble of decoders ([`DeepEnsemble`]).
    Ensemble(EnsembleConfig),
    /// Trained variance network ([`VarianceNetEstimator`]).
    VarianceNet(VarianceNetFiles),
    /// Fitted last-layer Laplace ([`LaplaceEstimator`]; fit one with [`crate::Fit`] on a
    /// [`crate::LaplaceConfig`]).
    Laplace(LaplaceFiles),
    /// Last-layer Laplace still to be fitted for the caller's model on its training data
    /// (the bench loads the embedded fit of the same likelihood, structure and prior, or fits
    /// once per run); [`EstimatorConfig::build`] rejects it: fit, then use `laplace`.
    LaplaceFit(LaplaceConfig),
    /// Built by the caller.
    External(ExternalConfig),
}

impl EstimatorConfig {
    /// The paper's settings of the sampling-free and sampling methods that need no files.
    pub fn paper_defaults() -> Vec<Self> {
        vec![
            Self::Entropy,
            Self::IouHead,
            Self::MultimaskDisagreement,
            Self::Tta(TtaConfig::paper_hue()),
            Self::PromptPerturbation(PromptPerturbationConfig::paper()),
            Self::McDropout(McDropoutConfig::paper(16)),
        ]
    }

    /// The named presets, in the benchmark's table order: the one list of the estimators a
    /// caller can choose by name, with their defaults (sample counts `S = 10`).
    pub fn presets() -> Vec<Preset> {
        let s = 10;
        let flip = TtaConfig {
            samples: 2,
            hflip: true,
            include_identity: true,
            photometric: crate::Photometric::None,
        };
        let preset = |name, about, sampled, config| Preset {
            name,
            about,
            sampled,
            config,
        };
        vec![
            preset(
                "entropy",
                "one-pass predictive entropy",
                false,
                Self::Entropy,
            ),
            preset(
                "iou_head",
                "SAM's IoU head (mask-level confidence)",
                false,
                Self::IouHead,
            ),
            preset(
                "multimask_disagreement",
                "disagreement of the multimask tokens of one pass",
                false,
                Self::MultimaskDisagreement,
            ),
            preset(
                "tta",
                "test-time augmentation: hue jitter (the paper)",
                true,
                Self::Tta(TtaConfig {
                    samples: s,
                    ..TtaConfig::paper_hue()
                }),
            ),
            preset(
                "tta_flip",
                "test-time augmentation: identity + horizontal flip",
                false,
                Self::Tta(flip),
            ),
            preset(
                "prompt_perturbation",
                "jittered box prompts (the paper)",
                true,
                Self::PromptPerturbation(PromptPerturbationConfig {
                    prompts: s,
                    ..PromptPerturbationConfig::paper()
                }),
            ),
            preset(
                "mc_dropout",
                "MC dropout in the decoder",
                true,
                Self::McDropout(McDropoutConfig::paper(s)),
            ),
            preset(
                "ensemble",
                "deep ensemble of decoders (members: the caller's, e.g. fixtures/default/ensemble)",
                false,
                Self::Ensemble(EnsembleConfig {
                    members: vec![],
                    include_base: true,
                }),
            ),
            preset(
                "laplace_probit",
                "last-layer Laplace: Bernoulli GGN, Kronecker, marginal-likelihood prior, probit",
                false,
                Self::LaplaceFit(LaplaceConfig::probit()),
            ),
            preset(
                "laplace_paper",
                "the paper's Laplace: softmax over pixels, diagonal, prior 1, MC",
                true,
                Self::LaplaceFit(LaplaceConfig::paper(s)),
            ),
            preset(
                "variance_net",
                "trained variance network (head: the caller's, e.g. fixtures/default/variance_net)",
                false,
                Self::VarianceNet(VarianceNetFiles::default()),
            ),
        ]
    }

    /// The preset called `name`.
    pub fn preset(name: &str) -> Option<Preset> {
        Self::presets().into_iter().find(|p| p.name == name)
    }

    /// The same estimator with `s` samples (TTA views, perturbed prompts, dropout masks,
    /// Laplace MC draws); estimators without samples are returned unchanged.
    pub fn with_samples(self, s: usize) -> Self {
        match self {
            Self::Tta(c) => Self::Tta(TtaConfig { samples: s, ..c }),
            Self::PromptPerturbation(c) => {
                Self::PromptPerturbation(PromptPerturbationConfig { prompts: s, ..c })
            }
            Self::McDropout(c) => Self::McDropout(McDropoutConfig { samples: s, ..c }),
            Self::LaplaceFit(c) => Self::LaplaceFit(c.with_mc_samples(s)),
            Self::Laplace(f) => Self::Laplace(LaplaceFiles {
                predictive: f.predictive.map(|p| p.with_mc_samples(s)),
                ..f
            }),
            Self::External(mut e) => {
                if let Some(v) = e.params.get_mut("samples") {
                    *v = s.into();
                }
                Self::External(e)
            }
            other => other,
        }
    }

    /// Builds the estimator for `model` (ensembles, the variance network and Laplace load
    /// their files; a Laplace posterior must have been fitted around this model's weights).
    pub fn build<B: Backend>(
        &self,
        model: &dyn Segmenter<B>,
    ) -> Result<Box<dyn UncertaintyEstimator<B>>, EstimateError> {
        Ok(match self {
            Self::Entropy => Box::new(Entropy),
            Self::IouHead => Box::new(IouHead),
            Self::MultimaskDisagreement => Box::new(MultimaskDisagreement),
            Self::Tta(c) => Box::new(Tta::new(c.clone())?),
            Self::PromptPerturbation(c) => Box::new(PromptPerturbation::new(c.clone())?),
            Self::McDropout(c) => Box::new(McDropout::new(c.clone())?),
            Self::Ensemble(c) if c.members.is_empty() => {
                return Err(EstimateError::config(
                    "ensemble",
                    "no member checkpoints (`members`): train them with `uncertsam train`",
                ));
            }
            Self::Ensemble(c) => Box::new(DeepEnsemble::load(c, model)?),
            Self::VarianceNet(f) => {
                let dir = f.dir.as_ref().ok_or_else(|| {
                    EstimateError::config(
                        "variance_net",
                        "no head directory (`dir`): train one with `uncertsam fit --estimator \
                         variance_net`",
                    )
                })?;
                let est = VarianceNetEstimator::<B>::load(dir, &model.model().device())?;
                est.config
                    .check_model(model.model(), &dir.display().to_string())?;
                Box::new(est)
            }
            Self::Laplace(f) => {
                let mut est = LaplaceEstimator::open(&f.dir)?;
                if let Some(p) = f.predictive {
                    est = est.with_predictive(p)?;
                }
                est.check_model(model).map_err(|e| {
                    EstimateError::config("laplace", format!("{}: {e}", f.dir.display()))
                })?;
                Box::new(est)
            }
            Self::LaplaceFit(c) => {
                return Err(EstimateError::config(
                    &c.name(),
                    "a Laplace posterior must be fitted first (`LaplaceConfig::fit`, or the \
                     bench, which fits it), then built as `laplace` from its directory",
                ));
            }
            Self::External(e) => {
                return Err(EstimateError::Unsupported {
                    estimator: e.name.clone(),
                    what: "building from EstimatorConfig (the caller builds external estimators)"
                        .into(),
                });
            }
        })
    }
}
