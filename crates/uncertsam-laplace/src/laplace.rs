//! The estimator: [`LastLayerLaplace`] composes a likelihood, a curvature structure
//! (`P: Precision`) and a prior; [`Posterior`] is its factorised form used for prediction.
//! The marginal likelihood and the predictive are written once, against [`Precision`].

use rand_chacha::ChaCha8Rng;

use crate::error::{LaplaceError, Result, check_len};
use crate::features::{LayerShape, logits};
use crate::likelihood::Likelihood;
use crate::precision::{PosteriorFactor, Precision};
use crate::predictive::{McOptions, UncertaintyMaps, ZPosterior, aggregate_z_samples};
use crate::prior::{PriorPrecision, PriorStructure};

/// Bounds of every optimised prior precision.
pub const PRIOR_MIN: f64 = 1e-10;
/// Upper bound of every optimised prior precision (reached when `θ_i = 0`, say).
pub const PRIOR_MAX: f64 = 1e10;

/// Last-layer Laplace for one `Linear(D → K)` layer, streaming over examples in `O(structure)`
/// memory. `P` is the curvature structure: [`crate::DiagPrecision`] (default choice),
/// [`crate::KronPrecision`] or [`crate::FullPrecision`].
#[derive(Debug, Clone)]
pub struct LastLayerLaplace<P: Precision> {
    pub(crate) shape: LayerShape,
    pub(crate) likelihood: Likelihood,
    pub(crate) weight: Vec<f64>,
    pub(crate) bias: Vec<f64>,
    pub(crate) curvature: P,
    pub(crate) loss: f64,
    pub(crate) n_examples: u64,
    pub(crate) n_without_targets: u64,
    pub(crate) prior: PriorPrecision,
}

/// A validation example for [`Posterior::probit_nll`]: layer input, embedding, binary targets.
#[derive(Debug, Clone, Copy)]
pub struct ValidationExample<'a> {
    /// Layer input `h` (length D).
    pub h: &'a [f32],
    /// Upscaled embedding `E` (row-major `K × N_pix`).
    pub e: &'a [f32],
    /// Targets in `[0, 1]` (length `N_pix`).
    pub targets: &'a [f32],
}

/// Result of [`LastLayerLaplace::grid_search_prior`].
#[derive(Debug, Clone, PartialEq)]
pub struct GridSearch {
    /// The chosen scalar prior precision (first minimum, as `np.argmin`).
    pub best: f64,
    /// Validation loss per candidate (`+∞` where the posterior could not be factorised).
    pub losses: Vec<f64>,
}

impl<P: Precision> LastLayerLaplace<P> {
    /// A Laplace approximation around the MAP `W` (row-major `K × D`) and `b` (length K),
    /// with an empty curvature and prior precision 1 (laplace-torch's default).
    pub fn new(
        shape: LayerShape,
        likelihood: Likelihood,
        weight: &[f32],
        bias: &[f32],
    ) -> Result<Self> {
        check_len(
            "weight W",
            weight.len(),
            shape.n_weight(),
            &format!("K x D = {} x {}", shape.k, shape.d),
        )?;
        check_len("bias b", bias.len(), shape.k, &format!("K = {}", shape.k))?;
        crate::features::check_finite("weight W", weight)?;
        crate::features::check_finite("bias b", bias)?;
        Ok(Self {
            shape,
            likelihood,
            weight: weight.iter().map(|&x| f64::from(x)).collect(),
            bias: bias.iter().map(|&x| f64::from(x)).collect(),
            curvature: P::zeros(shape),
            loss: 0.0,
            n_examples: 0,
            n_without_targets: 0,
            prior: PriorPrecision::default(),
        })
    }

    /// Adds one example (one mask): `h` (length D), `E` (row-major `K × N_pix`) and, for the
    /// marginal likelihood, targets in `[0, 1]` (length `N_pix`). Logits come from the MAP,
    /// `m = Eᵀ (W h + b)`; the curvature update is `J_zᵀ G_z J_z` with `G_z` from
    /// [`Likelihood::output_ggn`], `O(K² N_pix)` plus the structure's update.
    pub fn accumulate(&mut self, h: &[f32], e: &[f32], targets: Option<&[f32]>) -> Result<()> {
        self.shape.check_h(h)?;
        let n_pix = self.shape.check_e(e)?;
        if let Some(t) = targets {
            self.shape.check_pixels("targets", t.len(), n_pix)?;
            crate::features::check_finite("targets", t)?;
        }
        let z = self.shape.forward(&self.weight, &self.bias, h);
        let m = logits(&z, e, n_pix);
        let g = self.likelihood.output_ggn(e, self.shape.k, &m);
        let h64: Vec<f64> = h.iter().map(|&x| f64::from(x)).collect();
        self.curvature.accumulate(&h64, &g);
        match targets {
            Some(t) => self.loss += self.likelihood.nll(&m, t),
            None => self.n_without_targets += 1,
        }
        self.n_examples += 1;
        Ok(())
    }

    /// Merges a partial accumulator from another shard (same MAP, likelihood and shape):
    /// afterwards `self` equals accumulating both shards' examples in one pass.
    pub fn merge(&mut self, other: &Self) -> Result<()> {
        if self.likelihood != other.likelihood {
            return Err(LaplaceError::Incompatible {
                what: "likelihoods",
                left: self.likelihood.name().into(),
                right: other.likelihood.name().into(),
            });
        }
        if self.weight != other.weight || self.bias != other.bias {
            return Err(LaplaceError::Incompatible {
                what: "MAP parameters",
                left: "this accumulator's W, b".into(),
                right: "a different W, b".into(),
            });
        }
        self.curvature.merge(&other.curvature)?;
        self.loss += other.loss;
        self.n_examples += other.n_examples;
        self.n_without_targets += other.n_without_targets;
        Ok(())
    }

    /// Layer shape.
    pub fn shape(&self) -> LayerShape {
        self.shape
    }

    /// The likelihood.
    pub fn likelihood(&self) -> Likelihood {
        self.likelihood
    }

    /// The accumulated curvature.
    pub fn curvature(&self) -> &P {
        &self.curvature
    }

    /// Summed training negative log likelihood at the MAP (laplace-torch's `loss`).
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// Number of accumulated examples.
    pub fn n_examples(&self) -> u64 {
        self.n_examples
    }

    /// `θ_MAP = (vec(W) row-major, b)` (length P).
    pub fn mean(&self) -> Vec<f64> {
        let mut t = self.weight.clone();
        t.extend_from_slice(&self.bias);
        t
    }

    /// The current prior precision.
    pub fn prior(&self) -> &PriorPrecision {
        &self.prior
    }

    /// Sets the prior precision (checked against the shape and the structure).
    pub fn set_prior(&mut self, prior: PriorPrecision) -> Result<()> {
        prior.validate(self.shape)?;
        if P::NAME == "kron" && prior.structure() == PriorStructure::Diagonal {
            return Err(LaplaceError::UnsupportedPrior {
                structure: P::NAME,
                prior: "diagonal",
            });
        }
        self.prior = prior;
        Ok(())
    }

    /// Training log likelihood `-loss` (errors if some examples had no targets).
    pub fn log_likelihood(&self) -> Result<f64> {
        if self.n_without_targets > 0 {
            return Err(LaplaceError::MissingTargets(self.n_without_targets));
        }
        Ok(-self.loss)
    }

    /// Laplace log marginal likelihood exactly as laplace-torch defines it (no `2π` terms,
    /// prior mean 0, temperature 1):
    /// `log p(D|δ) ≈ -loss - ½ (log det(H + diag δ) - Σ_i log δ_i + Σ_i δ_i θ_i²)`.
    pub fn log_marginal_likelihood(&self, prior: &PriorPrecision) -> Result<f64> {
        let ll = self.log_likelihood()?;
        let factor = self.curvature.factorize(prior)?;
        self.lml_with(ll, prior, &factor)
    }

    fn lml_with(&self, ll: f64, prior: &PriorPrecision, factor: &P::Factor) -> Result<f64> {
        let delta = prior.diagonal(self.shape)?;
        let theta = self.mean();
        let log_det_prior: f64 = delta.iter().map(|d| d.ln()).sum();
        let scatter: f64 = delta.iter().zip(&theta).map(|(d, t)| d * t * t).sum();
        Ok(ll - 0.5 * (factor.log_det_precision() - log_det_prior + scatter))
    }

    /// Maximises the log marginal likelihood over the prior precision with the given structure
    /// and sets it. The gradient `∂/∂δ_i = ½ (1/δ_i - Σ_ii - θ_i²)` is monotone in a scalar or
    /// per-group `δ`, so `scalar`/`layerwise` use bisection on `log δ` (coordinate-wise for
    /// `layerwise`); `diagonal` solves `δ_i² θ_i² + δ_i θ_i² h_i - h_i = 0` with the effective
    /// curvature `h_i = 1/Σ_ii - δ_i` (exact in one step for `diag`, a fixed point for `full`).
    /// Values are clamped to [`PRIOR_MIN`, `PRIOR_MAX`]. laplace-torch instead runs Adam on
    /// `log δ` (100 steps, lr 0.1 by default), which approaches the same optimum.
    pub fn optimize_prior_marglik(&mut self, structure: PriorStructure) -> Result<PriorPrecision> {
        self.log_likelihood()?;
        let theta = self.mean();
        let nw = self.shape.n_weight();
        let prior = match structure {
            PriorStructure::Scalar => {
                let sq: f64 = theta.iter().map(|t| t * t).sum();
                let n = theta.len() as f64;
                let x = bisect_log(|d| {
                    let f = self.curvature.factorize(&PriorPrecision::Scalar(d))?;
                    let tr: f64 = f.covariance_diagonal().iter().sum();
                    Ok(n / d - tr - sq)
                })?;
                PriorPrecision::Scalar(x)
            }
            PriorStructure::Layerwise => {
                let sqw: f64 = theta[..nw].iter().map(|t| t * t).sum();
                let sqb: f64 = theta[nw..].iter().map(|t| t * t).sum();
                let (mut w, mut b) = (1.0, 1.0);
                for _ in 0..100 {
                    let w_new = bisect_log(|d| {
                        let f = self
                            .curvature
                            .factorize(&PriorPrecision::Layerwise { weight: d, bias: b })?;
                        let tr: f64 = f.covariance_diagonal()[..nw].iter().sum();
                        Ok(nw as f64 / d - tr - sqw)
                    })?;
                    let b_new = bisect_log(|d| {
                        let f = self.curvature.factorize(&PriorPrecision::Layerwise {
                            weight: w_new,
                            bias: d,
                        })?;
                        let tr: f64 = f.covariance_diagonal()[nw..].iter().sum();
                        Ok(self.shape.k as f64 / d - tr - sqb)
                    })?;
                    let done = ((w_new - w) / w).abs() < 1e-12 && ((b_new - b) / b).abs() < 1e-12;
                    (w, b) = (w_new, b_new);
                    if done {
                        break;
                    }
                }
                PriorPrecision::Layerwise { weight: w, bias: b }
            }
            PriorStructure::Diagonal => {
                if P::NAME == "kron" {
                    return Err(LaplaceError::UnsupportedPrior {
                        structure: P::NAME,
                        prior: "diagonal",
                    });
                }
                let mut delta = vec![1.0; theta.len()];
                for _ in 0..10_000 {
                    let f = self
                        .curvature
                        .factorize(&PriorPrecision::Diagonal(delta.clone()))?;
                    let var = f.covariance_diagonal();
                    let mut change = 0.0f64;
                    for ((d, v), t) in delta.iter_mut().zip(&var).zip(&theta) {
                        let h_eff = (1.0 / v - *d).max(0.0);
                        let new = optimal_diag_prior(h_eff, t * t);
                        change = change.max(((new - *d) / *d).abs());
                        *d = new;
                    }
                    if change < 1e-13 {
                        break;
                    }
                }
                PriorPrecision::Diagonal(delta)
            }
        };
        self.set_prior(prior.clone())?;
        Ok(prior)
    }

    /// Grid search of a scalar prior precision on a validation loss (laplace-torch's
    /// `gridsearch`, e.g. over [`crate::prior::laplace_torch_grid`]): for every candidate the
    /// posterior is factorised and `val_loss(&posterior)` evaluated (for example with
    /// [`Posterior::probit_nll`]); the first minimum is chosen and set. A candidate whose
    /// posterior cannot be factorised scores `+∞`, as in laplace-torch.
    pub fn grid_search_prior(
        &mut self,
        candidates: &[f64],
        mut val_loss: impl FnMut(&Posterior<P::Factor>) -> Result<f64>,
    ) -> Result<GridSearch> {
        if candidates.is_empty() {
            return Err(LaplaceError::InvalidArgument(
                "grid search needs at least one candidate".into(),
            ));
        }
        let mut losses = Vec::with_capacity(candidates.len());
        for &c in candidates {
            let prior = PriorPrecision::Scalar(c);
            prior.validate(self.shape)?;
            let loss = match self.curvature.factorize(&prior) {
                Ok(factor) => val_loss(&self.posterior_with(prior, factor))?,
                Err(LaplaceError::NotPositiveDefinite { .. }) => f64::INFINITY,
                Err(e) => return Err(e),
            };
            losses.push(if loss.is_nan() { f64::INFINITY } else { loss });
        }
        let mut best = 0;
        for (i, l) in losses.iter().enumerate() {
            if *l < losses[best] {
                best = i;
            }
        }
        self.set_prior(PriorPrecision::Scalar(candidates[best]))?;
        Ok(GridSearch {
            best: candidates[best],
            losses,
        })
    }

    /// Factorises `H + diag(δ)` at the current prior for prediction.
    pub fn posterior(&self) -> Result<Posterior<P::Factor>> {
        let factor = self.curvature.factorize(&self.prior)?;
        Ok(self.posterior_with(self.prior.clone(), factor))
    }

    fn posterior_with(&self, prior: PriorPrecision, factor: P::Factor) -> Posterior<P::Factor> {
        Posterior {
            shape: self.shape,
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            prior,
            factor,
        }
    }
}

/// Positive root of `θ² δ² + θ² h δ - h = 0`, the optimum of `½(log δ - log(h + δ) - δ θ²)`,
/// written without cancellation and clamped to [`PRIOR_MIN`, `PRIOR_MAX`].
fn optimal_diag_prior(h: f64, theta2: f64) -> f64 {
    let den = theta2 * h + (theta2 * theta2 * h * h + 4.0 * theta2 * h).sqrt();
    let d = if den > 0.0 {
        2.0 * h / den
    } else if h > 0.0 {
        PRIOR_MAX
    } else {
        PRIOR_MIN
    };
    d.clamp(PRIOR_MIN, PRIOR_MAX)
}

/// Root of a decreasing function of `δ` by bisection on `log δ` in [`PRIOR_MIN`, `PRIOR_MAX`].
fn bisect_log(mut grad: impl FnMut(f64) -> Result<f64>) -> Result<f64> {
    let (mut lo, mut hi) = (PRIOR_MIN.ln(), PRIOR_MAX.ln());
    if grad(lo.exp())? <= 0.0 {
        return Ok(PRIOR_MIN);
    }
    if grad(hi.exp())? >= 0.0 {
        return Ok(PRIOR_MAX);
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if grad(mid.exp())? > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-15 {
            break;
        }
    }
    Ok((0.5 * (lo + hi)).exp())
}

/// A factorised last-layer posterior `N(θ_MAP, (H + diag δ)^{-1})`, ready for prediction.
#[derive(Debug, Clone)]
pub struct Posterior<F: PosteriorFactor> {
    shape: LayerShape,
    weight: Vec<f64>,
    bias: Vec<f64>,
    prior: PriorPrecision,
    factor: F,
}

impl<F: PosteriorFactor> Posterior<F> {
    /// The factorised posterior precision.
    pub fn factor(&self) -> &F {
        &self.factor
    }

    /// The prior precision it was built with.
    pub fn prior(&self) -> &PriorPrecision {
        &self.prior
    }

    /// The per-mask output posterior `z ~ N(W_MAP h + b_MAP, J_z Σ J_zᵀ)`; `h` has length D.
    pub fn z_posterior(&self, h: &[f32]) -> Result<ZPosterior> {
        self.shape.check_h(h)?;
        let mean = self.shape.forward(&self.weight, &self.bias, h);
        let h64: Vec<f64> = h.iter().map(|&x| f64::from(x)).collect();
        Ok(ZPosterior {
            mean,
            cov: self.factor.z_covariance(&h64),
        })
    }

    /// The paper's weight-space samples: `θ_s ~ N(θ_MAP, Σ)`, returned as
    /// `z_s = W_s h + b_s` (row-major `S × K`).
    pub fn sample_z_weight_space(
        &self,
        h: &[f32],
        samples: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f64>> {
        self.shape.check_h(h)?;
        let (d, k) = (self.shape.d, self.shape.k);
        let mut off = vec![0.0; self.shape.n_params()];
        let mut w = vec![0.0; k * d];
        let mut b = vec![0.0; k];
        let mut z = Vec::with_capacity(samples * k);
        for _ in 0..samples {
            self.factor.sample_offset(rng, &mut off);
            for (i, x) in w.iter_mut().enumerate() {
                *x = self.weight[i] + off[i];
            }
            for (i, x) in b.iter_mut().enumerate() {
                *x = self.bias[i] + off[k * d + i];
            }
            z.extend(self.shape.forward(&w, &b, h));
        }
        Ok(z)
    }

    /// The paper's predictive (spec §3.3): weight-space samples, then per-pixel aggregation.
    pub fn mc_weight_space(
        &self,
        h: &[f32],
        e: &[f32],
        opts: McOptions,
        rng: &mut ChaCha8Rng,
    ) -> Result<UncertaintyMaps> {
        if opts.samples == 0 {
            return Err(LaplaceError::InvalidArgument(
                "McOptions::samples must be >= 1".into(),
            ));
        }
        self.shape.check_e(e)?;
        let z = self.sample_z_weight_space(h, opts.samples, rng)?;
        aggregate_z_samples(&z, self.shape.k, e, opts)
    }

    /// Mean per-pixel validation NLL `-mean_i [y_i ln p̄_i + (1 - y_i) ln(1 - p̄_i)]` of the
    /// probit predictive over all pixels of all examples (the grid-search loss).
    pub fn probit_nll(&self, examples: &[ValidationExample<'_>]) -> Result<f64> {
        let (mut sum, mut count) = (0.0, 0usize);
        for ex in examples {
            let n_pix = self.shape.check_e(ex.e)?;
            self.shape
                .check_pixels("validation targets", ex.targets.len(), n_pix)?;
            let zp = self.z_posterior(ex.h)?;
            let maps = zp.probit(ex.e)?;
            for ((&mu, &v), &y) in maps.mean_logit.iter().zip(&maps.logit_var).zip(ex.targets) {
                // ln σ(a) and ln(1 - σ(a)) from the probit-scaled logit, in f64.
                let a = f64::from(mu) / (1.0 + std::f64::consts::PI / 8.0 * f64::from(v)).sqrt();
                let y = f64::from(y);
                sum += y * crate::likelihood::softplus(-a)
                    + (1.0 - y) * crate::likelihood::softplus(a);
            }
            count += n_pix;
        }
        if count == 0 {
            return Err(LaplaceError::InvalidArgument(
                "validation set is empty".into(),
            ));
        }
        Ok(sum / count as f64)
    }
}
