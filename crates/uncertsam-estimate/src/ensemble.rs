//! Deep ensemble: M mask decoders (with their prompt encoders) of one geometry sharing the
//! image encoder of the model. Members load from full SAM checkpoints (`Sam::load_checkpoint`);
//! their image encoders are dropped after loading.

use std::path::PathBuf;

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{PromptBatch, Sam};

use crate::decode::{DecoderHead, selected, token0};
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

fn yes() -> bool {
    true
}

/// Configuration of [`DeepEnsemble`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleConfig {
    /// Checkpoints of the other members (same geometry as the model).
    pub members: Vec<PathBuf>,
    /// Whether the model's own decoder is member 0.
    #[serde(default = "yes")]
    pub include_base: bool,
}

/// A deep ensemble of decoders. Name `ensemble(m=5)`.
#[derive(Debug)]
pub struct DeepEnsemble<B: Backend> {
    members: Vec<DecoderHead<B>>,
    include_base: bool,
}

impl<B: Backend> DeepEnsemble<B> {
    /// Loads the member checkpoints with the geometry of `model`.
    pub fn load(config: &EnsembleConfig, model: &dyn Segmenter<B>) -> Result<Self, EstimateError> {
        let sam = model.sam().ok_or_else(|| EstimateError::Unsupported {
            estimator: "ensemble".into(),
            what: "SAM 2 (members are SAM v1 decoders)".into(),
        })?;
        let members = config
            .members
            .iter()
            .map(|path| {
                let member = Sam::new(sam.config(), &sam.device())?.load_checkpoint(path)?;
                Ok(DecoderHead::from_sam(member))
            })
            .collect::<Result<Vec<_>, EstimateError>>()?;
        Self::from_heads(members, config.include_base)
    }

    /// An ensemble of already loaded members (plus the model's decoder if `include_base`).
    pub fn from_heads(
        members: Vec<DecoderHead<B>>,
        include_base: bool,
    ) -> Result<Self, EstimateError> {
        if members.len() + usize::from(include_base) == 0 {
            return Err(EstimateError::config(
                "ensemble",
                "needs at least one member",
            ));
        }
        Ok(Self {
            members,
            include_base,
        })
    }

    /// Number of members M.
    pub fn len(&self) -> usize {
        self.members.len() + usize::from(self.include_base)
    }

    /// Whether the ensemble has no member (never true for a built ensemble).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<B: Backend> UncertaintyEstimator<B> for DeepEnsemble<B> {
    fn name(&self) -> String {
        format!("ensemble(m={})", self.len())
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let emb = &image.embedding;
        let p = model.prompts(prompts, emb)?;
        let mut logits = Vec::with_capacity(self.len());
        let mut ious = Vec::with_capacity(self.len());
        if self.include_base {
            let (l, iou) = selected(&model.decode(emb, &p, false)?);
            logits.push(l);
            ious.push(iou);
        }
        for member in &self.members {
            let (l, iou) = token0(&member.decode(emb, &p)?);
            logits.push(l);
            ious.push(iou);
        }
        Ok(Estimate::from_samples(
            Tensor::stack(logits, 0),
            Tensor::stack(ious, 0),
        ))
    }
}
