//! The refinement input: a first pass as plain data (low-resolution logits and an uncertainty
//! map per mask), whichever estimator produced it.

use burn::prelude::*;

use crate::error::RefineError;

/// A first-pass prediction of `b` masks at SAM's low resolution `4E x 4E`.
///
/// Only plain data crosses this boundary: an estimator's internals (samples, Hessians, hooks)
/// never reach refinement.
#[derive(Clone, Debug)]
pub struct FirstPass<B: Backend> {
    /// Mask logits, `[b, 4E, 4E]` (for a sampling estimator, `logit(mean probability)`).
    pub logits: Tensor<B, 3>,
    /// Per-pixel uncertainty, `[b, 4E, 4E]`, non-negative; its scale is free (entropy in nats,
    /// a standard deviation, a log-variance shifted to be non-negative, ...).
    pub uncertainty: Tensor<B, 3>,
}

/// A first pass copied to the host, one row-major `Vec` per mask.
#[derive(Clone, Debug, PartialEq)]
pub struct HostPass {
    /// `[h, w]` of every map (`4E x 4E`).
    pub size: [usize; 2],
    /// Logits per mask.
    pub logits: Vec<Vec<f32>>,
    /// Uncertainty per mask.
    pub uncertainty: Vec<Vec<f32>>,
}

impl<B: Backend> FirstPass<B> {
    /// A first pass from probabilities: logits are `logit(clamp(p, eps, 1 - eps))`.
    ///
    /// # Shapes
    /// - prob, uncertainty: `[b, 4E, 4E]`
    pub fn from_probability(prob: Tensor<B, 3>, uncertainty: Tensor<B, 3>, eps: f32) -> Self {
        let p = prob.clamp(eps, 1.0 - eps);
        let logits = p.clone().log() - p.neg().add_scalar(1.0).log();
        Self {
            logits,
            uncertainty,
        }
    }

    /// Number of masks, after checking that both maps are `[b, side[0], side[1]]`.
    pub fn check(&self, side: [usize; 2]) -> Result<usize, RefineError> {
        let [b, h, w] = self.logits.dims();
        if [h, w] != side || self.uncertainty.dims() != [b, h, w] {
            return Err(RefineError::Input(format!(
                "first pass must be [b, {}, {}] logits and uncertainty; got {:?} and {:?}",
                side[0],
                side[1],
                self.logits.dims(),
                self.uncertainty.dims()
            )));
        }
        Ok(b)
    }

    /// Copies both maps to the host, after [`FirstPass::check`]; rejects non-finite values and
    /// negative uncertainty.
    pub fn to_host(&self, side: [usize; 2]) -> Result<HostPass, RefineError> {
        let b = self.check(side)?;
        let logits = rows(self.logits.clone(), b)?;
        let uncertainty = rows(self.uncertainty.clone(), b)?;
        let bad = |v: &Vec<Vec<f32>>, ok: fn(f32) -> bool| v.iter().flatten().any(|x| !ok(*x));
        if bad(&logits, |x| !x.is_nan()) {
            return Err(RefineError::Input("first-pass logits hold NaN".into()));
        }
        if bad(&uncertainty, |x| x.is_finite() && x >= 0.0) {
            return Err(RefineError::Input(
                "uncertainty must be finite and non-negative".into(),
            ));
        }
        Ok(HostPass {
            size: side,
            logits,
            uncertainty,
        })
    }
}

/// Splits a `[b, h, w]` tensor into `b` row-major vectors.
pub(crate) fn rows<B: Backend>(t: Tensor<B, 3>, b: usize) -> Result<Vec<Vec<f32>>, RefineError> {
    let v = uncertsam_sam::frame::to_host(t, "maps")?;
    let n = v.len() / b.max(1);
    Ok(v.chunks(n.max(1)).map(<[f32]>::to_vec).collect())
}

/// Binary entropy (nats) of `sigmoid(logit)`: SAM's own uncertainty, used after the first
/// refinement step, as the paper does.
pub fn logit_entropy(logit: f32) -> f32 {
    // H = softplus(-|x|) + |x| * sigmoid(-|x|), stable for large |x|.
    let a = logit.abs();
    let e = (-a).exp();
    e.ln_1p() + a * e / (1.0 + e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logit_entropy_matches_the_definition() {
        for x in [-30.0f32, -3.0, -0.5, 0.0, 0.7, 4.0] {
            let p = 1.0 / (1.0 + (-x as f64).exp());
            let h = -(p * p.ln() + (1.0 - p) * (1.0 - p).max(1e-300).ln());
            assert!((logit_entropy(x) as f64 - h).abs() < 1e-6, "{x}");
        }
        assert!((logit_entropy(0.0) - std::f32::consts::LN_2).abs() < 1e-7);
    }
}
