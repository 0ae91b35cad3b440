//! Which curvature: the likelihood whose generalised Gauss-Newton (GGN) matrix is accumulated.
//!
//! Both likelihoods are written in the K-dimensional output space of the last layer.
//! For one example with logits `m = Eᵀ z`, the GGN of the example is
//! `H_n = Σ_i J_iᵀ Λ J_i = J_zᵀ G_z J_z` with the K × K matrix `G_z = E Λ Eᵀ`, so the
//! `N_pix × P` Jacobian is never materialised.

use serde::{Deserialize, Serialize};

use crate::features::weighted_gram;

/// The likelihood of a mask's logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Likelihood {
    /// Independent Bernoulli per pixel (the correct model for sigmoid mask logits):
    /// `-log p(y|m) = Σ_i softplus(m_i) - y_i m_i`, GGN middle matrix
    /// `Λ = diag(λ_i)`, `λ_i = σ(m_i)(1 - σ(m_i))`, so `G_z = E diag(λ) Eᵀ`.
    /// Identical to laplace-torch's `classification` on per-pixel two-class logits `[0, m_i]`.
    BernoulliPixel,
    /// The paper's quirk (spec §3.3): all pixels of one example are the classes of a single
    /// softmax, `p = softmax(m)`, `-log p(t|m) = -Σ_i t_i log p_i` (soft targets allowed),
    /// `Λ = diag(p) - p pᵀ`, so `G_z = E diag(p) Eᵀ - (E p)(E p)ᵀ`
    /// (its diagonal is `Var_p(E_k)`, the closed form of spec §3.3).
    SoftmaxOverPixels,
}

impl Likelihood {
    /// Short name used in saved configs and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Likelihood::BernoulliPixel => "bernoulli_pixel",
            Likelihood::SoftmaxOverPixels => "softmax_over_pixels",
        }
    }

    /// Output-space GGN `G_z` (K × K row-major) of one example with logits `m` and
    /// `E` row-major `K × N_pix`.
    pub fn output_ggn(&self, e: &[f32], k: usize, m: &[f64]) -> Vec<f64> {
        let n_pix = m.len();
        match self {
            Likelihood::BernoulliPixel => {
                let lam: Vec<f64> = m
                    .iter()
                    .map(|&x| {
                        let s = sigmoid(x);
                        s * sigmoid(-x)
                    })
                    .collect();
                weighted_gram(e, k, n_pix, &lam)
            }
            Likelihood::SoftmaxOverPixels => {
                let p = softmax(m);
                let mut g = weighted_gram(e, k, n_pix, &p);
                let ep: Vec<f64> = (0..k)
                    .map(|a| {
                        e[a * n_pix..(a + 1) * n_pix]
                            .iter()
                            .zip(&p)
                            .map(|(&x, pi)| f64::from(x) * pi)
                            .sum()
                    })
                    .collect();
                for a in 0..k {
                    for b in 0..k {
                        g[a * k + b] -= ep[a] * ep[b];
                    }
                }
                g
            }
        }
    }

    /// Negative log likelihood of one example at logits `m` for targets `t ∈ [0, 1]^N_pix`
    /// (laplace-torch's summed cross-entropy `loss`).
    pub fn nll(&self, m: &[f64], t: &[f32]) -> f64 {
        match self {
            Likelihood::BernoulliPixel => m
                .iter()
                .zip(t)
                .map(|(&x, &y)| softplus(x) - f64::from(y) * x)
                .sum(),
            Likelihood::SoftmaxOverPixels => {
                let lse = log_sum_exp(m);
                m.iter()
                    .zip(t)
                    .map(|(&x, &y)| f64::from(y) * (lse - x))
                    .sum()
            }
        }
    }
}

/// Logistic sigmoid `σ(x) = 1 / (1 + e^{-x})`, stable for large |x|.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `softplus(x) = ln(1 + e^x)`, stable for large |x|.
pub fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Binary entropy in nats of `σ(m)`, computed from the logit without cancellation:
/// `H(σ(m)) = ln(1 + e^{-|m|}) + |m| σ(-|m|)`.
pub fn entropy_from_logit(m: f64) -> f64 {
    let a = m.abs();
    let ea = (-a).exp();
    ea.ln_1p() + a * ea / (1.0 + ea)
}

/// Binary entropy in nats `H(p) = -p ln p - (1-p) ln(1-p)` with `0 ln 0 = 0`, after clamping
/// `p` to `[eps, 1 - eps]` (`eps = 0` for the exact value).
pub fn binary_entropy(p: f64, eps: f64) -> f64 {
    let p = p.clamp(eps, 1.0 - eps);
    let xlnx = |x: f64| if x > 0.0 { x * x.ln() } else { 0.0 };
    -(xlnx(p) + xlnx(1.0 - p))
}

fn log_sum_exp(m: &[f64]) -> f64 {
    let mx = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    mx + m.iter().map(|&x| (x - mx).exp()).sum::<f64>().ln()
}

fn softmax(m: &[f64]) -> Vec<f64> {
    let lse = log_sum_exp(m);
    m.iter().map(|&x| (x - lse).exp()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_from_logit_matches_the_probability_form() {
        for m in [-30.0, -3.0, -0.2, 0.0, 0.7, 5.0, 40.0] {
            let a = entropy_from_logit(m);
            let b = binary_entropy(sigmoid(m), 0.0);
            assert!((a - b).abs() < 1e-12, "{m}: {a} vs {b}");
        }
    }

    #[test]
    fn softmax_ggn_diagonal_is_the_closed_form_variance() {
        // Spec §3.3: diag(G_z)_k = Var_p(E_k).
        let (k, n) = (2, 5);
        let e: Vec<f32> = (0..k * n)
            .map(|i| ((i * 7 % 5) as f32) * 0.3 - 0.5)
            .collect();
        let m = [0.1, -0.4, 1.2, 0.0, 0.3];
        let g = Likelihood::SoftmaxOverPixels.output_ggn(&e, k, &m);
        let p = softmax(&m);
        for a in 0..k {
            let r: Vec<f64> = e[a * n..(a + 1) * n]
                .iter()
                .map(|&x| f64::from(x))
                .collect();
            let mean: f64 = r.iter().zip(&p).map(|(x, pi)| x * pi).sum();
            let sq: f64 = r.iter().zip(&p).map(|(x, pi)| x * x * pi).sum();
            assert!((g[a * k + a] - (sq - mean * mean)).abs() < 1e-12);
        }
    }
}
