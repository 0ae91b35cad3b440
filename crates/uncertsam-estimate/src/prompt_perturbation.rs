//! Prompt perturbation (spec §3.2): the clean prompt plus K - 1 jittered copies per mask, all
//! `K * b` rows in one batched decoder pass against the cached embedding.

use burn::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{PromptBatch, PromptRow};

use crate::decode::selected;
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

fn default_max_shift() -> f64 {
    20.0
}

fn default_box_fraction() -> f64 {
    0.1
}

/// Configuration of [`PromptPerturbation`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptPerturbationConfig {
    /// Prompts per mask K, the clean one included (the paper: 10).
    pub prompts: usize,
    /// Largest shift in model-input pixels (the paper: 20 px of the 1024 frame).
    #[serde(default = "default_max_shift")]
    pub max_shift_px: f64,
    /// Box jitter amplitude as a fraction of the box side (the paper: 0.1).
    #[serde(default = "default_box_fraction")]
    pub box_fraction: f64,
}

impl PromptPerturbationConfig {
    /// The paper's setting: K = 10, 20 px, 0.1 of the side.
    pub fn paper() -> Self {
        Self {
            prompts: 10,
            max_shift_px: default_max_shift(),
            box_fraction: default_box_fraction(),
        }
    }
}

/// Prompt perturbation. Name `prompt_perturbation(k=10)` (with `,px=..,frac=..` when the
/// amplitudes differ from the paper's).
///
/// Box corners move by `U(-1, 1) * min(box_fraction * side, max_shift_px)` per coordinate
/// (x by the width, y by the height), points by `U(-1, 1) * max_shift_px`; both are clamped to
/// the image. Amplitudes are in model-input pixels, converted to original pixels. Point
/// labels are kept (the paper re-reads them from the GT mask, which an estimator does not
/// see; its eval prompts are boxes only). Mask prompts are left unchanged.
#[derive(Clone, Debug)]
pub struct PromptPerturbation {
    config: PromptPerturbationConfig,
}

impl PromptPerturbation {
    /// Validates `config`.
    pub fn new(config: PromptPerturbationConfig) -> Result<Self, EstimateError> {
        if config.prompts == 0 {
            return Err(EstimateError::config(
                "prompt_perturbation",
                "prompts must be at least 1",
            ));
        }
        if !(config.max_shift_px >= 0.0 && config.box_fraction >= 0.0) {
            return Err(EstimateError::config(
                "prompt_perturbation",
                "amplitudes must be non-negative",
            ));
        }
        Ok(Self { config })
    }

    /// One jittered copy of `row` on an image of `[h, w]` original pixels, `scale` model
    /// pixels per original pixel.
    fn jitter(
        &self,
        row: &PromptRow,
        [h, w]: [f64; 2],
        scale: f64,
        rng: &mut ChaCha8Rng,
    ) -> PromptRow {
        let max = self.config.max_shift_px / scale;
        let frac = self.config.box_fraction;
        let mut noise = |amp: f64| rng.random_range(-1.0..=1.0) * amp;
        let bbox = row.bbox.map(|[x0, y0, x1, y1]| {
            let ax = (frac * (x1 - x0).abs()).min(max);
            let ay = (frac * (y1 - y0).abs()).min(max);
            [
                (x0 + noise(ax)).clamp(0.0, w - 1.0),
                (y0 + noise(ay)).clamp(0.0, h - 1.0),
                (x1 + noise(ax)).clamp(0.0, w - 1.0),
                (y1 + noise(ay)).clamp(0.0, h - 1.0),
            ]
        });
        let points = row
            .points
            .iter()
            .map(|([x, y], l)| {
                let x = (x + noise(max)).clamp(0.0, w - 1.0);
                let y = (y + noise(max)).clamp(0.0, h - 1.0);
                ([x, y], *l)
            })
            .collect();
        PromptRow {
            points,
            bbox,
            mask: row.mask.clone(),
        }
    }
}

impl<B: Backend> UncertaintyEstimator<B> for PromptPerturbation {
    fn name(&self) -> String {
        let c = &self.config;
        let mut name = format!("prompt_perturbation(k={}", c.prompts);
        if c.max_shift_px != default_max_shift() || c.box_fraction != default_box_fraction() {
            name += &format!(",px={},frac={}", c.max_shift_px, c.box_fraction);
        }
        name + ")"
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let emb = &image.embedding;
        let [h, w] = emb.original_size.map(|v| v as f64);
        let scale = emb.input_size[1] as f64 / w.max(1.0);
        let b = prompts.rows.len();
        let k = self.config.prompts;
        let mut rows = prompts.rows.clone();
        for _ in 1..k {
            for row in &prompts.rows {
                rows.push(self.jitter(row, [h, w], scale, rng));
            }
        }
        let all = model.prompts(&PromptBatch { rows }, emb)?;
        let (logits, iou) = selected(&model.decode(emb, &all, false)?);
        let [_, lh, lw] = logits.dims();
        Ok(Estimate::from_samples(
            logits.reshape([k, b, lh, lw]),
            iou.reshape([k, b]),
        ))
    }
}
