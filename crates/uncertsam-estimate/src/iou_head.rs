//! SAM's IoU head as a mask-level confidence ("SamScore"): the one-pass prediction with its
//! predicted IoU as `Estimate::score`; the pixel map is the one-pass entropy.

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::PromptBatch;

use crate::decode::{PlainPass, plain_pass};
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

/// One pass; score = predicted IoU of the single-mask token. Name `iou_head`.
#[derive(Clone, Copy, Debug, Default)]
pub struct IouHead;

impl<B: Backend> UncertaintyEstimator<B> for IouHead {
    fn name(&self) -> String {
        "iou_head".into()
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let PlainPass { logits, iou, .. } = plain_pass(model, image, prompts)?;
        let mut estimate = Estimate::from_logits(logits, iou.clone());
        estimate.score = Some(iou);
        Ok(estimate)
    }
}
