//! Deep ensemble: M mask decoders (with their prompt encoders) of one geometry sharing the
//! image encoder of the model. Members load from full checkpoints of the model's family and
//! geometry (`Sam::load_checkpoint`, `Sam2::load_checkpoint`); their image encoders are dropped
//! after loading. A SAM 2 member shares the whole image path of the model, `conv_s0` /
//! `conv_s1` and `no_mem_embed` included (they make the cached embedding), and decodes with its
//! own prompt encoder and mask decoder heads through SAM 2's output choice (dynamic multimask,
//! NO_OBJ masking), as the model's own member 0 does.

use std::path::PathBuf;

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{PromptBatch, Sam, Sam2};

use crate::decode::{DecoderHead, Sam2DecoderHead, selected, token0};
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};
use uncertsam_sam::SamModel;

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

/// One loaded member: the decoder heads of either family.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a handful per run, each holding megabytes of weights
enum Member<B: Backend> {
    Sam(DecoderHead<B>),
    Sam2(Sam2DecoderHead<B>),
}

/// A deep ensemble of decoders. Name `ensemble(m=5)`.
#[derive(Debug)]
pub struct DeepEnsemble<B: Backend> {
    members: Vec<Member<B>>,
    include_base: bool,
}

impl<B: Backend> DeepEnsemble<B> {
    /// Loads the member checkpoints with the family and geometry of `model`.
    pub fn load(config: &EnsembleConfig, model: &dyn Segmenter<B>) -> Result<Self, EstimateError> {
        let members = config
            .members
            .iter()
            .map(|path| {
                Ok(match model.model() {
                    SamModel::Sam(sam) => Member::Sam(DecoderHead::from_sam(
                        Sam::new(sam.config(), &sam.device())?.load_checkpoint(path)?,
                    )),
                    SamModel::Sam2(sam) => Member::Sam2(Sam2DecoderHead::from_sam2(
                        Sam2::new(sam.config(), &sam.device())?.load_checkpoint(path)?,
                    )),
                })
            })
            .collect::<Result<Vec<_>, EstimateError>>()?;
        Self::new(members, config.include_base)
    }

    /// An ensemble of already loaded SAM v1 / MobileSAM members (plus the model's decoder if
    /// `include_base`).
    pub fn from_heads(
        members: Vec<DecoderHead<B>>,
        include_base: bool,
    ) -> Result<Self, EstimateError> {
        Self::new(members.into_iter().map(Member::Sam).collect(), include_base)
    }

    /// An ensemble of already loaded SAM 2 members (plus the model's decoder if `include_base`).
    pub fn from_sam2_heads(
        members: Vec<Sam2DecoderHead<B>>,
        include_base: bool,
    ) -> Result<Self, EstimateError> {
        Self::new(
            members.into_iter().map(Member::Sam2).collect(),
            include_base,
        )
    }

    fn new(members: Vec<Member<B>>, include_base: bool) -> Result<Self, EstimateError> {
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
            let (l, iou) = match member {
                Member::Sam(m) => token0(&m.decode(emb, &p)?),
                Member::Sam2(m) => m.decode(&emb.sam2()?, &p)?,
            };
            logits.push(l);
            ious.push(iou);
        }
        Ok(Estimate::from_samples(
            Tensor::stack(logits, 0),
            Tensor::stack(ious, 0),
        ))
    }
}
