//! Options of the refinement rows (`uncertsam bench --refine ...`), flattened into
//! [`BenchArgs`](crate::args::BenchArgs), and the names `--refine` accepts.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

/// The variants `--refine` accepts, in table order.
pub const REFINE_VARIANTS: [&str; 8] = [
    "shrink",
    "logits_as_mask",
    "fusion",
    "fusion_ones",
    "gt_oracle",
    "clicks_uncertainty",
    "clicks_error",
    "clicks_random",
];

/// Refinement options of `uncertsam bench` (and of `uncertsam fit-fusion`).
#[derive(Args, Clone, Debug)]
pub struct RefineArgs {
    /// Refinement variants run as extra rows, comma separated: shrink, logits_as_mask, fusion,
    /// fusion_ones, gt_oracle, clicks_uncertainty, clicks_error, clicks_random; `clicks` (the
    /// three click placements), `all`, or `none`. Without the flag, or given without values:
    /// every variant whose files exist (fusion needs trained weights, see `--fusion`).
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    pub refine: Option<Vec<String>>,
    /// Estimators whose first pass (logits and uncertainty map) refinement starts from, comma
    /// separated (names as `--estimators`); one set of refinement rows each.
    #[arg(long, value_delimiter = ',', default_value = "entropy,laplace_paper")]
    pub refine_with: Vec<String>,
    /// Clicks per mask (k) of click refinement: IoU after 0..=k clicks, NoC capped at k.
    #[arg(long, default_value_t = 5)]
    pub clicks: usize,
    /// Mask-prompt refinement passes per mask; a mask stops earlier once IoU(previous,
    /// current) > 0.99 (the paper: 1).
    #[arg(long, default_value_t = 1)]
    pub refine_iterations: usize,
    /// Directory of dense-fusion weights, `<estimator>.safetensors` and
    /// `<estimator>_ones.safetensors` (written by `uncertsam fit-fusion`); default
    /// `fixtures/default/fusion` for the embedded model, none for `--checkpoint`.
    #[arg(long)]
    pub fusion: Option<PathBuf>,
}

/// The variants selected by `--refine`, in [`REFINE_VARIANTS`] order, and whether they were
/// asked for explicitly (`false`: the default, every variant that can run).
pub fn selected_variants(refine: &Option<Vec<String>>) -> Result<(Vec<&'static str>, bool)> {
    let asked: Vec<&str> = match refine {
        None => return Ok((REFINE_VARIANTS.to_vec(), false)),
        Some(v) => v
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    if asked.is_empty() || asked.contains(&"all") {
        return Ok((REFINE_VARIANTS.to_vec(), false));
    }
    if asked.contains(&"none") {
        return Ok((Vec::new(), true));
    }
    for a in &asked {
        if *a != "clicks" && !REFINE_VARIANTS.contains(a) {
            bail!(
                "unknown refinement variant `{a}`; available: {}, clicks, all, none",
                REFINE_VARIANTS.join(", ")
            );
        }
    }
    let picked = REFINE_VARIANTS
        .into_iter()
        .filter(|v| asked.contains(v) || (asked.contains(&"clicks") && v.starts_with("clicks_")))
        .collect();
    Ok((picked, true))
}

/// Whether the result-table name of an estimator (`est_name`, e.g. `laplace_paper(s=10)`)
/// belongs to the `--estimators` key `key` (or is `key` itself).
pub fn estimator_matches(key: &str, est_name: &str) -> bool {
    match key {
        _ if key == est_name => true,
        "tta_flip" => est_name.starts_with("tta(flip"),
        "tta" => est_name.starts_with("tta(") && !est_name.starts_with("tta(flip"),
        _ => est_name.starts_with(&format!("{key}(")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(v: Option<&[&str]>) -> Result<(Vec<&'static str>, bool)> {
        selected_variants(&v.map(|v| v.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn variant_lists_expand_and_bad_names_are_named() {
        assert_eq!(sel(None).expect("default").0, REFINE_VARIANTS.to_vec());
        assert_eq!(
            sel(Some(&[])).expect("bare flag").0,
            REFINE_VARIANTS.to_vec()
        );
        assert!(sel(Some(&["none"])).expect("none").0.is_empty());
        assert_eq!(
            sel(Some(&["clicks", "shrink"])).expect("group").0,
            vec![
                "shrink",
                "clicks_uncertainty",
                "clicks_error",
                "clicks_random"
            ]
        );
        let err = sel(Some(&["nope"])).expect_err("unknown").to_string();
        assert!(err.contains("`nope`") && err.contains("gt_oracle"), "{err}");
    }

    #[test]
    fn estimator_keys_match_their_table_names_only() {
        assert!(estimator_matches("entropy", "entropy"));
        assert!(estimator_matches("laplace_paper", "laplace_paper(s=10)"));
        assert!(!estimator_matches("laplace_paper", "laplace_probit"));
        assert!(estimator_matches("tta", "tta(hue=0.5,s=10)"));
        assert!(!estimator_matches("tta", "tta(flip,s=2,identity)"));
        assert!(estimator_matches("tta_flip", "tta(flip,s=2,identity)"));
        assert!(!estimator_matches("iou_head", "entropy"));
    }
}
