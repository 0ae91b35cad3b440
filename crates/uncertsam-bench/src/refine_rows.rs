//! Refinement as extra benchmark rows: for every mask, the first pass of a driving estimator
//! (its logits and uncertainty map) is refined by each selected `uncertsam-refine` variant, and
//! the row keeps the unrefined and the refined IoU (and, for clicks, the IoU curve and NoC).
//!
//! Each mask is refined on its own, seeded only by (seed, dataset, image, mask), so a row does
//! not depend on batching, shards or resumption. A mask whose refinement fails is recorded
//! with its reason in the part and counted in the summary; it never stops the run.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::prelude::*;
use uncertsam_data::{Sample, SampleSeed};
use uncertsam_estimate::EncodedImage;
use uncertsam_metrics::Confusion;
use uncertsam_refine::{
    ClickConfig, Convergence, FirstPass, Placement, RefineConfig, Refiner, ShrinkRule,
    UncertainThreshold, UncertaintyUpdate,
};
use uncertsam_sam::frame::to_host;
use uncertsam_sam::{Embedding, PromptBatch, SamModel};

use crate::args::BenchArgs;
use crate::inputs::embedded_dir;
use crate::parts::{RefinePart, RefineRow};
use crate::refine_args::{estimator_matches, selected_variants};

/// The refinement variants of a run, per driving estimator.
pub struct RefinePlan<B: Backend> {
    drivers: Vec<(String, Vec<Refiner<B>>)>,
    /// What was not run and why (missing weights, a driver not among the estimators).
    pub skipped: Vec<String>,
}

/// The fusion weights directory: `--fusion`, else `<embedded>/fusion` for an embedded model;
/// `None` for another model (`--checkpoint`, `--random-init`) without `--fusion`.
pub fn fusion_dir(args: &BenchArgs) -> Option<PathBuf> {
    match &args.refine.fusion {
        Some(d) => Some(d.clone()),
        None => embedded_dir(args).map(|d| d.join("fusion")),
    }
}

/// The weights file of a driver's fusion module (`ones`: the all-ones ablation).
pub fn fusion_weights(dir: &std::path::Path, driver_key: &str, ones: bool) -> PathBuf {
    let suffix = if ones { "_ones" } else { "" };
    dir.join(format!("{driver_key}{suffix}.safetensors"))
}

/// The config of a `--refine` variant for one driver.
pub(crate) fn config(variant: &str, driver_key: &str, args: &BenchArgs) -> Option<RefineConfig> {
    let convergence = Convergence {
        max_iterations: args.refine.refine_iterations,
        ..Convergence::default()
    };
    let clicks = |placement| {
        Some(RefineConfig::Clicks(ClickConfig {
            placement,
            max_clicks: args.refine.clicks,
            threshold: UncertainThreshold::default(),
            mask_input: false,
            update: UncertaintyUpdate::FirstPass,
            stop_agreement: None,
        }))
    };
    let fusion = |ones_baseline| {
        Some(RefineConfig::DenseFusion {
            weights_path: fusion_weights(&fusion_dir(args)?, driver_key, ones_baseline),
            ones_baseline,
            convergence,
        })
    };
    match variant {
        "shrink" => Some(RefineConfig::ShrinkUncertain {
            rule: ShrinkRule::default(),
            convergence,
        }),
        "logits_as_mask" => Some(RefineConfig::LogitsAsMask { convergence }),
        "fusion" => fusion(false),
        "fusion_ones" => fusion(true),
        "gt_oracle" => Some(RefineConfig::GtOracle { eps: 1e-6 }),
        "clicks_uncertainty" => clicks(Placement::Uncertainty),
        "clicks_error" => clicks(Placement::Error),
        "clicks_random" => clicks(Placement::Random),
        _ => None,
    }
}

impl<B: Backend> RefinePlan<B> {
    /// The plan for `args` given the table names of the estimators that run. A variant that
    /// cannot run (no fusion weights) or a driver that does not run is skipped with its reason.
    pub fn build(
        sam: SamModel<'_, B>,
        args: &BenchArgs,
        estimator_names: &[String],
    ) -> Result<Self> {
        let (variants, _) = selected_variants(&args.refine.refine)?;
        let mut plan = Self {
            drivers: Vec::new(),
            skipped: Vec::new(),
        };
        if variants.is_empty() {
            return Ok(plan);
        }
        for key in &args.refine.refine_with {
            let Some(name) = estimator_names.iter().find(|n| estimator_matches(key, n)) else {
                plan.skipped.push(format!(
                    "refinement driven by `{key}`: the estimator is not run (see --estimators)"
                ));
                continue;
            };
            let mut refiners = Vec::new();
            for v in &variants {
                let Some(c) = config(v, key, args) else {
                    plan.skipped.push(format!(
                        "{v} for {name}: no fusion weights for a model other than the embedded default (pass --fusion DIR)"
                    ));
                    continue;
                };
                if let RefineConfig::DenseFusion { weights_path, .. } = &c
                    && !weights_path.exists()
                {
                    plan.skipped.push(format!(
                        "{v} for {name}: no weights at {} (train them with `uncertsam fit-fusion`)",
                        weights_path.display()
                    ));
                    continue;
                }
                match Refiner::new(c.clone(), sam) {
                    Ok(r) => refiners.push(r),
                    Err(e) => plan.skipped.push(format!("{} for {name}: {e}", c.name())),
                }
            }
            plan.drivers.push((name.clone(), refiners));
        }
        for s in &plan.skipped {
            args.note(format_args!("skipping {s}"));
        }
        Ok(plan)
    }

    /// `(driver, variant)` of every row set, in table order.
    pub fn names(&self) -> Vec<(String, String)> {
        self.drivers
            .iter()
            .flat_map(|(d, rs)| rs.iter().map(move |r| (d.clone(), r.name())))
            .collect()
    }

    /// The plan as recorded in `run.json` (`summary.md` lists the skipped variants from it).
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "rows": self.names(), "skipped": self.skipped })
    }

    /// Refines every mask of `sample` from the first pass of estimator `driver` (low-resolution
    /// `logits` and `uncertainty`, `[b, 4E, 4E]`, prompted by the rows of `prompts`). Returns
    /// nothing when `driver` drives no refinement.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        sam: SamModel<'_, B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        driver: &str,
        logits: &Tensor<B, 3>,
        uncertainty: &Tensor<B, 3>,
        sample: &Sample,
        seed: u64,
    ) -> Vec<RefinePart> {
        let Some((_, refiners)) = self.drivers.iter().find(|(d, _)| d == driver) else {
            return Vec::new();
        };
        let emb = &image.embedding;
        let masks: Vec<Result<MaskInput<B>>> = (0..sample.masks.len())
            .map(|i| MaskInput::new(sam, emb, prompts, logits, uncertainty, sample, i))
            .collect();
        refiners
            .iter()
            .map(|r| {
                let mut part = RefinePart {
                    driver: driver.to_string(),
                    variant: r.name(),
                    rows: Vec::new(),
                    errors: Vec::new(),
                };
                for (m, input) in sample.masks.iter().zip(&masks) {
                    let key = SampleSeed::new(seed, &sample.dataset, sample.image_id, m.id)
                        .key("refine/clicks");
                    let row = input
                        .as_ref()
                        .map_err(|e| anyhow::anyhow!("{e:#}"))
                        .and_then(|x| x.refine(sam, emb, r, m.id, key));
                    match row {
                        Ok(row) => part.rows.push(row),
                        Err(e) => {
                            let msg = format!(
                                "{}: mask {} under {} from {driver}: {e:#}",
                                sample.image_path.display(),
                                m.id,
                                part.variant
                            );
                            crate::args::log_line(format_args!("refinement failed: {msg}"));
                            part.errors.push(msg);
                        }
                    }
                }
                part
            })
            .collect()
    }
}

/// One mask's first pass, prompt and ground truth.
struct MaskInput<B: Backend> {
    first: FirstPass<B>,
    prompt: PromptBatch,
    gt: Vec<bool>,
    gt_u8: Vec<u8>,
    unrefined_iou: f64,
}

impl<B: Backend> MaskInput<B> {
    fn new(
        sam: SamModel<'_, B>,
        emb: &Embedding<B>,
        prompts: &PromptBatch,
        logits: &Tensor<B, 3>,
        uncertainty: &Tensor<B, 3>,
        sample: &Sample,
        i: usize,
    ) -> Result<Self> {
        let row = prompts
            .rows
            .get(i)
            .with_context(|| format!("no prompt row for mask {i}"))?;
        let first = FirstPass {
            logits: logits.clone().narrow(0, i, 1),
            uncertainty: uncertainty.clone().narrow(0, i, 1),
        };
        let gt_u8 = sample.masks[i].mask.data().to_vec();
        let unrefined_iou = iou(sam, emb, first.logits.clone(), &gt_u8)?;
        Ok(Self {
            first,
            prompt: PromptBatch {
                rows: vec![row.clone()],
            },
            gt: gt_u8.iter().map(|&g| g != 0).collect(),
            gt_u8,
            unrefined_iou,
        })
    }

    fn refine(
        &self,
        sam: SamModel<'_, B>,
        emb: &Embedding<B>,
        refiner: &Refiner<B>,
        mask_id: u64,
        seed: u64,
    ) -> Result<RefineRow> {
        let gt = [self.gt.clone()];
        let out = refiner.refine(sam, emb, &self.prompt, &self.first, Some(&gt), seed)?;
        let curve = out.clicks.as_ref().and_then(|c| c.first());
        Ok(RefineRow {
            mask_id,
            unrefined_iou: self.unrefined_iou,
            refined_iou: iou(sam, emb, out.logits, &self.gt_u8)?,
            passes: out.iterations.first().copied().unwrap_or(0),
            click_ious: curve.map(|c| c.ious.iter().map(|&x| f64::from(x)).collect()),
            noc85: curve.map(|c| c.noc(0.85)),
            noc90: curve.map(|c| c.noc(0.90)),
        })
    }
}

/// IoU (`uncertsam-metrics`) of `logits > 0`, upsampled to the original image as the
/// estimator rows are, against the ground truth.
fn iou<B: Backend>(
    sam: SamModel<'_, B>,
    emb: &Embedding<B>,
    logits: Tensor<B, 3>,
    gt: &[u8],
) -> Result<f64> {
    let up = to_host(sam.upsample(logits, emb), "refined logits")?;
    let pred: Vec<u8> = up.iter().map(|&l| u8::from(l > 0.0)).collect();
    Confusion::from_masks(&pred, gt)
        .map(|c| c.iou())
        .with_context(|| {
            format!(
                "prediction has {} pixels, the ground truth {}",
                pred.len(),
                gt.len()
            )
        })
}
