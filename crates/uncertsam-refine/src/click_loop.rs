//! Iterative click refinement with a simulated annotator: each round places one click (by
//! uncertainty, by error as in the NoC protocol, or at random), re-decodes with the original
//! sparse prompt plus all clicks so far (plus the previous logits as mask prompt, optionally),
//! and records the IoU at the original resolution.

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{Embedding, PromptBatch, PromptRow, SamModel};

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
///
/// The masks click in rounds: every mask still clicking places its next click, then all their
/// prompts decode together (one decoder call per prompt structure, see [`PromptBatch`]). A
/// mask's clicks depend only on its own predictions and the decoder's rows do not interact, so
/// each curve is the one of clicking that mask alone (tested: identical clicks and IoUs).
pub fn refine_clicks<'a, B: Backend>(
    model: impl Into<SamModel<'a, B>>,
    embedding: &Embedding<B>,
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
    let ctx = Ctx {
        sam: model.into(),
        embedding,
        config,
        size: [h, w],
    };
    let mut runs = (0..b)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            Run::start(
                &ctx,
                prompts.rows[i].clone(),
                &gt[i],
                &first.logits[i],
                &first.uncertainty[i],
                rng,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    for _ in 0..config.max_clicks {
        // Every mask still clicking places its click; then their prompts decode together.
        let mut pending: Vec<(usize, PromptRow)> = Vec::new();
        for (i, run) in runs.iter_mut().enumerate().filter(|(_, r)| r.active) {
            if let Some(row) = run.next_prompt(&ctx)? {
                pending.push((i, row));
            }
        }
        if pending.is_empty() {
            break;
        }
        for (i, logits) in decode_grouped(&ctx, pending)? {
            runs[i].update(&ctx, logits)?;
        }
    }
    Ok(runs
        .into_iter()
        .map(|r| r.finish(config.max_clicks))
        .collect())
}

/// Decodes `(mask, row)` pairs, one decoder call per prompt structure (points, box, mask);
/// returns `(mask, logits)` grouped by structure (each mask's update is its own, so the order
/// does not matter).
fn decode_grouped<B: Backend>(
    ctx: &Ctx<'_, B>,
    pending: Vec<(usize, PromptRow)>,
) -> Result<Vec<(usize, Vec<f32>)>, RefineError> {
    let shape = |r: &PromptRow| (r.points.len(), r.bbox.is_some(), r.mask.is_some());
    let mut shapes: Vec<(usize, bool, bool)> = pending.iter().map(|(_, r)| shape(r)).collect();
    shapes.sort_unstable();
    shapes.dedup();
    let mut out: Vec<(usize, Vec<f32>)> = Vec::with_capacity(pending.len());
    for s in shapes {
        let (masks, rows): (Vec<usize>, Vec<PromptRow>) = pending
            .iter()
            .filter(|(_, r)| shape(r) == s)
            .cloned()
            .unzip();
        let logits = decode_rows(ctx.sam, ctx.embedding, rows)?;
        out.extend(masks.into_iter().zip(logits));
    }
    Ok(out)
}

/// What every mask's click session shares.
struct Ctx<'a, B: Backend> {
    sam: SamModel<'a, B>,
    embedding: &'a Embedding<B>,
    config: &'a ClickConfig,
    size: [usize; 2],
}

impl<B: Backend> Ctx<'_, B> {
    fn binary(&self, logits: &[f32]) -> Result<Vec<bool>, RefineError> {
        Ok(upsample(self.sam, self.embedding, logits)?
            .iter()
            .map(|&x| x > 0.0)
            .collect())
    }
}

/// The state of one mask's click session.
struct Run<'a> {
    gt: &'a [bool],
    rng: ChaCha8Rng,
    /// The prompt without its points and mask; `sparse` holds its points.
    row: PromptRow,
    sparse: Vec<([f64; 2], i64)>,
    logits: Vec<f32>,
    pred: Vec<bool>,
    ious: Vec<f32>,
    clicks: Vec<Click>,
    unc: Vec<f32>,
    used: Vec<bool>,
    /// Still clicking (no stop rule fired, a click was found).
    active: bool,
}

impl<'a> Run<'a> {
    fn start<B: Backend>(
        ctx: &Ctx<'_, B>,
        mut row: PromptRow,
        gt: &'a [bool],
        logits: &[f32],
        uncertainty: &[f32],
        rng: ChaCha8Rng,
    ) -> Result<Self, RefineError> {
        let sparse = std::mem::take(&mut row.points);
        row.mask = None;
        let pred = ctx.binary(logits)?;
        Ok(Self {
            gt,
            rng,
            row,
            sparse,
            logits: logits.to_vec(),
            ious: vec![binary_iou(&pred, gt)],
            pred,
            clicks: Vec::new(),
            unc: uncertainty.to_vec(),
            used: vec![false; ctx.size[0] * ctx.size[1]],
            active: true,
        })
    }

    /// Places the next click and returns the prompt to decode, or stops (`None`).
    fn next_prompt<B: Backend>(
        &mut self,
        ctx: &Ctx<'_, B>,
    ) -> Result<Option<PromptRow>, RefineError> {
        let Some(click) = self.place(ctx)? else {
            self.active = false;
            return Ok(None);
        };
        self.clicks.push(click);
        let mut next = self.row.clone();
        next.points = self
            .sparse
            .iter()
            .cloned()
            .chain(self.clicks.iter().map(Click::prompt))
            .collect();
        next.mask = ctx.config.mask_input.then(|| self.logits.clone());
        Ok(Some(next))
    }

    /// Takes the decoded logits of the last click.
    fn update<B: Backend>(
        &mut self,
        ctx: &Ctx<'_, B>,
        new_logits: Vec<f32>,
    ) -> Result<(), RefineError> {
        let new_pred = ctx.binary(&new_logits)?;
        let agreement = binary_iou(&self.pred, &new_pred);
        if ctx.config.update == UncertaintyUpdate::Entropy {
            self.unc = new_logits.iter().map(|&l| logit_entropy(l)).collect();
            self.used.iter_mut().for_each(|u| *u = false);
        }
        self.logits = new_logits;
        self.pred = new_pred;
        self.ious.push(binary_iou(&self.pred, self.gt));
        if ctx.config.stop_agreement.is_some_and(|t| agreement > t) {
            self.active = false;
        }
        Ok(())
    }

    fn finish(mut self, max_clicks: usize) -> ClickCurve {
        let last = self.ious.last().copied().unwrap_or(0.0);
        self.ious.resize(max_clicks + 1, last);
        ClickCurve {
            ious: self.ious,
            clicks: self.clicks,
            logits: self.logits,
        }
    }

    /// The next click, or `None` when the placement rule finds nowhere to click.
    fn place<B: Backend>(&mut self, ctx: &Ctx<'_, B>) -> Result<Option<Click>, RefineError> {
        Ok(match ctx.config.placement {
            Placement::Error => error_click(&self.pred, self.gt, ctx.size),
            Placement::Random => Some(random_click(
                self.gt,
                ctx.size,
                self.row.bbox,
                &mut self.rng,
            )),
            Placement::Uncertainty => {
                let mut up = upsample(ctx.sam, ctx.embedding, &self.unc)?;
                up.iter_mut()
                    .zip(self.used.iter())
                    .filter(|(_, u)| **u)
                    .for_each(|(x, _)| *x = 0.0);
                uncertainty_click(&up, self.gt, ctx.size, &ctx.config.threshold).map(
                    |(click, region)| {
                        self.used.iter_mut().zip(region).for_each(|(u, r)| *u |= r);
                        click
                    },
                )
            }
        })
    }
}
