//! Which weights: the last `Linear` of SAM's token-0 hypernetwork MLP (laplace-torch's
//! `FeatureExtractor` role), and the per-mask features a model hands to this crate.
//!
//! The layer maps the token-0 hidden state `h ∈ R^D` to `z = W h + b ∈ R^K` and the mask
//! logits are `m_i = Σ_k z_k E_k(i)` for the upscaled embedding `E ∈ R^{K × N_pix}`.
//! Parameters are ordered as laplace-torch orders them: `θ = (vec(W) row-major, b)`, so
//! `W_kj` has index `k·D + j` and `b_k` has index `K·D + k`, `P = K·D + K`.
//! The z-space Jacobian is `J_z = ∂z/∂θ = [I_K ⊗ hᵀ, I_K]` (K × P) and `∂m_i/∂θ = E(i)ᵀ J_z`.

use serde::{Deserialize, Serialize};

use crate::error::{LaplaceError, Result, check_len};

/// Shape of the last layer: input width `d` (D, `transformer_dim`) and output width `k`
/// (K, `transformer_dim / 8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerShape {
    /// Input width D (256 for SAM ViT-B/L/H, 32 in the tiny test models).
    pub d: usize,
    /// Output width K (32 for SAM, the number of upscaled-embedding channels).
    pub k: usize,
}

impl LayerShape {
    /// A layer shape; both widths must be positive.
    pub fn new(d: usize, k: usize) -> Result<Self> {
        if d == 0 || k == 0 {
            return Err(LaplaceError::InvalidArgument(format!(
                "layer shape D x K = {d} x {k} must be positive"
            )));
        }
        Ok(Self { d, k })
    }

    /// Number of parameters `P = K·D + K` (weight then bias).
    pub fn n_params(&self) -> usize {
        self.k * self.d + self.k
    }

    /// Number of weight parameters `K·D`.
    pub fn n_weight(&self) -> usize {
        self.k * self.d
    }

    /// Checks `h.len() == D`.
    pub fn check_h(&self, h: &[f32]) -> Result<()> {
        check_len("h", h.len(), self.d, &format!("D = {}", self.d))?;
        check_finite("h", h)
    }

    /// Checks `e.len() == K · n_pix` and returns `n_pix`.
    pub fn check_e(&self, e: &[f32]) -> Result<usize> {
        if e.is_empty() || !e.len().is_multiple_of(self.k) {
            return Err(LaplaceError::Shape {
                what: "E",
                expected: format!(
                    "K x N_pix = {} x N_pix (a positive multiple of {})",
                    self.k, self.k
                ),
                got: format!("{} values", e.len()),
            });
        }
        check_finite("E", e)?;
        Ok(e.len() / self.k)
    }

    /// Checks a per-pixel slice (targets, logits) against `n_pix`.
    pub fn check_pixels(&self, what: &'static str, got: usize, n_pix: usize) -> Result<()> {
        check_len(what, got, n_pix, &format!("N_pix = {n_pix}"))
    }

    /// `z = W h + b` in f64, with `W` row-major `K × D`.
    pub fn forward(&self, weight: &[f64], bias: &[f64], h: &[f32]) -> Vec<f64> {
        (0..self.k)
            .map(|k| {
                let row = &weight[k * self.d..(k + 1) * self.d];
                row.iter()
                    .zip(h)
                    .map(|(w, &x)| w * f64::from(x))
                    .sum::<f64>()
                    + bias[k]
            })
            .collect()
    }
}

pub(crate) fn check_finite(what: &'static str, x: &[f32]) -> Result<()> {
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(LaplaceError::NonFinite(what))
    }
}

/// Per-pixel logits `m_i = Σ_k z_k E_k(i)` for `E` row-major `K × N_pix`, in f64.
pub fn logits(z: &[f64], e: &[f32], n_pix: usize) -> Vec<f64> {
    let mut m = vec![0.0f64; n_pix];
    for (k, &zk) in z.iter().enumerate() {
        let row = &e[k * n_pix..(k + 1) * n_pix];
        for (mi, &ei) in m.iter_mut().zip(row) {
            *mi += zk * f64::from(ei);
        }
    }
    m
}

/// Per-pixel logits in f32, `m_i = Σ_k z_k E_k(i)`: the cost of the decoder's final product,
/// the baseline the predictive benchmarks compare against.
pub fn logits_f32(z: &[f32], e: &[f32], out: &mut [f32]) {
    let n_pix = out.len();
    out.iter_mut().for_each(|v| *v = 0.0);
    for (k, &zk) in z.iter().enumerate() {
        let row = &e[k * n_pix..(k + 1) * n_pix];
        for (mi, &ei) in out.iter_mut().zip(row) {
            *mi += zk * ei;
        }
    }
}

/// Output-space Gram matrix `G = E diag(w) Eᵀ` (K × K, row-major), `G_kl = Σ_i w_i E_k(i) E_l(i)`.
pub fn weighted_gram(e: &[f32], k: usize, n_pix: usize, w: &[f64]) -> Vec<f64> {
    let mut g = vec![0.0f64; k * k];
    let mut we = vec![0.0f64; n_pix];
    for a in 0..k {
        let ra = &e[a * n_pix..(a + 1) * n_pix];
        for ((x, &ea), &wi) in we.iter_mut().zip(ra).zip(w) {
            *x = wi * f64::from(ea);
        }
        for b in a..k {
            let rb = &e[b * n_pix..(b + 1) * n_pix];
            let s: f64 = we.iter().zip(rb).map(|(x, &eb)| x * f64::from(eb)).sum();
            g[a * k + b] = s;
            g[b * k + a] = s;
        }
    }
    g
}
