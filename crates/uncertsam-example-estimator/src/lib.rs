//! A third-party estimator built only on the public API of `uncertsam-estimate`: temperature
//! scaling of SAM's single-mask logits, fitted on data by a grid search on the pixel NLL.
//!
//! It shows both plugin traits: [`TemperatureScalingConfig`] implements `Fit` (the unfitted
//! config) and [`TemperatureScaled`] implements `UncertaintyEstimator` and `Persist` (the
//! fitted estimator, saved as JSON). Its uncertainty map is the entropy of `σ(logit / T)`.
//! The estimator uses only `uncertsam-estimate` (and the model); [`bench`] registers it with the
//! benchmark (`uncertsam-bench`'s `ExternalEstimators`), and the `uncertsam-example` binary is
//! the `uncertsam` command line with it added.

use std::path::Path;

pub mod bench;

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_estimate::persist::{load_json, save_json};
use uncertsam_estimate::{
    EncodedImage, Estimate, EstimateError, Fit, FitSample, Persist, PlainPass, Segmenter,
    UncertaintyEstimator, plain_pass,
};
use uncertsam_sam::PromptBatch;

/// The unfitted estimator: the grid of temperatures to try.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemperatureScalingConfig {
    /// Candidate temperatures (all positive).
    pub grid: Vec<f32>,
}

impl Default for TemperatureScalingConfig {
    fn default() -> Self {
        Self {
            grid: (0..=24).map(|i| 2f32.powf(-2.0 + i as f32 / 6.0)).collect(),
        }
    }
}

/// The fitted estimator: SAM's logits divided by `temperature`. Name `temperature(t=1.26)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemperatureScaled {
    /// The fitted temperature.
    pub temperature: f32,
}

impl<B: Backend> UncertaintyEstimator<B> for TemperatureScaled {
    fn name(&self) -> String {
        format!("temperature(t={:.2})", self.temperature)
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let PlainPass { logits, iou, .. } = plain_pass(model, image, prompts)?;
        Ok(Estimate::from_logits(
            logits.div_scalar(self.temperature),
            iou,
        ))
    }
}

const FILE: &str = "temperature.json";

impl<B: Backend> Persist<B> for TemperatureScaled {
    fn save(&self, dir: &Path) -> Result<(), EstimateError> {
        save_json(self, &dir.join(FILE))
    }

    fn load(dir: &Path, _device: &B::Device) -> Result<Self, EstimateError> {
        load_json(&dir.join(FILE))
    }
}

impl<B: Backend> Fit<B> for TemperatureScalingConfig {
    type Fitted = TemperatureScaled;

    fn fit(
        &self,
        model: &dyn Segmenter<B>,
        data: &mut dyn Iterator<Item = FitSample<B>>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<TemperatureScaled, EstimateError> {
        if self.grid.is_empty() || self.grid.iter().any(|t| *t <= 0.0) {
            return Err(EstimateError::Input(
                "temperature grid must be non-empty and positive".into(),
            ));
        }
        // Summed pixel NLL of every candidate, at the original image size.
        let mut nll = vec![0f64; self.grid.len()];
        for sample in data {
            let PlainPass { logits, .. } = plain_pass(model, &sample.image, &sample.prompts)?;
            let [b, h, w] = logits.dims();
            let full = model.postprocess(logits.reshape([b, 1, h, w]), &sample.image.embedding);
            let [_, _, oh, ow] = full.dims();
            if sample.gt.dims() != [b, oh, ow] {
                return Err(EstimateError::Input(format!(
                    "ground truth is {:?}, predictions are [{b}, {oh}, {ow}]",
                    sample.gt.dims()
                )));
            }
            let full = full.reshape([b, oh, ow]);
            for (t, total) in self.grid.iter().zip(&mut nll) {
                let p = sigmoid(full.clone().div_scalar(*t)).clamp(1e-7, 1.0 - 1e-7);
                let y = sample.gt.clone();
                let ll = y.clone() * p.clone().log() + (y.neg() + 1.0) * (p.neg() + 1.0).log();
                *total -= ll.sum().into_scalar().elem::<f64>();
            }
        }
        let best = nll
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| self.grid[i])
            .unwrap_or(1.0);
        Ok(TemperatureScaled { temperature: best })
    }
}
