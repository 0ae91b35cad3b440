//! `RefineConfig`: every refinement variant by name, so a benchmark can run them as extra
//! rows.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::click_loop::{ClickConfig, UncertaintyUpdate};
use crate::iterate::Convergence;
use crate::shrink::ShrinkRule;

/// The eps of the ground-truth oracle's clamped logit.
fn default_eps() -> f32 {
    1e-6
}

/// A refinement variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum RefineConfig {
    /// Re-prompt with the first pass's logits, uncertain pixels shrunk toward 0, and the same
    /// sparse prompt; later passes shrink by SAM's own entropy.
    ShrinkUncertain {
        /// The shrinking rule.
        #[serde(default)]
        rule: ShrinkRule,
        /// The convergence stop.
        #[serde(default)]
        convergence: Convergence,
    },
    /// Simulated-annotator clicks (needs the ground truth).
    Clicks(ClickConfig),
    /// The paper's trained dense-embedding fusion.
    DenseFusion {
        /// Safetensors file of a `DenseFusion` (see `DenseFusion::save`).
        weights_path: PathBuf,
        /// Fuse an all-ones map instead of the uncertainty (the paper's `*_ones` ablation; use
        /// weights trained the same way).
        #[serde(default)]
        ones_baseline: bool,
        /// The convergence stop (the paper: one pass).
        #[serde(default)]
        convergence: Convergence,
    },
    /// Ablation: the first pass's logits as mask prompt, no uncertainty.
    LogitsAsMask {
        /// The convergence stop.
        #[serde(default)]
        convergence: Convergence,
    },
    /// Oracle upper bound: the ground truth as mask prompt (eps-clamped logit) with the same
    /// sparse prompt, one pass (needs the ground truth).
    GtOracle {
        /// Clamp of the ground truth before the logit.
        #[serde(default = "default_eps")]
        eps: f32,
    },
}

fn conv_name(c: &Convergence) -> String {
    let d = Convergence::default();
    if c.agreement == d.agreement {
        format!("it={}", c.max_iterations)
    } else {
        format!("it={},agree={}", c.max_iterations, c.agreement)
    }
}

impl RefineConfig {
    /// A unique, parameterised name for result tables, e.g. `clicks(uncertainty,k=5,rel0.5)`.
    pub fn name(&self) -> String {
        match self {
            Self::ShrinkUncertain { rule, convergence } => {
                format!(
                    "shrink_uncertain({},{})",
                    rule.name(),
                    conv_name(convergence)
                )
            }
            Self::Clicks(c) => {
                let mut parts = vec![
                    format!("{:?}", c.placement).to_lowercase(),
                    format!("k={}", c.max_clicks),
                ];
                if c.placement == crate::Placement::Uncertainty {
                    parts.push(c.threshold.name());
                    if c.update == UncertaintyUpdate::Entropy {
                        parts.push("entropy".into());
                    }
                }
                if c.mask_input {
                    parts.push("mask".into());
                }
                if let Some(t) = c.stop_agreement {
                    parts.push(format!("stop={t}"));
                }
                format!("clicks({})", parts.join(","))
            }
            Self::DenseFusion {
                weights_path,
                ones_baseline,
                convergence,
            } => {
                let stem = weights_path
                    .file_stem()
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default();
                let ones = if *ones_baseline { "_ones" } else { "" };
                format!("dense_fusion{ones}({stem},{})", conv_name(convergence))
            }
            Self::LogitsAsMask { convergence } => {
                format!("logits_as_mask({})", conv_name(convergence))
            }
            Self::GtOracle { eps } => format!("gt_oracle(eps={eps})"),
        }
    }

    /// Whether the variant reads the ground truth (a simulated annotator or an oracle).
    pub fn needs_gt(&self) -> bool {
        matches!(self, Self::Clicks(_) | Self::GtOracle { .. })
    }
}
