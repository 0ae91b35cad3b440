//! The plugin traits: [`UncertaintyEstimator`] (run) and [`Fit`] / [`Persist`] (estimators
//! that must see data first, and whose fitted state is saved as safetensors + JSON).

use std::path::Path;

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::PromptBatch;

use crate::error::EstimateError;
use crate::estimate::Estimate;
use crate::segmenter::{EncodedImage, Segmenter};

/// A post-hoc uncertainty estimator on a frozen SAM. Dyn-compatible: the benchmark holds
/// `Vec<Box<dyn UncertaintyEstimator<B>>>`.
pub trait UncertaintyEstimator<B: Backend>: Send + Sync {
    /// Unique, parameterised name for result tables, e.g. `mc_dropout(p=0.1,s=16,sites=mlp+hyper)`.
    fn name(&self) -> String;

    /// Prediction and uncertainty for a batch of prompts (original-image pixels, one row per
    /// mask) on one encoded image.
    ///
    /// Every random draw comes from `rng`, which the caller derives from its seed (for example
    /// per dataset, image and mask), so a fixed seed gives bit-identical maps. Only test-time
    /// augmentation re-runs the encoder; every other estimator reuses `image.embedding`.
    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError>;
}

impl<B: Backend, E: UncertaintyEstimator<B> + ?Sized> UncertaintyEstimator<B> for Box<E> {
    fn name(&self) -> String {
        (**self).name()
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        (**self).estimate(model, image, prompts, rng)
    }
}

/// One fitting example: an encoded image, its prompts and the ground-truth masks.
#[derive(Clone, Debug)]
pub struct FitSample<B: Backend> {
    /// The image and its embedding.
    pub image: EncodedImage<B>,
    /// One prompt row per mask, in original-image pixels.
    pub prompts: PromptBatch,
    /// Ground-truth masks in {0, 1} at the original image size, `[b, h, w]`.
    pub gt: Tensor<B, 3>,
}

/// Estimators that must see data before they can estimate (last-layer Laplace, temperature
/// scaling, conformal calibration). The unfitted config and the fitted estimator are
/// different types. Gradient training (the variance network) stays outside this trait.
pub trait Fit<B: Backend> {
    /// The fitted estimator.
    type Fitted: UncertaintyEstimator<B> + Persist<B>;

    /// Fits on `data` with the frozen `model`; random draws come from `rng`.
    fn fit(
        &self,
        model: &dyn Segmenter<B>,
        data: &mut dyn Iterator<Item = FitSample<B>>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Self::Fitted, EstimateError>;
}

/// Fitted state that is saved to and loaded from a directory (tensors as safetensors,
/// configuration as JSON; see [`crate::persist`]).
pub trait Persist<B: Backend>: Sized {
    /// Writes the state into `dir` (created if missing).
    fn save(&self, dir: &Path) -> Result<(), EstimateError>;

    /// Reads a state written by [`Persist::save`] onto `device`.
    fn load(dir: &Path, device: &B::Device) -> Result<Self, EstimateError>;
}
