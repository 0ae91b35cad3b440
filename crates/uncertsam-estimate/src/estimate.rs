//! `Estimate`: what every estimator returns, and the aggregation rule of the paper (spec §3):
//! `p̄ = mean_s σ(logit_s)`, predictive entropy `H(p̄)`, expected entropy (aleatoric), mutual
//! information (epistemic), unbiased std, and `safe_logit(p̄)` with eps = 1e-7 (f32).

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

/// Probability clamp of `entropy` and `safe_logit` for f32 (the paper's fp32 eps).
pub const EPS: f64 = 1e-7;

/// Binary entropy in nats, `-p ln p - (1-p) ln(1-p)`, after clamping `p` to `[EPS, 1 - EPS]`.
/// At most `ln 2`.
pub fn entropy<B: Backend, const D: usize>(p: Tensor<B, D>) -> Tensor<B, D> {
    let p = p.clamp(EPS, 1.0 - EPS);
    let q = p.clone().neg() + 1.0;
    (p.clone() * p.log() + q.clone() * q.log()).neg()
}

/// `ln(p / (1 - p))` after clamping `p` to `[EPS, 1 - EPS]` (`torch.logit(p, eps)`).
pub fn safe_logit<B: Backend, const D: usize>(p: Tensor<B, D>) -> Tensor<B, D> {
    let p = p.clamp(EPS, 1.0 - EPS);
    let q = p.clone().neg() + 1.0;
    p.log() - q.log()
}

/// Which of the maps an estimator reports as its per-pixel uncertainty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapKind {
    /// `H(p̄)`, total (predictive) entropy.
    PredictiveEntropy,
    /// Expected entropy `mean_s H(p_s)`.
    Aleatoric,
    /// Mutual information `H(p̄) - mean_s H(p_s)`.
    Epistemic,
    /// Standard deviation of the sample probabilities.
    Std,
    /// A learned log-variance (the variance network).
    LogVariance,
}

/// Per-pixel uncertainty maps, each `[b, 4E, 4E]` (the decoder's low-resolution frame).
#[derive(Clone, Debug)]
pub struct UncertaintyMaps<B: Backend> {
    /// The map the estimator reports as its uncertainty (what metrics score).
    pub primary: MapKind,
    /// `H(p̄)`: predictive entropy of the mean probability, always present, at most `ln 2`.
    pub predictive_entropy: Tensor<B, 3>,
    /// Expected entropy `mean_s H(σ(logit_s))` (aleatoric), where samples exist.
    pub aleatoric: Option<Tensor<B, 3>>,
    /// Mutual information `H(p̄) - mean_s H(p_s)` (epistemic), clamped at 0, where samples exist.
    pub epistemic: Option<Tensor<B, 3>>,
    /// Unbiased standard deviation of the sample probabilities (0 for one sample).
    pub std: Option<Tensor<B, 3>>,
    /// A learned log-variance, clamped to `[-5, 5]` (the variance network).
    pub log_variance: Option<Tensor<B, 3>>,
}

impl<B: Backend> UncertaintyMaps<B> {
    /// Maps of one deterministic pass: predictive entropy only.
    pub fn single(prob: Tensor<B, 3>) -> Self {
        Self::from_entropy(entropy(prob))
    }

    /// Maps of one deterministic pass whose predictive entropy is already computed.
    pub fn from_entropy(predictive_entropy: Tensor<B, 3>) -> Self {
        Self {
            primary: MapKind::PredictiveEntropy,
            predictive_entropy,
            aleatoric: None,
            epistemic: None,
            std: None,
            log_variance: None,
        }
    }

    /// The map of kind `kind`, if this estimate has it.
    pub fn get(&self, kind: MapKind) -> Option<&Tensor<B, 3>> {
        match kind {
            MapKind::PredictiveEntropy => Some(&self.predictive_entropy),
            MapKind::Aleatoric => self.aleatoric.as_ref(),
            MapKind::Epistemic => self.epistemic.as_ref(),
            MapKind::Std => self.std.as_ref(),
            MapKind::LogVariance => self.log_variance.as_ref(),
        }
    }

    /// The primary map (falls back to the predictive entropy if the primary is absent).
    pub fn primary_map(&self) -> &Tensor<B, 3> {
        self.get(self.primary).unwrap_or(&self.predictive_entropy)
    }
}

/// Prediction and uncertainty for a batch of `b` prompts on one image, in the decoder's
/// low-resolution frame `[b, 4E, 4E]` (upscale with `Sam::postprocess`).
#[derive(Clone, Debug)]
pub struct Estimate<B: Backend> {
    /// Foreground probability of the prediction (`p̄` for sampling methods), `[b, 4E, 4E]`.
    pub prob: Tensor<B, 3>,
    /// Logits of the prediction, `[b, 4E, 4E]`: SAM's own logits for single-pass methods,
    /// `safe_logit(p̄)` for sampling methods.
    pub logits: Tensor<B, 3>,
    /// Predicted IoU per mask (mean over samples), `[b]`.
    pub iou: Tensor<B, 1>,
    /// Per-pixel uncertainty maps.
    pub maps: UncertaintyMaps<B>,
    /// A mask-level confidence (higher = more confident) when the method has its own, `[b]`;
    /// otherwise metrics aggregate the primary map.
    pub score: Option<Tensor<B, 1>>,
    /// Number of samples behind the estimate (1 for a single pass).
    pub samples: usize,
}

impl<B: Backend> Estimate<B> {
    /// One deterministic pass: `prob = σ(logits)`, predictive entropy only.
    ///
    /// # Shapes
    /// - logits: `[b, h, w]`, iou: `[b]`
    pub fn from_logits(logits: Tensor<B, 3>, iou: Tensor<B, 1>) -> Self {
        let prob = sigmoid(logits.clone());
        Self {
            maps: UncertaintyMaps::single(prob.clone()),
            prob,
            logits,
            iou,
            score: None,
            samples: 1,
        }
    }

    /// `S` samples aggregated as in the paper (spec §3), plus expected entropy and MI.
    ///
    /// # Shapes
    /// - logits: `[S, b, h, w]`, iou: `[S, b]`
    pub fn from_samples(logits: Tensor<B, 4>, iou: Tensor<B, 2>) -> Self {
        let [s, b, h, w] = logits.dims();
        let probs = sigmoid(logits);
        let mean = probs.clone().mean_dim(0); // [1, b, h, w]
        let pe = entropy(mean.clone());
        let ee = entropy(probs.clone()).mean_dim(0);
        let mi = (pe.clone() - ee.clone()).clamp_min(0.0);
        let std = if s > 1 {
            (probs - mean.clone())
                .powi_scalar(2)
                .sum_dim(0)
                .div_scalar((s - 1) as f64)
                .sqrt()
        } else {
            mean.zeros_like()
        };
        let flat = |t: Tensor<B, 4>| t.reshape([b, h, w]);
        let prob = flat(mean);
        Self {
            logits: safe_logit(prob.clone()),
            maps: UncertaintyMaps {
                primary: MapKind::PredictiveEntropy,
                predictive_entropy: flat(pe),
                aleatoric: Some(flat(ee)),
                epistemic: Some(flat(mi)),
                std: Some(flat(std)),
                log_variance: None,
            },
            prob,
            iou: iou.mean_dim(0).reshape([b]),
            score: None,
            samples: s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    type B = NdArray<f32>;

    fn values<const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().expect("f32 tensor")
    }

    #[test]
    fn entropy_peaks_at_ln2_and_vanishes_at_the_clamped_ends() {
        let p = Tensor::<B, 1>::from_floats([0.0, 0.5, 1.0, 0.1], &Default::default());
        let h = values(entropy(p));
        assert!((h[1] - std::f32::consts::LN_2).abs() < 1e-6);
        // H(1e-7) = 1.7e-6 nats; 1 - 1e-7 rounds to 1 - 2^-23 in f32.
        assert!(h[0] < 3e-6 && h[2] < 3e-6, "{h:?}");
        let q = 0.1f32;
        assert!((h[3] - (-q * q.ln() - (1.0 - q) * (1.0 - q).ln())).abs() < 1e-6);
    }

    #[test]
    fn safe_logit_inverts_sigmoid_and_saturates_at_eps() {
        let x = Tensor::<B, 1>::from_floats([-3.0, 0.0, 2.5, 40.0], &Default::default());
        let y = values(safe_logit(sigmoid(x)));
        assert!((y[0] + 3.0).abs() < 1e-4 && y[1].abs() < 1e-6 && (y[2] - 2.5).abs() < 1e-4);
        // 1 - 1e-7 rounds to 1 - 2^-23 in f32, so the cap is ln((1 - 2^-23) / 2^-23) ~ 15.9
        // rather than ln(1e7 - 1) ~ 16.1 (as in torch's f32 `logit`).
        let cap = (1.0 / EPS - 1.0).ln() as f32;
        assert!(y[3] < cap && y[3] > cap - 0.25, "{} vs {cap}", y[3]);
    }

    #[test]
    fn aggregation_matches_hand_computed_values() {
        // Two samples of one 1x2 map with probabilities (0.2, 0.5) and (0.6, 0.5).
        let logit = |p: f32| (p / (1.0 - p)).ln();
        let d = Default::default();
        let logits =
            Tensor::<B, 1>::from_floats([logit(0.2), logit(0.5), logit(0.6), logit(0.5)], &d)
                .reshape([2, 1, 1, 2]);
        let iou = Tensor::<B, 1>::from_floats([0.5, 0.7], &d).reshape([2, 1]);
        let e = Estimate::from_samples(logits, iou);
        let h = |p: f32| -p * p.ln() - (1.0 - p) * (1.0 - p).ln();
        let prob = values(e.prob.clone());
        assert!((prob[0] - 0.4).abs() < 1e-6 && (prob[1] - 0.5).abs() < 1e-6);
        let pe = values(e.maps.predictive_entropy.clone());
        assert!((pe[0] - h(0.4)).abs() < 1e-6);
        let ee = values(e.maps.aleatoric.clone().expect("aleatoric"));
        assert!((ee[0] - (h(0.2) + h(0.6)) / 2.0).abs() < 1e-6);
        let mi = values(e.maps.epistemic.clone().expect("epistemic"));
        assert!((mi[0] - (h(0.4) - (h(0.2) + h(0.6)) / 2.0)).abs() < 1e-6);
        assert!(mi[1].abs() < 1e-6);
        let sd = values(e.maps.std.clone().expect("std"));
        // Unbiased: sqrt(((0.2-0.4)^2 + (0.6-0.4)^2) / 1).
        assert!((sd[0] - 0.08f32.sqrt()).abs() < 1e-6 && sd[1].abs() < 1e-6);
        assert!((values(e.iou)[0] - 0.6).abs() < 1e-6);
        assert_eq!(e.samples, 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn entropy_is_bounded_and_mutual_information_is_non_negative(
            s in 1usize..6,
            seed in proptest::collection::vec(-30.0f32..30.0, 24),
        ) {
            let d = Default::default();
            let n = s * 4;
            let v: Vec<f32> = (0..n).map(|i| seed[i % seed.len()] * (1.0 + i as f32 / 7.0)).collect();
            let logits = Tensor::<B, 1>::from_floats(v.as_slice(), &d).reshape([s, 1, 2, 2]);
            let iou = Tensor::<B, 2>::zeros([s, 1], &d);
            let e = Estimate::from_samples(logits, iou);
            let ln2 = std::f32::consts::LN_2 + 1e-6;
            let pe = values(e.maps.predictive_entropy.clone());
            let ee = values(e.maps.aleatoric.clone().expect("ee"));
            let mi = values(e.maps.epistemic.clone().expect("mi"));
            let sd = values(e.maps.std.clone().expect("std"));
            for i in 0..4 {
                proptest::prop_assert!(pe[i] >= 0.0 && pe[i] <= ln2);
                // Jensen: EE <= PE; near saturation `1 - p` in f32 loses digits, so allow the
                // absolute rounding of the tiny entropies there.
                proptest::prop_assert!(ee[i] >= 0.0 && ee[i] <= pe[i] + 1e-5);
                proptest::prop_assert!(mi[i] >= 0.0);
                proptest::prop_assert!(sd[i] >= 0.0 && sd[i] <= 1.0);
            }
        }
    }
}
