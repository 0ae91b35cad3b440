//! Which predictive: everything happens in the K-dimensional output space of the last layer.
//!
//! Under the linearised (GLM) posterior, `z = W h + b ~ N(z_MAP, Σ_z)` with
//! `Σ_z = J_z Σ J_zᵀ` (K × K, [`crate::PosteriorFactor::z_covariance`]); since `m = Eᵀ z` is
//! linear in `θ`, this is exactly the weight-space posterior pushed through the layer.
//! Per pixel, `m_i ~ N(μ_i = E(i)ᵀ z_MAP, v_i = E(i)ᵀ Σ_z E(i))`.
//!
//! * [`ZPosterior::probit`]: `p̄_i ≈ σ(μ_i / sqrt(1 + π v_i / 8))`, `O(K² N_pix)` (`O(K N_pix)`
//!   for a diagonal `Σ_z`), no sampling.
//! * [`ZPosterior::mc`]: `z_s ~ N(z_MAP, Σ_z)`, `S` samples, `O(S K N_pix)`.
//! * [`crate::Posterior::mc_weight_space`]: the paper's `θ_s ~ N(θ_MAP, Σ)`, then `z_s = W_s h + b_s`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::error::{LaplaceError, Result};
use crate::likelihood::{binary_entropy, entropy_from_logit, sigmoid};

/// Pixels per chunk: keeps the f64 working set of a chunk in L1/L2.
const CHUNK: usize = 512;

/// The Gaussian posterior of the last layer's output `z ∈ R^K` for one mask.
#[derive(Debug, Clone, PartialEq)]
pub struct ZPosterior {
    /// `z_MAP = W_MAP h + b_MAP` (length K).
    pub mean: Vec<f64>,
    /// `Σ_z = J_z Σ J_zᵀ` (K × K row-major).
    pub cov: Vec<f64>,
}

/// Closed-form probit maps for one mask (length `N_pix` each).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbitMaps {
    /// `μ_i = E(i)ᵀ z_MAP`.
    pub mean_logit: Vec<f32>,
    /// `v_i = E(i)ᵀ Σ_z E(i)`, the linearised logit variance.
    pub logit_var: Vec<f32>,
    /// `σ(μ_i / sqrt(1 + π v_i / 8))`.
    pub prob: Vec<f32>,
}

/// Monte Carlo maps for one mask (length `N_pix` each), with `p_s = σ(m_s)`.
#[derive(Debug, Clone, PartialEq)]
pub struct UncertaintyMaps {
    /// `p̄ = (1/S) Σ_s p_s`.
    pub mean_prob: Vec<f32>,
    /// Predictive entropy `H(p̄)` in nats (total uncertainty, `≤ ln 2`).
    pub predictive_entropy: Vec<f32>,
    /// Expected entropy `(1/S) Σ_s H(p_s)` (aleatoric).
    pub expected_entropy: Vec<f32>,
    /// Mutual information `max(0, H(p̄) - (1/S) Σ_s H(p_s))` (epistemic, BALD).
    pub mutual_information: Vec<f32>,
    /// Unbiased standard deviation of `p_s` over samples (0 when `S = 1`).
    pub std: Vec<f32>,
}

/// Options for the Monte Carlo predictives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McOptions {
    /// Number of samples `S` (the paper uses 1000 for evaluation, 100 for refinement).
    pub samples: usize,
    /// Entropies clamp `p` to `[eps, 1 - eps]` first; `0` (default) gives exact entropies
    /// computed from the logits. The paper's fp32 code uses `1e-7`.
    pub entropy_eps: f64,
}

impl Default for McOptions {
    fn default() -> Self {
        Self {
            samples: 100,
            entropy_eps: 0.0,
        }
    }
}

impl ZPosterior {
    /// Output width K.
    pub fn k(&self) -> usize {
        self.mean.len()
    }

    fn n_pix(&self, e: &[f32]) -> Result<usize> {
        let k = self.k();
        if e.is_empty() || !e.len().is_multiple_of(k) {
            return Err(LaplaceError::Shape {
                what: "E",
                expected: format!("K x N_pix = {k} x N_pix (a positive multiple of {k})"),
                got: format!("{} values", e.len()),
            });
        }
        Ok(e.len() / k)
    }

    /// Rows `U_r` (with the first non-zero column) such that `Σ_z = Σ_r U_rᵀ U_r`:
    /// diagonal → `√s_k e_k`; otherwise Cholesky `Σ_z = L Lᵀ`, `U = Lᵀ`; if `Σ_z` is only
    /// semi-definite, eigenvectors scaled by `√λ` (negative rounding clamped to 0).
    fn square_root_rows(&self) -> Vec<(usize, Vec<f64>)> {
        let k = self.k();
        let c = &self.cov;
        let off = (0..k).any(|a| (0..k).any(|b| a != b && c[a * k + b] != 0.0));
        if !off {
            return (0..k)
                .map(|a| {
                    let mut r = vec![0.0; k];
                    r[a] = c[a * k + a].max(0.0).sqrt();
                    (a, r)
                })
                .collect();
        }
        let m = nalgebra::DMatrix::from_row_slice(k, k, c);
        if let Some(ch) = nalgebra::Cholesky::new(m.clone()) {
            let l = ch.unpack();
            return (0..k)
                .map(|r| (r, (0..k).map(|a| l[(a, r)]).collect()))
                .collect();
        }
        let eig = nalgebra::SymmetricEigen::new(m);
        (0..k)
            .map(|r| {
                let s = eig.eigenvalues[r].max(0.0).sqrt();
                (0, (0..k).map(|a| s * eig.eigenvectors[(a, r)]).collect())
            })
            .collect()
    }

    /// Closed-form probit predictive: `p̄_i = σ(μ_i / sqrt(1 + π v_i / 8))` with the exact
    /// `v_i = E(i)ᵀ Σ_z E(i)`; `E` is row-major `K × N_pix`.
    pub fn probit(&self, e: &[f32]) -> Result<ProbitMaps> {
        let n = self.n_pix(e)?;
        let mut maps = ProbitMaps {
            mean_logit: vec![0.0; n],
            logit_var: vec![0.0; n],
            prob: vec![0.0; n],
        };
        self.probit_into(
            e,
            &mut maps.prob,
            Some(&mut maps.logit_var),
            Some(&mut maps.mean_logit),
        )?;
        Ok(maps)
    }

    /// [`ZPosterior::probit`] into caller buffers (length `N_pix`); the logit variance and mean
    /// are written only when a buffer is given.
    pub fn probit_into(
        &self,
        e: &[f32],
        prob: &mut [f32],
        mut logit_var: Option<&mut [f32]>,
        mut mean_logit: Option<&mut [f32]>,
    ) -> Result<()> {
        let k = self.k();
        let n = self.n_pix(e)?;
        let check = |what: &'static str, len: usize| {
            crate::error::check_len(what, len, n, &format!("N_pix = {n}"))
        };
        check("probit output", prob.len())?;
        if let Some(v) = logit_var.as_deref() {
            check("logit variance output", v.len())?;
        }
        if let Some(v) = mean_logit.as_deref() {
            check("mean logit output", v.len())?;
        }
        let rows = self.square_root_rows();
        let diag = rows.iter().enumerate().all(|(r, (s, row))| {
            *s == r && row.iter().enumerate().all(|(a, x)| a == r || *x == 0.0)
        });
        let mut ef = vec![0.0f64; k * CHUNK];
        let mut mu = [0.0f64; CHUNK];
        let mut var = [0.0f64; CHUNK];
        let mut u = [0.0f64; CHUNK];
        let pi8 = std::f64::consts::PI / 8.0;
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            for a in 0..k {
                let src = &e[a * n + start..a * n + start + len];
                for (d, &s) in ef[a * CHUNK..a * CHUNK + len].iter_mut().zip(src) {
                    *d = f64::from(s);
                }
            }
            mu[..len].fill(0.0);
            var[..len].fill(0.0);
            for a in 0..k {
                let za = self.mean[a];
                for (m, &x) in mu[..len].iter_mut().zip(&ef[a * CHUNK..a * CHUNK + len]) {
                    *m += za * x;
                }
            }
            if diag {
                for (a, (_, row)) in rows.iter().enumerate() {
                    let s = row[a] * row[a];
                    for (v, &x) in var[..len].iter_mut().zip(&ef[a * CHUNK..a * CHUNK + len]) {
                        *v += s * x * x;
                    }
                }
            } else {
                for (first, row) in &rows {
                    u[..len].fill(0.0);
                    for a in *first..k {
                        let c = row[a];
                        if c == 0.0 {
                            continue;
                        }
                        for (uu, &x) in u[..len].iter_mut().zip(&ef[a * CHUNK..a * CHUNK + len]) {
                            *uu += c * x;
                        }
                    }
                    for (v, &uu) in var[..len].iter_mut().zip(&u[..len]) {
                        *v += uu * uu;
                    }
                }
            }
            for i in 0..len {
                prob[start + i] = sigmoid(mu[i] / (1.0 + pi8 * var[i]).sqrt()) as f32;
            }
            if let Some(v) = logit_var.as_deref_mut() {
                for i in 0..len {
                    v[start + i] = var[i] as f32;
                }
            }
            if let Some(v) = mean_logit.as_deref_mut() {
                for i in 0..len {
                    v[start + i] = mu[i] as f32;
                }
            }
            start += len;
        }
        Ok(())
    }

    /// Draws `S` output samples `z_s = z_MAP + U ε_s`, `Σ_z = Uᵀ U` (row-major `S × K`).
    pub fn sample(&self, samples: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let k = self.k();
        let rows = self.square_root_rows();
        let mut z = Vec::with_capacity(samples * k);
        let mut eps = vec![0.0; k];
        for _ in 0..samples {
            for x in eps.iter_mut() {
                *x = rng.sample(StandardNormal);
            }
            let mut zs = self.mean.clone();
            for ((_, row), &er) in rows.iter().zip(&eps) {
                for (zz, &c) in zs.iter_mut().zip(row) {
                    *zz += c * er;
                }
            }
            z.extend(zs);
        }
        z
    }

    /// Output-space Monte Carlo predictive: `S` draws `z_s ~ N(z_MAP, Σ_z)` (exactly the
    /// weight-space distribution pushed through the layer), `m_s = Eᵀ z_s`, aggregated per pixel.
    pub fn mc(&self, e: &[f32], opts: McOptions, rng: &mut ChaCha8Rng) -> Result<UncertaintyMaps> {
        if opts.samples == 0 {
            return Err(LaplaceError::InvalidArgument(
                "McOptions::samples must be >= 1".into(),
            ));
        }
        self.n_pix(e)?;
        let z = self.sample(opts.samples, rng);
        aggregate_z_samples(&z, self.k(), e, opts)
    }
}

/// Per-pixel aggregation of output samples `z` (row-major `S × K`) against `E` (`K × N_pix`):
/// `m_s(i) = E(i)ᵀ z_s`, `p_s = σ(m_s)`, then [`UncertaintyMaps`]. Cost `O(S K N_pix)`,
/// batched over chunks of pixels.
pub fn aggregate_z_samples(
    z: &[f64],
    k: usize,
    e: &[f32],
    opts: McOptions,
) -> Result<UncertaintyMaps> {
    if k == 0 || z.is_empty() || !z.len().is_multiple_of(k) {
        return Err(LaplaceError::Shape {
            what: "z samples",
            expected: format!("S x K = S x {k} with S >= 1"),
            got: format!("{} values", z.len()),
        });
    }
    if e.is_empty() || !e.len().is_multiple_of(k) {
        return Err(LaplaceError::Shape {
            what: "E",
            expected: format!("K x N_pix = {k} x N_pix"),
            got: format!("{} values", e.len()),
        });
    }
    let s_count = z.len() / k;
    let n = e.len() / k;
    let sf = s_count as f64;
    let eps = opts.entropy_eps;
    let mut out = UncertaintyMaps {
        mean_prob: vec![0.0; n],
        predictive_entropy: vec![0.0; n],
        expected_entropy: vec![0.0; n],
        mutual_information: vec![0.0; n],
        std: vec![0.0; n],
    };
    let mut ef = vec![0.0f64; k * CHUNK];
    let mut m = [0.0f64; CHUNK];
    let mut sp = [0.0f64; CHUNK];
    let mut sp2 = [0.0f64; CHUNK];
    let mut sh = [0.0f64; CHUNK];
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        for a in 0..k {
            let src = &e[a * n + start..a * n + start + len];
            for (d, &x) in ef[a * CHUNK..a * CHUNK + len].iter_mut().zip(src) {
                *d = f64::from(x);
            }
        }
        sp[..len].fill(0.0);
        sp2[..len].fill(0.0);
        sh[..len].fill(0.0);
        for zs in z.chunks_exact(k) {
            m[..len].fill(0.0);
            for (a, &za) in zs.iter().enumerate() {
                for (mm, &x) in m[..len].iter_mut().zip(&ef[a * CHUNK..a * CHUNK + len]) {
                    *mm += za * x;
                }
            }
            for i in 0..len {
                let p = sigmoid(m[i]);
                sp[i] += p;
                sp2[i] += p * p;
                sh[i] += if eps > 0.0 {
                    binary_entropy(p, eps)
                } else {
                    entropy_from_logit(m[i])
                };
            }
        }
        for i in 0..len {
            let mean = sp[i] / sf;
            let pe = binary_entropy(mean, eps);
            let ee = sh[i] / sf;
            let var = if s_count > 1 {
                ((sp2[i] - sf * mean * mean) / (sf - 1.0)).max(0.0)
            } else {
                0.0
            };
            let j = start + i;
            out.mean_prob[j] = mean as f32;
            out.predictive_entropy[j] = pe as f32;
            out.expected_entropy[j] = ee as f32;
            out.mutual_information[j] = (pe - ee).max(0.0) as f32;
            out.std[j] = var.sqrt() as f32;
        }
        start += len;
    }
    Ok(out)
}
