//! Iterative click refinement with a simulated annotator: each round places one click (by
//! uncertainty, by error as in the NoC protocol, or at random), re-decodes with the original
//! sparse prompt plus all clicks so far (plus the previous logits as mask prompt, optionally),
//! and records the IoU at the original resolution.

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{ImageEmbedding, PromptBatch, Sam};

use crate::clicks::{
    Click, Placement, UncertainThreshold, error_click, random_click, uncertainty_click,
};
use crate::decode::{binary_iou, decode_rows, upsample};
use crate::error::RefineError;
use crate::first_pass::{HostPass, logit_entropy};

/// Which uncertainty map the `Uncertainty` placement reads after the first click.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UncertaintyUpdate {
    /// Keep the first pass's map, with the regions already clicked removed (the estimator is
    /// not re-run; refinement never sees its internals).
    #[default]
    FirstPass,
    /// The binary entropy of the current prediction (SAM's own uncertainty).
    Entropy,
}

/// Settings of click refinement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClickConfig {
    /// Where clicks go.
    pub placement: Placement,
    /// Clicks per mask (`k`).
    pub max_clicks: usize,
    /// Which pixels count as highly uncertain (`Uncertainty` placement).
    #[serde(default)]
    pub threshold: UncertainThreshold,
    /// Whether the previous logits go back in as the mask prompt.
    #[serde(default)]
    pub mask_input: bool,
    /// The map the `Uncertainty` placement reads after the first click.
    #[serde(default)]
    pub update: UncertaintyUpdate,
    /// Stop clicking once successive masks agree above this IoU (the convergence stop); the
    /// remaining IoUs repeat the last one. `None` always spends `max_clicks`.
    #[serde(default)]
    pub stop_agreement: Option<f32>,
}

/// The IoU curve of one mask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClickCurve {
    /// IoU with the ground truth after 0 (the first pass), 1, ..., `max_clicks` clicks.
    pub ious: Vec<f32>,
    /// The clicks placed (fewer than `max_clicks` when the annotator stopped).
    pub clicks: Vec<Click>,
    /// Final low-resolution logits.
    #[serde(skip)]
    pub logits: Vec<f32>,
}

impl ClickCurve {
    /// Number of clicks to reach IoU >= `target` (0 if the first pass does), capped at
    /// `ious.len() - 1` when it is never reached: the NoC@target of this mask.
    pub fn noc(&self, target: f32) -> usize {
        let cap = self.ious.len().saturating_sub(1);
        self.ious
            .iter()
            .position(|&iou| iou >= target)
            .unwrap_or(cap)
    }
}

/// Runs click refinement for every mask of `first` (its sparse prompt is row `i` of
/// `prompts`); `gt` holds each mask at the original resolution, row-major. Random clicks of
/// mask `i` come from ChaCha8 seeded with `seed`, stream `i`.
pub fn refine_clicks<B: Backend>(
    sam: &Sam<B>,
    embedding: &ImageEmbedding<B>,
    prompts: &PromptBatch,
    first: &HostPass,
    gt: &[Vec<bool>],
    config: &ClickConfig,
    seed: u64,
) -> Result<Vec<ClickCurve>, RefineError> {
    let [h, w] = embedding.original_size;
    let b = first.logits.len();
    if prompts.rows.len() != b || gt.len() != b || gt.iter().any(|g| g.len() != h * w) {
        return Err(RefineError::Input(format!(
            "click refinement needs {b} prompt rows and {b} ground-truth masks of {h}x{w}; got {} \
             and {} masks",
            prompts.rows.len(),
            gt.len()
        )));
    }
    (0..b)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            let mut run = Run {
                sam,
                embedding,
                config,
                gt: &gt[i],
                size: [h, w],
                rng,
            };
            run.curve(
                prompts.rows[i].clone(),
                &first.logits[i],
                &first.uncertainty[i],
            )
        })
        .collect()
}

/// The state of one mask's click session.
struct Run<'a, B: Backend> {
    sam: &'a Sam<B>,
    embedding: &'a ImageEmbedding<B>,
    config: &'a ClickConfig,
    gt: &'a [bool],
    size: [usize; 2],
    rng: ChaCha8Rng,
}

impl<B: Backend> Run<'_, B> {
    fn binary(&self, logits: &[f32]) -> Result<Vec<bool>, RefineError> {
        Ok(upsample(self.sam, self.embedding, logits)?
            .iter()
            .map(|&x| x > 0.0)
            .collect())
    }

    fn curve(
        &mut self,
        mut row: uncertsam_sam::PromptRow,
        logits: &[f32],
        uncertainty: &[f32],
    ) -> Result<ClickCurve, RefineError> {
        let sparse = std::mem::take(&mut row.points);
        row.mask = None;
        let mut logits = logits.to_vec();
        let mut pred = self.binary(&logits)?;
        let mut ious = vec![binary_iou(&pred, self.gt)];
        let mut clicks: Vec<Click> = Vec::new();
        let mut unc = uncertainty.to_vec();
        let mut used = vec![false; self.size[0] * self.size[1]];
        for _ in 0..self.config.max_clicks {
            let Some(click) = self.place(&pred, &unc, &mut used, row.bbox)? else {
                break;
            };
            clicks.push(click);
            let mut next = row.clone();
            next.points = sparse
                .iter()
                .cloned()
                .chain(clicks.iter().map(Click::prompt))
                .collect();
            next.mask = self.config.mask_input.then(|| logits.clone());
            let new_logits = decode_rows(self.sam, self.embedding, vec![next])?.remove(0);
            let new_pred = self.binary(&new_logits)?;
            let agreement = binary_iou(&pred, &new_pred);
            if self.config.update == UncertaintyUpdate::Entropy {
                unc = new_logits.iter().map(|&l| logit_entropy(l)).collect();
                used.iter_mut().for_each(|u| *u = false);
            }
            logits = new_logits;
            pred = new_pred;
            ious.push(binary_iou(&pred, self.gt));
            if self.config.stop_agreement.is_some_and(|t| agreement > t) {
                break;
            }
        }
        let last = ious.last().copied().unwrap_or(0.0);
        ious.resize(self.config.max_clicks + 1, last);
        Ok(ClickCurve {
            ious,
            clicks,
            logits,
        })
    }

    /// The next click, or `None` when the placement rule finds nowhere to click.
    fn place(
        &mut self,
        pred: &[bool],
        unc: &[f32],
        used: &mut [bool],
        bbox: Option<[f64; 4]>,
    ) -> Result<Option<Click>, RefineError> {
        Ok(match self.config.placement {
            Placement::Error => error_click(pred, self.gt, self.size),
            Placement::Random => Some(random_click(self.gt, self.size, bbox, &mut self.rng)),
            Placement::Uncertainty => {
                let mut up = upsample(self.sam, self.embedding, unc)?;
                up.iter_mut()
                    .zip(used.iter())
                    .filter(|(_, u)| **u)
                    .for_each(|(x, _)| *x = 0.0);
                uncertainty_click(&up, self.gt, self.size, &self.config.threshold).map(
                    |(click, region)| {
                        used.iter_mut().zip(region).for_each(|(u, r)| *u |= r);
                        click
                    },
                )
            }
        })
    }
}
