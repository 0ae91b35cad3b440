//! Prompt perturbation (spec §3.2): the clean prompt plus K - 1 jittered copies per mask, all
//! `K * b` rows in one batched decoder pass against the cached embedding.

use burn::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{PromptBatch, PromptRow};

use crate::decode::selected;
use crate::{EncodedImage, Estimate, EstimateError, SamModel, Segmenter, UncertaintyEstimator};

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
/// the image. Amplitudes are in model-input pixels, converted to original pixels per axis:
/// SAM v1 resizes by one scale (long side to `img_size`), SAM 2 stretches each axis to `S`. Point
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

    /// One jittered copy of `row` on an image of `[h, w]` original pixels, `[sy, sx]` model
    /// pixels per original pixel along each axis.
    fn jitter(
        &self,
        row: &PromptRow,
        [h, w]: [f64; 2],
        [sy, sx]: [f64; 2],
        rng: &mut ChaCha8Rng,
    ) -> PromptRow {
        let (max_x, max_y) = (self.config.max_shift_px / sx, self.config.max_shift_px / sy);
        let frac = self.config.box_fraction;
        let mut noise = |amp: f64| rng.random_range(-1.0..=1.0) * amp;
        let bbox = row.bbox.map(|[x0, y0, x1, y1]| {
            let ax = (frac * (x1 - x0).abs()).min(max_x);
            let ay = (frac * (y1 - y0).abs()).min(max_y);
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
                let x = (x + noise(max_x)).clamp(0.0, w - 1.0);
                let y = (y + noise(max_y)).clamp(0.0, h - 1.0);
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
        let scale = input_scale(&model.model(), emb.input_size, [h, w]);
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

/// Model-input pixels per original pixel, `[y, x]`: SAM v1's one `ResizeLongestSide` scale
/// (the long side of `input_size` is `img_size`), SAM 2's two stretch factors `S / h`, `S / w`.
fn input_scale<B: Backend>(
    model: &SamModel<'_, B>,
    input_size: [usize; 2],
    [h, w]: [f64; 2],
) -> [f64; 2] {
    let [ih, iw] = input_size.map(|v| v as f64);
    match model {
        SamModel::Sam(_) => {
            let s = ih.max(iw) / h.max(w).max(1.0);
            [s, s]
        }
        SamModel::Sam2(_) => [ih / h.max(1.0), iw / w.max(1.0)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn jitter_amplitudes_follow_each_axis_scale() {
        let pp = PromptPerturbation::new(PromptPerturbationConfig {
            prompts: 2,
            max_shift_px: 20.0,
            box_fraction: 10.0,
        })
        .unwrap();
        // A 100 x 400 image stretched to 256 x 256 (SAM 2): 20 model pixels are 7.8 original
        // pixels along y and 31.25 along x.
        let [h, w] = [100.0, 400.0];
        let scale = [256.0 / h, 256.0 / w];
        let row = PromptRow {
            points: vec![([200.0, 50.0], 1)],
            bbox: Some([100.0, 30.0, 300.0, 70.0]),
            mask: None,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut dx, mut dy) = (0f64, 0f64);
        for _ in 0..2000 {
            let j = pp.jitter(&row, [h, w], scale, &mut rng);
            let [x0, y0, x1, y1] = j.bbox.unwrap();
            let [px, py] = j.points[0].0;
            dx = dx
                .max((x0 - 100.0).abs())
                .max((x1 - 300.0).abs())
                .max((px - 200.0).abs());
            dy = dy
                .max((y0 - 30.0).abs())
                .max((y1 - 70.0).abs())
                .max((py - 50.0).abs());
        }
        let (ax, ay) = (20.0 / scale[1], 20.0 / scale[0]);
        assert!(
            dx <= ax && dx > 0.95 * ax,
            "x shifts reach {dx}, amplitude {ax}"
        );
        assert!(
            dy <= ay && dy > 0.95 * ay,
            "y shifts reach {dy}, amplitude {ay}"
        );
    }
}
