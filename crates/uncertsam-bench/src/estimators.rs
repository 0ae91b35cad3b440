//! The estimators the benchmark runs, behind one small trait: per mask, low-resolution logits,
//! an uncertainty map, an optional sample-std map and the IoU estimate.
//!
//! Every `uncertsam-estimate` plugin, last-layer Laplace included, runs through [`Plugin`];
//! the fitted ones are loaded or fitted in [`crate::fitting`].

use anyhow::Result;
use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use uncertsam_estimate::{EncodedImage, Segmenter, UncertaintyEstimator};
use uncertsam_sam::PromptBatch;

/// Per-mask output of an estimator at the decoder's low resolution (`[b, 4E, 4E]`).
pub struct Maps<B: Backend> {
    /// Prediction logits (`logit(p_bar)` for sampling estimators).
    pub logits: Tensor<B, 3>,
    /// Per-pixel uncertainty (predictive entropy unless the estimator says otherwise).
    pub uncertainty: Tensor<B, 3>,
    /// Per-pixel standard deviation of the sampled probabilities, when there are samples.
    pub std: Option<Tensor<B, 3>>,
    /// IoU estimate per mask, `[b]`.
    pub iou: Tensor<B, 1>,
}

/// An estimator as the benchmark sees it.
pub trait BenchEstimator<B: Backend> {
    /// Unique name used in result tables.
    fn name(&self) -> String;
    /// Maps for every prompt row (original-image pixels) of one encoded image; `rng` is
    /// seeded from (seed, dataset, image).
    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Maps<B>>;
}

/// Any `uncertsam-estimate` plugin, scored on its primary uncertainty map.
pub struct Plugin<B: Backend>(pub Box<dyn UncertaintyEstimator<B>>);

impl<B: Backend> BenchEstimator<B> for Plugin<B> {
    fn name(&self) -> String {
        self.0.name()
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Maps<B>> {
        let e = self.0.estimate(model, image, prompts, rng)?;
        let uncertainty = e.maps.primary_map().clone();
        Ok(Maps {
            uncertainty,
            std: e.maps.std.clone(),
            logits: e.logits,
            iou: e.iou,
        })
    }
}

/// Copies a tensor to the host as f32 (flattened first: burn-ndarray copies rank-1 data at
/// once but higher ranks element by element).
pub(crate) fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    let n = t.shape().num_elements();
    t.reshape([n])
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("tensor data: {e:?}"))
}
