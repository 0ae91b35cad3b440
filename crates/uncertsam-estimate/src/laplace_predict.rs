//! [`LaplaceEstimator`] as an estimator: one plain decoder pass, then per mask the closed-form
//! probit (`uncertsam-laplace`'s `z` posterior, the per-pixel products on the backend) or the
//! output-space / the paper's weight-space MC of `uncertsam-laplace` on host copies of `h` and
//! `E`.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand_chacha::ChaCha8Rng;
use uncertsam_laplace::{McOptions, ZPosterior};
use uncertsam_sam::{PromptBatch, cpu, par_map_on};

use crate::decode::{PlainPass, plain_pass};
use crate::estimate::{EPS, MapKind, UncertaintyMaps, entropy, safe_logit};
use crate::laplace::{Fitted, LaplaceEstimator, LaplacePredictive, each};
use crate::laplace_features::{Features, host};
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

impl<B: Backend> UncertaintyEstimator<B> for LaplaceEstimator {
    fn name(&self) -> String {
        self.config.name()
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        self.estimate_from_pass(plain_pass(model, image, prompts)?, rng)
    }
}

impl LaplaceEstimator {
    /// The estimate from a plain decoder pass the caller already ran (what
    /// [`UncertaintyEstimator::estimate`] does after its one pass); `rng` feeds the MC
    /// predictives.
    pub fn estimate_from_pass<B: Backend>(
        &self,
        pass: PlainPass<B>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let [b, lh, lw] = pass.logits.dims();
        let n = lh * lw;
        let samples = match self.config.predictive {
            LaplacePredictive::Probit => return self.probit(pass),
            LaplacePredictive::Mc { samples } | LaplacePredictive::PaperWeightSpace { samples } => {
                samples
            }
        };
        let f = Features::of(&pass.output, self.shape())?;
        let device = pass.logits.device();
        let tensor =
            |v: Vec<f32>| Tensor::<B, 3>::from_data(TensorData::new(v, [b, lh, lw]), &device);
        let opts = McOptions {
            samples,
            entropy_eps: EPS,
        };
        let mut maps = [(); 5].map(|_| Vec::with_capacity(b * n));
        for i in 0..b {
            let m = match self.config.predictive {
                LaplacePredictive::PaperWeightSpace { .. } => {
                    each!(&self.fitted, (_la, post) => post.mc_weight_space(f.h(i), f.e(i), opts, rng))?
                }
                _ => {
                    let zp = each!(&self.fitted, (_la, post) => post.z_posterior(f.h(i)))?;
                    zp.mc(f.e(i), opts, rng)?
                }
            };
            for (all, one) in maps.iter_mut().zip([
                m.mean_prob,
                m.predictive_entropy,
                m.expected_entropy,
                m.mutual_information,
                m.std,
            ]) {
                all.extend(one);
            }
        }
        let [prob, pe, ee, mi, std] = maps.map(tensor);
        Ok(Estimate {
            logits: safe_logit(prob.clone()),
            prob,
            iou: pass.iou,
            maps: UncertaintyMaps {
                primary: MapKind::PredictiveEntropy,
                predictive_entropy: pe,
                aleatoric: Some(ee),
                epistemic: Some(mi),
                std: Some(std),
                log_variance: None,
            },
            score: None,
            samples,
        })
    }
}

impl LaplaceEstimator {
    /// The output-space posterior `z ~ N(z_MAP, Σ_z)` of one mask from its token-0 hidden
    /// state `h` (length D).
    pub fn z_posterior(&self, h: &[f32]) -> Result<ZPosterior, EstimateError> {
        Ok(each!(&self.fitted, (_la, post) => post.z_posterior(h))?)
    }

    /// The closed-form probit on the backend: per mask only `h` goes to the host (for
    /// `z_MAP` and the `K x K` `Σ_z`); `μ = z_MAPᵀ E` and `v = rowsum(E ∘ Σ_z E)` are batched
    /// matmuls against the upscaled embedding where it lives, so the cost over the decoder
    /// pass is `O(K² N_pix)` multiply-adds in the backend's matmul, not a host copy of `E`.
    fn probit<B: Backend>(&self, pass: PlainPass<B>) -> Result<Estimate<B>, EstimateError> {
        let out = &pass.output;
        let shape = self.shape();
        let [b, d] = out.token0_hidden.dims();
        let [_, k, h, w] = out.upscaled_embedding.dims();
        if d != shape.d || k != shape.k {
            return Err(EstimateError::Input(format!(
                "the decoder's last layer is D x K = {d} x {k}, the posterior's {} x {}",
                shape.d, shape.k
            )));
        }
        let hs = host(out.token0_hidden.clone(), "token0_hidden")?;
        let (mut zs, mut covs) = (Vec::with_capacity(b * k), Vec::with_capacity(b * k * k));
        for row in hs.chunks_exact(d) {
            let zp = self.z_posterior(row)?;
            zs.extend(zp.mean.iter().map(|&x| x as f32));
            covs.extend(zp.cov.iter().map(|&x| x as f32));
        }
        let device = out.token0_hidden.device();
        let z = Tensor::<B, 3>::from_data(TensorData::new(zs, [b, 1, k]), &device);
        let cov = Tensor::<B, 3>::from_data(TensorData::new(covs, [b, k, k]), &device);
        let e = cpu::reshape(out.upscaled_embedding.clone(), [b, k, h * w]);
        let mu = cpu::matmul(z, e.clone()); // [b, 1, N]
        let ce = cpu::matmul(cov, e.clone()); // [b, K, N]
        let host = cpu::with_values(&mu, |mu| {
            cpu::with_values(&ce, |ce| {
                cpu::with_values(&e, |e| {
                    probit_maps(mu, ce, e, k, h * w, cpu::threads_for(ce.len()))
                })
            })
        });
        let (prob, logits, pe) = match host.flatten().flatten() {
            Some([p, l, pe]) => {
                let t = |v| Tensor::<B, 3>::from_data(TensorData::new(v, [b, h, w]), &device);
                (t(p), t(l), t(pe))
            }
            None => {
                let var = (ce * e).sum_dim(1).clamp_min(0.0); // [b, 1, N]
                let scale = (var * (std::f64::consts::PI / 8.0) + 1.0).sqrt();
                let prob = sigmoid(mu / scale).reshape([b, h, w]);
                (prob.clone(), safe_logit(prob.clone()), entropy(prob))
            }
        };
        Ok(Estimate {
            logits,
            maps: UncertaintyMaps::from_entropy(pe),
            prob,
            iou: pass.iou,
            score: None,
            samples: 1,
        })
    }
}

/// The probit's maps on host values, bit for bit the burn operations of the other path of
/// `LaplaceEstimator::probit` for finite inputs: per pixel `v = Σ_k (Σ_z E)_k E_k` (summed in
/// `k` order, as `sum_dim`), clamped at 0, `p = σ(μ / sqrt(1 + π v / 8))` (burn's sigmoid chain
/// `exp(-ln(exp(-x) + 1))`), then [`safe_logit`] and [`entropy`] of `p`: one pass over the
/// pixels instead of about twenty whole-map operations, in `pieces` runs of pixels on as many
/// threads (the caller's [`cpu::threads_for`]; the values do not depend on it).
///
/// `mu`: `[b, 1, n]`, `ce` and `e`: `[b, k, n]`; returns `[prob, logits, entropy]`, each
/// `[b, n]`.
fn probit_maps(
    mu: &[f32],
    ce: &[f32],
    e: &[f32],
    k: usize,
    n: usize,
    pieces: usize,
) -> [Vec<f32>; 3] {
    let len = mu.len();
    let mut out = [(); 3].map(|_| vec![0f32; len]);
    let [prob, logits, ent] = &mut out;
    let per = len.div_ceil(pieces.max(1)).max(1);
    let runs: Vec<_> = (prob.chunks_mut(per))
        .zip(logits.chunks_mut(per))
        .zip(ent.chunks_mut(per))
        .enumerate()
        .collect();
    let pixels = ProbitInputs { mu, ce, e, k, n };
    par_map_on(runs.len(), runs, |(i, ((p, l), h))| {
        pixels.run(i * per, [p, l, h])
    });
    out
}

/// The inputs of [`probit_maps`].
#[derive(Clone, Copy)]
struct ProbitInputs<'a> {
    mu: &'a [f32],
    ce: &'a [f32],
    e: &'a [f32],
    k: usize,
    n: usize,
}

impl ProbitInputs<'_> {
    /// The maps at the flat pixels `start..start + out[0].len()` of `[b, n]`.
    fn run(self, start: usize, [p, l, h]: [&mut [f32]; 3]) {
        let (k, n) = (self.k, self.n);
        let pi8 = (std::f64::consts::PI / 8.0) as f32;
        let (lo, hi) = (EPS as f32, (1.0 - EPS) as f32);
        let mut at = 0;
        while at < p.len() {
            // One mask's pixels `i0..i0 + len` at a time.
            let (m, i0) = ((start + at) / n, (start + at) % n);
            let len = (n - i0).min(p.len() - at);
            let mut v = vec![0f32; len];
            for kk in 0..k {
                let row = m * k * n + kk * n + i0;
                let (c, x) = (&self.ce[row..row + len], &self.e[row..row + len]);
                for ((v, c), x) in v.iter_mut().zip(c).zip(x) {
                    *v += *c * *x;
                }
            }
            for (j, v) in v.into_iter().enumerate() {
                let v = if v < 0.0 { 0.0 } else { v };
                let x = self.mu[m * n + i0 + j] / (v * pi8 + 1.0).sqrt();
                let prob = (-((-x).exp() + 1.0).ln()).exp();
                let pc = prob.max(lo).min(hi);
                let q = -pc + 1.0;
                p[at + j] = prob;
                l[at + j] = pc.ln() - q.ln();
                h[at + j] = -(pc * pc.ln() + q * q.ln());
            }
            at += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::Distribution;

    type B = NdArray<f32>;

    fn bits(t: Tensor<B, 3>) -> Vec<u32> {
        let v: Vec<f32> = t.into_data().into_vec().expect("f32");
        v.into_iter().map(f32::to_bits).collect()
    }

    #[test]
    fn the_host_probit_maps_are_bitwise_the_burn_operations() {
        let device = Default::default();
        // Two masks of 37 x 41 pixels, K = 5, in 1, 2 (split at the masks' border) and 3 runs
        // (split inside a mask); large logits reach the clamps of safe_logit and entropy,
        // negative variances the clamp at 0.
        let (b, k, h, w) = (2, 5, 37, 41);
        let n = h * w;
        let normal = |dims: [usize; 3], std: f64| {
            Tensor::<B, 3>::random(dims, Distribution::Normal(0.0, std), &device)
        };
        let (mu, ce, e) = (
            normal([b, 1, n], 20.0),
            normal([b, k, n], 1.0),
            normal([b, k, n], 1.0),
        );
        let host =
            |t: &Tensor<B, 3>| -> Vec<f32> { t.clone().into_data().into_vec().expect("f32") };
        let (mu_v, ce_v, e_v) = (host(&mu), host(&ce), host(&e));
        let var = (ce * e).sum_dim(1).clamp_min(0.0);
        let scale = (var * (std::f64::consts::PI / 8.0) + 1.0).sqrt();
        let prob = sigmoid(mu / scale).reshape([b, h, w]);
        let as_bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<u32>>();
        for pieces in [1, 2, 3] {
            let [p, l, pe] = probit_maps(&mu_v, &ce_v, &e_v, k, n, pieces);
            assert_eq!(as_bits(p), bits(prob.clone()), "prob, {pieces} runs");
            assert_eq!(
                as_bits(l),
                bits(safe_logit(prob.clone())),
                "logits, {pieces}"
            );
            assert_eq!(
                as_bits(pe),
                bits(entropy(prob.clone())),
                "entropy, {pieces}"
            );
        }
    }
}
