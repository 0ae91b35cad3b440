//! The paper's baseline (spec §3.0): entropy of `σ(logit)` of one deterministic pass of the
//! single-mask token.

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::PromptBatch;

use crate::decode::{PlainPass, plain_pass};
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

/// One pass; uncertainty = `H(σ(logit))`, no std. Name `entropy`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Entropy;

impl<B: Backend> UncertaintyEstimator<B> for Entropy {
    fn name(&self) -> String {
        "entropy".into()
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let PlainPass { logits, iou, .. } = plain_pass(model, image, prompts)?;
        Ok(Estimate::from_logits(logits, iou))
    }
}
