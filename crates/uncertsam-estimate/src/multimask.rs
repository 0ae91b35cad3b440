//! Multimask disagreement: the four mask tokens of one pass (single-mask token and the three
//! multimask tokens) treated as samples. The prediction stays the single-mask token; the
//! maps come from the tokens' spread, and the score is their mean pairwise IoU.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::PromptBatch;

use crate::decode::{PlainPass, plain_pass};
use crate::estimate::MapKind;
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

/// One pass; primary map = mutual information across the mask tokens; score = mean pairwise
/// IoU of the tokens' binary masks (1 = all tokens agree). Name `multimask_disagreement`.
#[derive(Clone, Copy, Debug, Default)]
pub struct MultimaskDisagreement;

impl<B: Backend> UncertaintyEstimator<B> for MultimaskDisagreement {
    fn name(&self) -> String {
        "multimask_disagreement".into()
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let PlainPass {
            logits,
            iou,
            output: out,
        } = plain_pass(model, image, prompts)?;
        let [b, n, h, w] = out.masks.dims();
        let tokens = out.masks.clone().swap_dims(0, 1); // [n, b, h, w]
        let spread = Estimate::from_samples(tokens.clone(), out.iou_predictions.swap_dims(0, 1));
        let mut estimate = Estimate::from_logits(logits, iou);
        estimate.maps.aleatoric = spread.maps.aleatoric;
        estimate.maps.epistemic = spread.maps.epistemic;
        estimate.maps.std = spread.maps.std;
        estimate.maps.primary = MapKind::Epistemic;
        estimate.samples = n;
        // Mean pairwise IoU of the binary token masks.
        let masks = sigmoid(tokens)
            .greater_elem(0.5)
            .float()
            .reshape([n, b, h * w]);
        let mut sum = Tensor::<B, 1>::zeros([b], &masks.device());
        let mut pairs = 0usize;
        for i in 0..n {
            for j in i + 1..n {
                let (a, c) = (masks.clone().narrow(0, i, 1), masks.clone().narrow(0, j, 1));
                let inter = (a.clone() * c.clone()).sum_dim(2).reshape([b]);
                let union = (a + c).clamp_max(1.0).sum_dim(2).reshape([b]);
                // Two empty masks agree perfectly.
                let empty = union.clone().lower_equal_elem(0.0).float();
                sum = sum + (inter + empty.clone()) / (union + empty);
                pairs += 1;
            }
        }
        estimate.score = Some(if pairs > 0 {
            sum.div_scalar(pairs as f64)
        } else {
            sum.ones_like()
        });
        Ok(estimate)
    }
}
