//! [`LaplaceEstimator`] as an estimator: one plain decoder pass, then per mask the closed-form
//! probit (`uncertsam-laplace`'s `z` posterior, the per-pixel products on the backend) or the
//! output-space / the paper's weight-space MC of `uncertsam-laplace` on host copies of `h` and
//! `E`.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand_chacha::ChaCha8Rng;
use uncertsam_laplace::{McOptions, ZPosterior};
use uncertsam_sam::PromptBatch;

use crate::decode::{PlainPass, plain_pass};
use crate::estimate::{EPS, MapKind, UncertaintyMaps, safe_logit};
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
        let e = out.upscaled_embedding.clone().reshape([b, k, h * w]);
        let mu = z.matmul(e.clone()); // [b, 1, N]
        let var = (cov.matmul(e.clone()) * e).sum_dim(1).clamp_min(0.0); // [b, 1, N]
        let scale = (var * (std::f64::consts::PI / 8.0) + 1.0).sqrt();
        let prob = sigmoid(mu / scale).reshape([b, h, w]);
        Ok(Estimate {
            logits: safe_logit(prob.clone()),
            maps: UncertaintyMaps::single(prob.clone()),
            prob,
            iou: pass.iou,
            score: None,
            samples: 1,
        })
    }
}
