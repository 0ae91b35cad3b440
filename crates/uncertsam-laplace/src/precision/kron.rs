//! Kronecker-factored GGN exactly as laplace-torch 0.3 (CurvlinopsGGN KFAC, `expand`) builds it
//! for a `Linear` layer with bias:
//!
//! * weight block `B ⊗ A` with `B = Σ_n G_z⁽ⁿ⁾` (K × K, summed gradient covariance) and
//!   `A = (1/N) Σ_n h_n h_nᵀ` (D × D, input covariance averaged over the N data points);
//! * bias block `B` (exact);
//! * weight–bias cross blocks 0.
//!
//! laplace-torch sums both factors over batches after scaling each batch's `A` by `M/N`, which is
//! the same as the formulas above. Each accumulated example counts as one data point (the paper's
//! setting; for laplace-torch's per-pixel formulation with equal `N_pix` per example `A` is the
//! same). The weight block is exact when one example was accumulated (or all `h_n` are equal,
//! or all `G_z⁽ⁿ⁾` are equal); the bias block is always exact.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::diag::check_shape;
use super::{NamedTensor, PosteriorFactor, Precision, TensorGetter, sym_eig};
use crate::error::Result;
use crate::features::LayerShape;
use crate::prior::PriorPrecision;

/// Kronecker-factored curvature (laplace-torch `hessian_structure="kron"`).
#[derive(Debug, Clone, PartialEq)]
pub struct KronPrecision {
    shape: LayerShape,
    b: Vec<f64>,
    hh: Vec<f64>,
    n: f64,
}

impl KronPrecision {
    /// `B = Σ_n G_z⁽ⁿ⁾` (K × K row-major): the output factor of the weight and the bias block.
    pub fn output_factor(&self) -> &[f64] {
        &self.b
    }

    /// `A = (1/N) Σ_n h_n h_nᵀ` (D × D row-major), the input factor of the weight block
    /// (zeros before any example).
    pub fn input_factor(&self) -> Vec<f64> {
        let n = if self.n > 0.0 { self.n } else { 1.0 };
        self.hh.iter().map(|x| x / n).collect()
    }

    /// Number of examples accumulated (N).
    pub fn n_examples(&self) -> f64 {
        self.n
    }
}

impl Precision for KronPrecision {
    const NAME: &'static str = "kron";
    type Factor = KronFactor;

    fn zeros(shape: LayerShape) -> Self {
        let (d, k) = (shape.d, shape.k);
        Self {
            shape,
            b: vec![0.0; k * k],
            hh: vec![0.0; d * d],
            n: 0.0,
        }
    }

    fn shape(&self) -> LayerShape {
        self.shape
    }

    fn accumulate(&mut self, h: &[f64], g: &[f64]) {
        self.b.iter_mut().zip(g).for_each(|(a, b)| *a += b);
        let d = self.shape.d;
        for (i, &hi) in h.iter().enumerate() {
            for (x, &hj) in self.hh[i * d..(i + 1) * d].iter_mut().zip(h) {
                *x += hi * hj;
            }
        }
        self.n += 1.0;
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        check_shape(self.shape, other.shape)?;
        self.b.iter_mut().zip(&other.b).for_each(|(a, b)| *a += b);
        self.hh.iter_mut().zip(&other.hh).for_each(|(a, b)| *a += b);
        self.n += other.n;
        Ok(())
    }

    fn ggn_diagonal(&self) -> Vec<f64> {
        let (d, k) = (self.shape.d, self.shape.k);
        let a = self.input_factor();
        let mut out = Vec::with_capacity(self.shape.n_params());
        for r in 0..k {
            for j in 0..d {
                out.push(self.b[r * k + r] * a[j * d + j]);
            }
        }
        out.extend((0..k).map(|r| self.b[r * k + r]));
        out
    }

    fn to_dense(&self) -> Vec<f64> {
        let (d, k, p) = (self.shape.d, self.shape.k, self.shape.n_params());
        let a = self.input_factor();
        let mut m = vec![0.0; p * p];
        for r in 0..k {
            for s in 0..k {
                let brs = self.b[r * k + s];
                for i in 0..d {
                    for j in 0..d {
                        m[(r * d + i) * p + s * d + j] = brs * a[i * d + j];
                    }
                }
                m[(k * d + r) * p + k * d + s] = brs;
            }
        }
        m
    }

    fn factorize(&self, prior: &PriorPrecision) -> Result<KronFactor> {
        let (dw, db) = prior.per_layer(Self::NAME, self.shape)?;
        let (d, k) = (self.shape.d, self.shape.k);
        let (lb, qb) = sym_eig(&self.b, k);
        let (la, qa) = sym_eig(&self.input_factor(), d);
        Ok(KronFactor {
            shape: self.shape,
            lb,
            qb,
            la,
            qa,
            dw,
            db,
        })
    }

    fn tensors(&self) -> Vec<NamedTensor> {
        let (d, k) = (self.shape.d, self.shape.k);
        vec![
            ("kron_output_factor".into(), vec![k, k], self.b.clone()),
            ("kron_input_sum".into(), vec![d, d], self.hh.clone()),
            ("kron_n_examples".into(), vec![1], vec![self.n]),
        ]
    }

    fn from_tensors(shape: LayerShape, get: &mut TensorGetter<'_>) -> Result<Self> {
        let (d, k) = (shape.d, shape.k);
        Ok(Self {
            shape,
            b: get("kron_output_factor", &[k, k])?,
            hh: get("kron_input_sum", &[d, d])?,
            n: get("kron_n_examples", &[1])?[0],
        })
    }
}

/// Eigendecomposed Kronecker posterior: weight block
/// `(Q_B ⊗ Q_A) diag(l_B,a l_A,b + δ_W) (Q_B ⊗ Q_A)ᵀ`, bias block `Q_B diag(l_B + δ_b) Q_Bᵀ`
/// (laplace-torch's `KronDecomposed` without damping).
#[derive(Debug, Clone)]
pub struct KronFactor {
    shape: LayerShape,
    lb: Vec<f64>,
    qb: Vec<f64>,
    la: Vec<f64>,
    qa: Vec<f64>,
    dw: f64,
    db: f64,
}

impl PosteriorFactor for KronFactor {
    fn log_det_precision(&self) -> f64 {
        let mut s = 0.0;
        for &a in &self.lb {
            for &b in &self.la {
                s += (a * b + self.dw).ln();
            }
            s += (a + self.db).ln();
        }
        s
    }

    fn covariance_diagonal(&self) -> Vec<f64> {
        let (d, k) = (self.shape.d, self.shape.k);
        // inv[a][b] = 1 / (l_B,a l_A,b + δ_W); qa2[j][b] = Q_A[j,b]².
        let inv: Vec<f64> = self
            .lb
            .iter()
            .flat_map(|&a| self.la.iter().map(move |&b| 1.0 / (a * b + self.dw)))
            .collect();
        let qa2: Vec<f64> = self.qa.iter().map(|x| x * x).collect();
        // t[a][j] = Σ_b inv[a][b] Q_A[j,b]².
        let mut t = vec![0.0; k * d];
        for a in 0..k {
            for j in 0..d {
                t[a * d + j] = (0..d).map(|b| inv[a * d + b] * qa2[j * d + b]).sum();
            }
        }
        let mut out = vec![0.0; self.shape.n_params()];
        for r in 0..k {
            for j in 0..d {
                out[r * d + j] = (0..k)
                    .map(|a| self.qb[r * k + a].powi(2) * t[a * d + j])
                    .sum();
            }
            out[k * d + r] = (0..k)
                .map(|a| self.qb[r * k + a].powi(2) / (self.lb[a] + self.db))
                .sum();
        }
        out
    }

    /// `Σ_z = Q_B diag(c) Q_Bᵀ` with `c_a = Σ_b (Q_Aᵀ h)_b² / (l_B,a l_A,b + δ_W) + 1 / (l_B,a + δ_b)`.
    fn z_covariance(&self, h: &[f64]) -> Vec<f64> {
        let (d, k) = (self.shape.d, self.shape.k);
        let u: Vec<f64> = (0..d)
            .map(|b| (0..d).map(|j| self.qa[j * d + b] * h[j]).sum::<f64>())
            .collect();
        let c: Vec<f64> = self
            .lb
            .iter()
            .map(|&a| {
                self.la
                    .iter()
                    .zip(&u)
                    .map(|(&b, &ub)| ub * ub / (a * b + self.dw))
                    .sum::<f64>()
                    + 1.0 / (a + self.db)
            })
            .collect();
        let mut s = vec![0.0; k * k];
        for r in 0..k {
            for q in 0..k {
                s[r * k + q] = (0..k)
                    .map(|a| self.qb[r * k + a] * c[a] * self.qb[q * k + a])
                    .sum();
            }
        }
        s
    }

    /// `W - W_MAP = Q_B (ε ∘ S) Q_Aᵀ`, `S_ab = (l_B,a l_A,b + δ_W)^{-1/2}`,
    /// `b - b_MAP = Q_B ((l_B + δ_b)^{-1/2} ∘ ε_b)`.
    fn sample_offset(&self, rng: &mut ChaCha8Rng, out: &mut [f64]) {
        let (d, k) = (self.shape.d, self.shape.k);
        let mut e = vec![0.0; k * d];
        for a in 0..k {
            for b in 0..d {
                let x: f64 = rng.sample(StandardNormal);
                e[a * d + b] = x / (self.lb[a] * self.la[b] + self.dw).sqrt();
            }
        }
        // tmp = e Q_Aᵀ  (K × D); out_w = Q_B tmp.
        let mut tmp = vec![0.0; k * d];
        for a in 0..k {
            for j in 0..d {
                tmp[a * d + j] = (0..d).map(|b| e[a * d + b] * self.qa[j * d + b]).sum();
            }
        }
        for r in 0..k {
            for j in 0..d {
                out[r * d + j] = (0..k).map(|a| self.qb[r * k + a] * tmp[a * d + j]).sum();
            }
        }
        let eb: Vec<f64> = (0..k)
            .map(|a| {
                let x: f64 = rng.sample(StandardNormal);
                x / (self.lb[a] + self.db).sqrt()
            })
            .collect();
        for r in 0..k {
            out[k * d + r] = (0..k).map(|a| self.qb[r * k + a] * eb[a]).sum();
        }
    }
}
