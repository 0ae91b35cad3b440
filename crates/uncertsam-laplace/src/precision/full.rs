//! Full GGN: `H += J_zᵀ G_z J_z`, i.e. `H[(k,j),(l,j')] += G_kl h̃_j h̃_j'` with `h̃ = (h, 1)`
//! (the bias is the `j = D` column). Exact, `O(P²)` memory: 541 MB at real scale.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::diag::check_shape;
use super::{NamedTensor, PosteriorFactor, Precision, TensorGetter};
use crate::error::{LaplaceError, Result};
use crate::features::LayerShape;
use crate::prior::PriorPrecision;

/// Dense curvature (laplace-torch `hessian_structure="full"`).
#[derive(Debug, Clone, PartialEq)]
pub struct FullPrecision {
    shape: LayerShape,
    h: Vec<f64>,
}

impl FullPrecision {
    /// The stored `H` (P × P row-major).
    pub fn values(&self) -> &[f64] {
        &self.h
    }
}

/// Parameter index of `(k, j)` with `j = D` meaning the bias `b_k`.
#[inline]
fn idx(shape: LayerShape, k: usize, j: usize) -> usize {
    if j < shape.d {
        k * shape.d + j
    } else {
        shape.k * shape.d + k
    }
}

impl Precision for FullPrecision {
    const NAME: &'static str = "full";
    type Factor = FullFactor;

    fn zeros(shape: LayerShape) -> Self {
        let p = shape.n_params();
        Self {
            shape,
            h: vec![0.0; p * p],
        }
    }

    fn shape(&self) -> LayerShape {
        self.shape
    }

    fn accumulate(&mut self, h: &[f64], g: &[f64]) {
        let (d, k, p) = (self.shape.d, self.shape.k, self.shape.n_params());
        for a in 0..k {
            for j in 0..=d {
                let hj = if j < d { h[j] } else { 1.0 };
                let row = idx(self.shape, a, j) * p;
                for b in 0..k {
                    let c = g[a * k + b] * hj;
                    if c == 0.0 {
                        continue;
                    }
                    let seg = &mut self.h[row + b * d..row + (b + 1) * d];
                    for (x, &hh) in seg.iter_mut().zip(h) {
                        *x += c * hh;
                    }
                    self.h[row + k * d + b] += c;
                }
            }
        }
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        check_shape(self.shape, other.shape)?;
        self.h.iter_mut().zip(&other.h).for_each(|(a, b)| *a += b);
        Ok(())
    }

    fn ggn_diagonal(&self) -> Vec<f64> {
        let p = self.shape.n_params();
        (0..p).map(|i| self.h[i * p + i]).collect()
    }

    fn to_dense(&self) -> Vec<f64> {
        self.h.clone()
    }

    fn factorize(&self, prior: &PriorPrecision) -> Result<FullFactor> {
        let p = self.shape.n_params();
        let delta = prior.diagonal(self.shape)?;
        let mut m = nalgebra::DMatrix::from_row_slice(p, p, &self.h);
        for (i, dl) in delta.iter().enumerate() {
            m[(i, i)] += dl;
        }
        let chol = nalgebra::Cholesky::new(m).ok_or(LaplaceError::NotPositiveDefinite {
            what: "posterior precision H + diag(δ)",
            n: p,
        })?;
        let log_det = 2.0
            * chol
                .l_dirty()
                .diagonal()
                .iter()
                .map(|x| x.ln())
                .sum::<f64>();
        let cov = chol.inverse();
        let l = chol.unpack();
        Ok(FullFactor {
            shape: self.shape,
            l,
            cov,
            log_det,
        })
    }

    fn tensors(&self) -> Vec<NamedTensor> {
        let p = self.shape.n_params();
        vec![("ggn_full".into(), vec![p, p], self.h.clone())]
    }

    fn from_tensors(shape: LayerShape, get: &mut TensorGetter<'_>) -> Result<Self> {
        let p = shape.n_params();
        Ok(Self {
            shape,
            h: get("ggn_full", &[p, p])?,
        })
    }
}

/// Cholesky-factorised full posterior `Λ = L Lᵀ` with the covariance `Σ = Λ^{-1}` precomputed.
#[derive(Debug, Clone)]
pub struct FullFactor {
    shape: LayerShape,
    /// Lower Cholesky factor, column-major.
    l: nalgebra::DMatrix<f64>,
    /// Symmetric covariance.
    cov: nalgebra::DMatrix<f64>,
    log_det: f64,
}

impl PosteriorFactor for FullFactor {
    fn log_det_precision(&self) -> f64 {
        self.log_det
    }

    fn covariance_diagonal(&self) -> Vec<f64> {
        self.cov.diagonal().iter().copied().collect()
    }

    fn z_covariance(&self, h: &[f64]) -> Vec<f64> {
        let (d, k, p) = (self.shape.d, self.shape.k, self.shape.n_params());
        let cov = self.cov.as_slice(); // symmetric, so column-major = row-major
        // t[row][l] = Σ_j' Σ[row, (l, j')] h̃_j'.
        let mut t = vec![0.0; p * k];
        for row in 0..p {
            let r = &cov[row * p..(row + 1) * p];
            for l in 0..k {
                let w: f64 = r[l * d..(l + 1) * d]
                    .iter()
                    .zip(h)
                    .map(|(c, x)| c * x)
                    .sum();
                t[row * k + l] = w + r[k * d + l];
            }
        }
        let mut s = vec![0.0; k * k];
        for a in 0..k {
            for (j, &hj) in h.iter().chain(std::iter::once(&1.0)).enumerate() {
                let row = idx(self.shape, a, j);
                for l in 0..k {
                    s[a * k + l] += hj * t[row * k + l];
                }
            }
        }
        // Symmetrise rounding.
        for a in 0..k {
            for l in a + 1..k {
                let m = 0.5 * (s[a * k + l] + s[l * k + a]);
                s[a * k + l] = m;
                s[l * k + a] = m;
            }
        }
        s
    }

    /// `θ - θ_MAP = L^{-T} ε`, so that `Cov = (L Lᵀ)^{-1} = Σ`.
    fn sample_offset(&self, rng: &mut ChaCha8Rng, out: &mut [f64]) {
        let p = self.shape.n_params();
        for o in out.iter_mut() {
            *o = rng.sample(StandardNormal);
        }
        let l = self.l.as_slice(); // column-major: L[j, i] at i * p + j
        for i in (0..p).rev() {
            let col = &l[i * p..(i + 1) * p];
            let s: f64 = col[i + 1..]
                .iter()
                .zip(&out[i + 1..])
                .map(|(a, b)| a * b)
                .sum();
            out[i] = (out[i] - s) / col[i];
        }
    }
}
