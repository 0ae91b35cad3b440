//! One refinement variant on one prediction: `uncertsam predict --refine V` and the viewer's
//! "apply refinement" choice. The variants are the benchmark's refinement rows that need no
//! simulated annotator ([`SINGLE_VARIANTS`]), configured exactly as the bench configures them
//! (`refine_rows::config`); click refinement is the viewer's "suggest click" instead.

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use uncertsam_estimate::{AnySam, EncodedImage, Estimate};
use uncertsam_refine::{FirstPass, RefineConfig, Refiner};
use uncertsam_sam::{PromptBatch, PromptRow};

use crate::args::BenchArgs;

/// The variants one prediction can be refined with, and what each does.
pub const SINGLE_VARIANTS: [(&str, &str); 5] = [
    (
        "shrink",
        "training-free: the first pass's logits as mask prompt, uncertain pixels shrunk toward 0",
    ),
    (
        "logits_as_mask",
        "the first pass's logits as mask prompt, unchanged (shrink's ablation)",
    ),
    (
        "fusion",
        "the paper's dense-embedding fusion of the uncertainty map (trained per driving estimator)",
    ),
    (
        "fusion_ones",
        "fusion's ablation: an all-ones uncertainty map",
    ),
    (
        "gt_oracle",
        "the ground-truth mask as mask prompt (an upper bound; needs ground truth)",
    ),
];

/// The refiner of `variant` driven by estimator `driver` (its name without options, which
/// selects the fusion weights), for `sam` (either family).
pub fn refiner<B: Backend>(
    variant: &str,
    driver: &str,
    sam: &AnySam<B>,
    args: &BenchArgs,
) -> Result<Refiner<B>> {
    if !SINGLE_VARIANTS.iter().any(|(v, _)| *v == variant) {
        let names: Vec<&str> = SINGLE_VARIANTS.iter().map(|(v, _)| *v).collect();
        bail!(
            "unknown refinement `{variant}`; one of: {}",
            names.join(", ")
        );
    }
    let config = crate::refine_rows::config(variant, driver, args).with_context(|| {
        format!("`{variant}`: no fusion weights for a model other than the embedded default (pass --fusion DIR)")
    })?;
    if let RefineConfig::DenseFusion { weights_path, .. } = &config
        && !weights_path.exists()
    {
        bail!(
            "`{variant}` driven by `{driver}`: no fusion weights at {} (fusion is trained per driving estimator; train them with `uncertsam fit-fusion`)",
            weights_path.display()
        );
    }
    Ok(Refiner::new(config, sam.model())?)
}

/// Refines the one-row `estimate` of prompt `row` on `encoded`; returns the refined
/// low-resolution logits and uncertainty (SAM's binary entropy of the refined mask, as the
/// paper reports). `gt` (row-major, the image's size) is needed by `gt_oracle`.
pub fn refine_estimate<B: Backend>(
    refiner: &Refiner<B>,
    sam: &AnySam<B>,
    encoded: &EncodedImage<B>,
    row: &PromptRow,
    estimate: &Estimate<B>,
    gt: Option<&[bool]>,
    seed: u64,
) -> Result<(Tensor<B, 3>, Tensor<B, 3>)> {
    let gt: Option<Vec<Vec<bool>>> = gt.map(|g| vec![g.to_vec()]);
    if refiner.name().starts_with("gt_oracle") && gt.is_none() {
        bail!("`gt_oracle` needs ground truth, and this image has none");
    }
    let first = FirstPass {
        logits: estimate.logits.clone(),
        uncertainty: estimate.maps.primary_map().clone(),
    };
    let prompts = PromptBatch::new().with_row(row.clone());
    let key = uncertsam_data::SampleSeed::image(seed, "predict", 0).key("refine");
    let out = refiner.refine(
        sam.model(),
        &encoded.embedding,
        &prompts,
        &first,
        gt.as_deref(),
        key,
    )?;
    Ok((out.logits, out.uncertainty))
}
