//! Diagonal GGN: `H_p = Σ_n (J_zᵀ G_z J_z)_{pp}`, i.e. `H[W_kj] += G_kk h_j²`, `H[b_k] += G_kk`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::{NamedTensor, PosteriorFactor, Precision, TensorGetter};
use crate::error::{LaplaceError, Result};
use crate::features::LayerShape;
use crate::prior::PriorPrecision;

/// Diagonal curvature (laplace-torch `hessian_structure="diag"`, the paper's choice).
#[derive(Debug, Clone, PartialEq)]
pub struct DiagPrecision {
    shape: LayerShape,
    h: Vec<f64>,
}

impl DiagPrecision {
    /// The stored diagonal `diag(H)` (length P).
    pub fn values(&self) -> &[f64] {
        &self.h
    }
}

impl Precision for DiagPrecision {
    const NAME: &'static str = "diag";
    type Factor = DiagFactor;

    fn zeros(shape: LayerShape) -> Self {
        Self {
            shape,
            h: vec![0.0; shape.n_params()],
        }
    }

    fn shape(&self) -> LayerShape {
        self.shape
    }

    fn accumulate(&mut self, h: &[f64], g: &[f64]) {
        let (d, k) = (self.shape.d, self.shape.k);
        for a in 0..k {
            let gaa = g[a * k + a];
            for (x, &hj) in self.h[a * d..(a + 1) * d].iter_mut().zip(h) {
                *x += gaa * hj * hj;
            }
            self.h[k * d + a] += gaa;
        }
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        check_shape(self.shape, other.shape)?;
        self.h.iter_mut().zip(&other.h).for_each(|(a, b)| *a += b);
        Ok(())
    }

    fn ggn_diagonal(&self) -> Vec<f64> {
        self.h.clone()
    }

    fn to_dense(&self) -> Vec<f64> {
        let p = self.h.len();
        let mut m = vec![0.0; p * p];
        for (i, &x) in self.h.iter().enumerate() {
            m[i * p + i] = x;
        }
        m
    }

    fn factorize(&self, prior: &PriorPrecision) -> Result<DiagFactor> {
        let delta = prior.diagonal(self.shape)?;
        let var = self
            .h
            .iter()
            .zip(&delta)
            .map(|(h, d)| 1.0 / (h + d))
            .collect();
        Ok(DiagFactor {
            shape: self.shape,
            var,
        })
    }

    fn tensors(&self) -> Vec<NamedTensor> {
        vec![("ggn_diag".into(), vec![self.h.len()], self.h.clone())]
    }

    fn from_tensors(shape: LayerShape, get: &mut TensorGetter<'_>) -> Result<Self> {
        Ok(Self {
            shape,
            h: get("ggn_diag", &[shape.n_params()])?,
        })
    }
}

pub(crate) fn check_shape(a: LayerShape, b: LayerShape) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(LaplaceError::Incompatible {
            what: "layer shapes (D x K)",
            left: format!("{} x {}", a.d, a.k),
            right: format!("{} x {}", b.d, b.k),
        })
    }
}

/// Diagonal posterior: `Σ = diag(1 / (H + δ))`.
#[derive(Debug, Clone)]
pub struct DiagFactor {
    shape: LayerShape,
    var: Vec<f64>,
}

impl PosteriorFactor for DiagFactor {
    fn log_det_precision(&self) -> f64 {
        -self.var.iter().map(|v| v.ln()).sum::<f64>()
    }

    fn covariance_diagonal(&self) -> Vec<f64> {
        self.var.clone()
    }

    /// Diagonal `Σ_z`: `s_k = Σ_j h_j² σ²_{W,kj} + σ²_{b,k}` (spec §3.3).
    fn z_covariance(&self, h: &[f64]) -> Vec<f64> {
        let (d, k) = (self.shape.d, self.shape.k);
        let mut s = vec![0.0; k * k];
        for a in 0..k {
            let w: f64 = self.var[a * d..(a + 1) * d]
                .iter()
                .zip(h)
                .map(|(v, x)| v * x * x)
                .sum();
            s[a * k + a] = w + self.var[k * d + a];
        }
        s
    }

    fn sample_offset(&self, rng: &mut ChaCha8Rng, out: &mut [f64]) {
        for (o, v) in out.iter_mut().zip(&self.var) {
            let e: f64 = rng.sample(StandardNormal);
            *o = e * v.sqrt();
        }
    }
}
