//! `Refiner`: runs one [`RefineConfig`] on a first pass and returns the refined masks.

use burn::prelude::*;
use uncertsam_sam::{Embedding, PromptBatch, PromptRow, SamModel};

use crate::click_loop::{ClickCurve, refine_clicks};
use crate::config::RefineConfig;
use crate::decode::{build_prompts, decode_rows, gt_prompt_logits, low_res, to_tensor};
use crate::error::RefineError;
use crate::first_pass::{FirstPass, HostPass, logit_entropy};
use crate::fusion::DenseFusion;
use crate::iterate::iterate_until_converged;

/// A refined prediction of every mask.
#[derive(Clone, Debug)]
pub struct Refined<B: Backend> {
    /// Low-resolution logits, `[b, 4E, 4E]`.
    pub logits: Tensor<B, 3>,
    /// Uncertainty, `[b, 4E, 4E]`: SAM's binary entropy of a refined mask (as the paper
    /// reports), the first pass's map for a mask that was not refined.
    pub uncertainty: Tensor<B, 3>,
    /// Refinement passes (clicks for click refinement) per mask.
    pub iterations: Vec<usize>,
    /// IoU curves, for click refinement.
    pub clicks: Option<Vec<ClickCurve>>,
}

/// Runs one [`RefineConfig`]; holds the loaded fusion module when the variant needs one.
#[derive(Debug)]
pub struct Refiner<B: Backend> {
    config: RefineConfig,
    fusion: Option<DenseFusion<B>>,
}

impl<B: Backend> Refiner<B> {
    /// A refiner for `model` (either family); loads the fusion weights of a `DenseFusion`
    /// variant.
    pub fn new<'a>(
        config: RefineConfig,
        model: impl Into<SamModel<'a, B>>,
    ) -> Result<Self, RefineError> {
        let model = model.into();
        let fusion = match &config {
            RefineConfig::DenseFusion { weights_path, .. } => Some(DenseFusion::load(
                weights_path,
                model.prompt_embed_dim(),
                &model.device(),
            )?),
            _ => None,
        };
        Ok(Self { config, fusion })
    }

    /// A `DenseFusion` refiner with an in-memory module (e.g. just trained).
    pub fn with_fusion(config: RefineConfig, fusion: DenseFusion<B>) -> Self {
        Self {
            config,
            fusion: Some(fusion),
        }
    }

    /// The variant's name.
    pub fn name(&self) -> String {
        self.config.name()
    }

    /// Refines `first`, whose masks were prompted by the rows of `prompts` (original-image
    /// pixels; any mask prompt in them is replaced). `gt` (row-major masks at the original
    /// size) is required by [`RefineConfig::needs_gt`] variants; `seed` drives random clicks.
    pub fn refine<'a>(
        &self,
        model: impl Into<SamModel<'a, B>>,
        embedding: &Embedding<B>,
        prompts: &PromptBatch,
        first: &FirstPass<B>,
        gt: Option<&[Vec<bool>]>,
        seed: u64,
    ) -> Result<Refined<B>, RefineError> {
        let sam = model.into();
        let side = low_res(sam);
        let host = first.to_host(side)?;
        let b = host.logits.len();
        if prompts.rows.len() != b {
            return Err(RefineError::Input(format!(
                "{} prompt rows for {b} first-pass masks",
                prompts.rows.len()
            )));
        }
        let need_gt = || {
            gt.ok_or_else(|| RefineError::Input(format!("{} needs the ground truth", self.name())))
        };
        let sparse: Vec<PromptRow> = prompts
            .rows
            .iter()
            .map(|r| PromptRow {
                mask: None,
                ..r.clone()
            })
            .collect();
        let with_masks = |rows: &[usize], masks: Vec<Vec<f32>>| -> Vec<PromptRow> {
            rows.iter()
                .zip(masks)
                .map(|(&r, m)| PromptRow {
                    mask: Some(m),
                    ..sparse[r].clone()
                })
                .collect()
        };
        // The uncertainty a mask-prompt pass uses: the first pass's at pass 0, then SAM's entropy.
        let unc = |it: usize, r: usize, logits: &[f32]| -> Vec<f32> {
            if it == 0 {
                host.uncertainty[r].clone()
            } else {
                logits.iter().map(|&l| logit_entropy(l)).collect()
            }
        };
        let (logits, iterations, clicks) = match &self.config {
            RefineConfig::ShrinkUncertain { rule, convergence } => {
                let out =
                    iterate_until_converged(host.logits.clone(), convergence, |it, rows, cur| {
                        let masks = rows
                            .iter()
                            .zip(cur)
                            .map(|(&r, l)| rule.apply(l, &unc(it, r, l)))
                            .collect();
                        decode_rows(sam, embedding, with_masks(rows, masks))
                    })?;
                (out.logits, out.iterations, None)
            }
            RefineConfig::LogitsAsMask { convergence } => {
                let out =
                    iterate_until_converged(host.logits.clone(), convergence, |_, rows, cur| {
                        decode_rows(sam, embedding, with_masks(rows, cur.to_vec()))
                    })?;
                (out.logits, out.iterations, None)
            }
            RefineConfig::GtOracle { eps } => {
                let gt = need_gt()?;
                check_gt(gt, b, embedding.original_size)?;
                let masks = gt
                    .iter()
                    .map(|g| gt_prompt_logits(sam, embedding, g, *eps))
                    .collect();
                let rows: Vec<usize> = (0..b).collect();
                (
                    decode_rows(sam, embedding, with_masks(&rows, masks))?,
                    vec![1; b],
                    None,
                )
            }
            RefineConfig::DenseFusion {
                ones_baseline,
                convergence,
                ..
            } => {
                let fusion = self.fusion.as_ref().ok_or_else(|| {
                    RefineError::Input("dense fusion refiner has no fusion module".into())
                })?;
                let device = sam.device();
                let out =
                    iterate_until_converged(host.logits.clone(), convergence, |it, rows, cur| {
                        let prompts =
                            build_prompts(sam, embedding, with_masks(rows, cur.to_vec()))?;
                        let u: Vec<Vec<f32>> =
                            rows.iter().zip(cur).map(|(&r, l)| unc(it, r, l)).collect();
                        let mut u = to_tensor::<B>(&u, side, &device);
                        if *ones_baseline {
                            u = u.ones_like();
                        }
                        let d = fusion.decode(sam, embedding, &prompts, u)?;
                        crate::first_pass::rows(d.logits, rows.len())
                    })?;
                (out.logits, out.iterations, None)
            }
            RefineConfig::Clicks(c) => {
                let gt = need_gt()?;
                check_gt(gt, b, embedding.original_size)?;
                let curves = refine_clicks(sam, embedding, prompts, &host, gt, c, seed)?;
                let logits = curves.iter().map(|c| c.logits.clone()).collect();
                let iterations = curves.iter().map(|c| c.clicks.len()).collect();
                (logits, iterations, Some(curves))
            }
        };
        Ok(finish(&host, logits, iterations, clicks, &sam.device()))
    }
}

fn check_gt(gt: &[Vec<bool>], b: usize, [h, w]: [usize; 2]) -> Result<(), RefineError> {
    if gt.len() != b || gt.iter().any(|g| g.len() != h * w) {
        return Err(RefineError::Input(format!(
            "expected {b} ground-truth masks of {h}x{w}, got {} (lengths {:?})",
            gt.len(),
            gt.iter().map(Vec::len).collect::<Vec<_>>()
        )));
    }
    Ok(())
}

fn finish<B: Backend>(
    host: &HostPass,
    logits: Vec<Vec<f32>>,
    iterations: Vec<usize>,
    clicks: Option<Vec<ClickCurve>>,
    device: &B::Device,
) -> Refined<B> {
    let unc: Vec<Vec<f32>> = logits
        .iter()
        .zip(&iterations)
        .enumerate()
        .map(|(r, (l, &n))| {
            if n == 0 {
                host.uncertainty[r].clone()
            } else {
                l.iter().map(|&x| logit_entropy(x)).collect()
            }
        })
        .collect();
    Refined {
        logits: to_tensor(&logits, host.size, device),
        uncertainty: to_tensor(&unc, host.size, device),
        iterations,
        clicks,
    }
}
