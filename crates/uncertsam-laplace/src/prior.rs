//! The prior axis: an isotropic Gaussian prior `N(0, diag(δ)^{-1})` on `θ`, its structure,
//! and how it is chosen (fixed, marginal likelihood, grid search).
//!
//! The optimisers themselves are methods of [`crate::LastLayerLaplace`]
//! ([`optimize_prior_marglik`](crate::LastLayerLaplace::optimize_prior_marglik),
//! [`grid_search_prior`](crate::LastLayerLaplace::grid_search_prior)); this module holds the
//! value types and the laplace-torch grid.

use serde::{Deserialize, Serialize};

use crate::error::{LaplaceError, Result};
use crate::features::LayerShape;

/// A prior precision `δ` (laplace-torch's `prior_precision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PriorPrecision {
    /// One precision for all `P` parameters (laplace-torch's default, 1.0).
    Scalar(f64),
    /// One precision for the weight and one for the bias (laplace-torch's `layerwise`).
    Layerwise {
        /// Precision of the `K·D` weights.
        weight: f64,
        /// Precision of the `K` biases.
        bias: f64,
    },
    /// One precision per parameter, length `P` (laplace-torch's `diag`).
    Diagonal(Vec<f64>),
}

impl Default for PriorPrecision {
    fn default() -> Self {
        PriorPrecision::Scalar(1.0)
    }
}

/// The structure of a prior precision, for the optimisers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PriorStructure {
    /// [`PriorPrecision::Scalar`].
    Scalar,
    /// [`PriorPrecision::Layerwise`].
    Layerwise,
    /// [`PriorPrecision::Diagonal`].
    Diagonal,
}

impl PriorStructure {
    /// Short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            PriorStructure::Scalar => "scalar",
            PriorStructure::Layerwise => "layerwise",
            PriorStructure::Diagonal => "diagonal",
        }
    }
}

impl PriorPrecision {
    /// The structure of this prior.
    pub fn structure(&self) -> PriorStructure {
        match self {
            PriorPrecision::Scalar(_) => PriorStructure::Scalar,
            PriorPrecision::Layerwise { .. } => PriorStructure::Layerwise,
            PriorPrecision::Diagonal(_) => PriorStructure::Diagonal,
        }
    }

    /// Checks every precision is finite and positive and a diagonal has length `P`.
    pub fn validate(&self, shape: LayerShape) -> Result<()> {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        match self {
            PriorPrecision::Scalar(x) if ok(*x) => Ok(()),
            PriorPrecision::Layerwise { weight, bias } if ok(*weight) && ok(*bias) => Ok(()),
            PriorPrecision::Diagonal(v) => {
                if v.len() != shape.n_params() {
                    return Err(LaplaceError::Shape {
                        what: "diagonal prior precision",
                        expected: format!("P = K·D + K = {}", shape.n_params()),
                        got: format!("{} values", v.len()),
                    });
                }
                if v.iter().all(|&x| ok(x)) {
                    Ok(())
                } else {
                    Err(LaplaceError::InvalidPrior(
                        "every diagonal entry must be finite and > 0".into(),
                    ))
                }
            }
            other => Err(LaplaceError::InvalidPrior(format!(
                "{other:?} must be finite and > 0"
            ))),
        }
    }

    /// The prior precision as a length-`P` vector `δ` (weight entries first, then bias).
    pub fn diagonal(&self, shape: LayerShape) -> Result<Vec<f64>> {
        self.validate(shape)?;
        let (nw, p) = (shape.n_weight(), shape.n_params());
        Ok(match self {
            PriorPrecision::Scalar(x) => vec![*x; p],
            PriorPrecision::Layerwise { weight, bias } => {
                let mut v = vec![*weight; nw];
                v.resize(p, *bias);
                v
            }
            PriorPrecision::Diagonal(v) => v.clone(),
        })
    }

    /// `(δ_weight, δ_bias)` for structures that allow it (not [`PriorPrecision::Diagonal`]).
    pub(crate) fn per_layer(
        &self,
        structure: &'static str,
        shape: LayerShape,
    ) -> Result<(f64, f64)> {
        self.validate(shape)?;
        match self {
            PriorPrecision::Scalar(x) => Ok((*x, *x)),
            PriorPrecision::Layerwise { weight, bias } => Ok((*weight, *bias)),
            PriorPrecision::Diagonal(_) => Err(LaplaceError::UnsupportedPrior {
                structure,
                prior: "diagonal",
            }),
        }
    }
}

/// laplace-torch's default grid-search candidates: `logspace(-4, 4, 100)` in base 10.
pub fn laplace_torch_grid() -> Vec<f64> {
    log_grid(-4.0, 4.0, 100)
}

/// `n` log-spaced values `10^(lo + (hi - lo) i / (n - 1))`, `i = 0..n`.
pub fn log_grid(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![10f64.powf(lo)];
    }
    (0..n)
        .map(|i| 10f64.powf(lo + (hi - lo) * i as f64 / (n - 1) as f64))
        .collect()
}
