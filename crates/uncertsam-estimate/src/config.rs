//! `EstimatorConfig`: the built-in estimators chosen by name from serde (`"kind"` tag), so a
//! benchmark can list them in a file. Third-party estimators plug in through code; the
//! `external` arm lets one file also name them for the caller to dispatch.

use std::path::PathBuf;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ensemble::{DeepEnsemble, EnsembleConfig};
use crate::entropy::Entropy;
use crate::estimator::Persist;
use crate::iou_head::IouHead;
use crate::laplace::{LaplaceEstimator, LaplacePredictive};
use crate::mc_dropout::{McDropout, McDropoutConfig};
use crate::multimask::MultimaskDisagreement;
use crate::prompt_perturbation::{PromptPerturbation, PromptPerturbationConfig};
use crate::tta::{Tta, TtaConfig};
use crate::variance_net::VarianceNetEstimator;
use crate::{EstimateError, Segmenter, UncertaintyEstimator};

/// Where trained variance-network weights live.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VarianceNetFiles {
    /// Directory written by `Persist::save` (`variance_net.json` + `variance_net.safetensors`).
    pub dir: PathBuf,
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
            Self::McDropout(McDropoutConfig {
                p: 0.1,
                samples: 16,
                sites: vec![
                    crate::DropoutSite::TransformerMlp,
                    crate::DropoutSite::Hypernetwork,
                ],
            }),
        ]
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
            Self::Ensemble(c) => Box::new(DeepEnsemble::load(c, model)?),
            Self::VarianceNet(f) => {
                let sam = model.sam().ok_or_else(|| EstimateError::Unsupported {
                    estimator: "variance_net".into(),
                    what: "SAM 2 (the head reads SAM v1 decoder features)".into(),
                })?;
                let est = VarianceNetEstimator::<B>::load(&f.dir, &sam.device())?;
                let dim = sam.config().prompt_embed_dim;
                if est.config.dim != dim {
                    return Err(EstimateError::config(
                        "variance_net",
                        format!(
                            "{}: head width {} does not match the model's {dim}",
                            f.dir.display(),
                            est.config.dim
                        ),
                    ));
                }
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
