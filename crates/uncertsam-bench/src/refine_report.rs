//! The refinement tables of a run, rebuilt from the parts: per dataset and (driving estimator,
//! variant), the unrefined and refined IoU and their paired gain (means over masks with
//! bootstrap 95% intervals), NoC@85 / NoC@90 and the mean IoU-per-click curve of click
//! variants; and `refine_rows.csv`, one row per dataset x driver x variant x mask.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use uncertsam_metrics::BootstrapConfig;
use uncertsam_metrics::bootstrap::{bootstrap_mean_ci, nan_mean};

use crate::parts::Part;
use crate::parts::RefineRow;

/// A mean over masks with its bootstrap interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MeanCi {
    /// Mean over masks.
    pub mean: f64,
    /// Lower bound of the 95% interval.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// One (driver, variant) on one dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RefineSummary {
    /// The driving estimator (its first pass is refined).
    pub driver: String,
    /// The variant.
    pub variant: String,
    /// Masks refined.
    pub masks: usize,
    /// Masks whose refinement failed (see `errors`).
    pub failed: usize,
    /// IoU of the first pass.
    pub unrefined_iou: Option<MeanCi>,
    /// IoU after refinement.
    pub refined_iou: Option<MeanCi>,
    /// Refined minus unrefined IoU, paired per mask.
    pub gain: Option<MeanCi>,
    /// Click variants: clicks to IoU 0.85 (capped at k).
    pub noc85: Option<MeanCi>,
    /// Click variants: clicks to IoU 0.90 (capped at k).
    pub noc90: Option<MeanCi>,
    /// Click variants: mean IoU after 0, 1, ..., k clicks.
    pub click_curve: Option<Vec<f64>>,
    /// Why masks failed.
    pub errors: Vec<String>,
}

/// The refinement summaries of one dataset's parts, in order of first appearance.
pub fn summarise(parts: &[&Part], bootstrap: &BootstrapConfig) -> Result<Vec<RefineSummary>> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for p in parts {
        for r in &p.refinement {
            let k = (r.driver.clone(), r.variant.clone());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys.into_iter()
        .map(|(driver, variant)| {
            let sets = parts
                .iter()
                .flat_map(|p| &p.refinement)
                .filter(|r| r.driver == driver && r.variant == variant);
            let (mut rows, mut errors): (Vec<&RefineRow>, Vec<String>) = (Vec::new(), Vec::new());
            for s in sets {
                rows.extend(&s.rows);
                errors.extend(s.errors.iter().cloned());
            }
            summary(driver, variant, &rows, errors, bootstrap)
        })
        .collect()
}

fn summary(
    driver: String,
    variant: String,
    rows: &[&RefineRow],
    errors: Vec<String>,
    bootstrap: &BootstrapConfig,
) -> Result<RefineSummary> {
    let col = |f: &dyn Fn(&RefineRow) -> f64| rows.iter().map(|r| f(r)).collect::<Vec<f64>>();
    let unrefined = col(&|r| r.unrefined_iou);
    let refined = col(&|r| r.refined_iou);
    let gain = col(&|r| r.refined_iou - r.unrefined_iou);
    let clicks = rows.iter().all(|r| r.click_ious.is_some()) && !rows.is_empty();
    let noc =
        |f: &dyn Fn(&RefineRow) -> Option<usize>| col(&|r| f(r).map_or(f64::NAN, |n| n as f64));
    let (n85, n90) = (noc(&|r| r.noc85), noc(&|r| r.noc90));
    let mut columns: Vec<&[f64]> = vec![unrefined.as_slice(), refined.as_slice(), gain.as_slice()];
    if clicks {
        columns.extend([n85.as_slice(), n90.as_slice()]);
    }
    let stats: Vec<Option<MeanCi>> = if rows.is_empty() {
        vec![None; columns.len()]
    } else {
        let cis = bootstrap_mean_ci(&columns, bootstrap)
            .with_context(|| format!("bootstrap of {variant} from {driver}"))?;
        columns
            .iter()
            .zip(cis)
            .map(|(c, ci)| {
                Some(MeanCi {
                    mean: nan_mean(c).0,
                    low: ci.low,
                    high: ci.high,
                })
            })
            .collect()
    };
    let stat = |i: usize| stats.get(i).cloned().flatten();
    let click_curve = clicks.then(|| {
        let k = rows
            .iter()
            .filter_map(|r| r.click_ious.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0);
        (0..k)
            .map(|j| {
                let v: Vec<f64> = rows
                    .iter()
                    .map(|r| {
                        r.click_ious
                            .as_ref()
                            .and_then(|c| c.get(j).copied())
                            .unwrap_or(f64::NAN)
                    })
                    .collect();
                nan_mean(&v).0
            })
            .collect()
    });
    Ok(RefineSummary {
        driver,
        variant,
        masks: rows.len(),
        failed: errors.len(),
        unrefined_iou: stat(0),
        refined_iou: stat(1),
        gain: stat(2),
        noc85: stat(3),
        noc90: stat(4),
        click_curve,
        errors,
    })
}

fn cell(m: &Option<MeanCi>, signed: bool) -> String {
    match m {
        Some(m) if signed => format!("{:+.3} [{:+.3}, {:+.3}]", m.mean, m.low, m.high),
        Some(m) => format!("{:.3} [{:.3}, {:.3}]", m.mean, m.low, m.high),
        None => "-".into(),
    }
}

/// The refinement section of one dataset in `summary.md` (empty without refinement rows).
pub fn markdown(summaries: &[RefineSummary]) -> String {
    let mut md = String::new();
    if summaries.is_empty() {
        return md;
    }
    md.push_str(
        "\n### Refinement\n\nIoU before (the driving estimator's first pass) and after \
         refinement, and the paired gain; means over masks with bootstrap 95% intervals. \
         Click variants: IoU after the last click, NoC = clicks to reach the IoU (capped at k).\n\n\
         | driver | variant | masks | unrefined IoU | refined IoU | gain | NoC@85 | NoC@90 |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for s in summaries {
        let masks = if s.failed > 0 {
            format!("{} ({} failed)", s.masks, s.failed)
        } else {
            s.masks.to_string()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {masks} | {} | {} | {} | {} | {} |",
            s.driver,
            s.variant,
            cell(&s.unrefined_iou, false),
            cell(&s.refined_iou, false),
            cell(&s.gain, true),
            cell(&s.noc85, false),
            cell(&s.noc90, false),
        );
    }
    let curves: Vec<&RefineSummary> = summaries
        .iter()
        .filter(|s| s.click_curve.is_some())
        .collect();
    if let Some(k) = curves
        .iter()
        .filter_map(|s| s.click_curve.as_ref().map(Vec::len))
        .max()
    {
        md.push_str("\nMean IoU after j clicks:\n\n| driver | variant |");
        for j in 0..k {
            let _ = write!(md, " {j} |");
        }
        md.push_str("\n|---|---|");
        md.push_str(&"---|".repeat(k));
        md.push('\n');
        for s in curves {
            let _ = write!(md, "| {} | {} |", s.driver, s.variant);
            for v in s.click_curve.iter().flatten() {
                let _ = write!(md, " {v:.3} |");
            }
            md.push('\n');
        }
    }
    for s in summaries {
        for e in &s.errors {
            let _ = writeln!(md, "\n- refinement failed: {e}");
        }
    }
    md
}

/// `refine_rows.csv` of all datasets, or `None` when the run has no refinement rows.
pub fn csv(by_dataset: &[(&String, &Vec<&Part>)]) -> Option<String> {
    let k = by_dataset
        .iter()
        .flat_map(|(_, ps)| ps.iter())
        .flat_map(|p| &p.refinement)
        .flat_map(|r| &r.rows)
        .filter_map(|r| r.click_ious.as_ref().map(Vec::len))
        .max()
        .unwrap_or(0);
    let mut csv = String::from(
        "dataset,image_id,mask_id,driver,variant,unrefined_iou,refined_iou,gain,passes,noc85,noc90",
    );
    for j in 0..k {
        let _ = write!(csv, ",iou_click_{j}");
    }
    csv.push('\n');
    let mut any = false;
    let opt = |v: Option<usize>| v.map(|n| n.to_string()).unwrap_or_default();
    for (dataset, parts) in by_dataset {
        for p in parts.iter() {
            for r in &p.refinement {
                for row in &r.rows {
                    any = true;
                    let _ = write!(
                        csv,
                        "{dataset},{},{},\"{}\",\"{}\",{},{},{},{},{},{}",
                        p.image_id.unwrap_or_default(),
                        row.mask_id,
                        r.driver,
                        r.variant,
                        row.unrefined_iou,
                        row.refined_iou,
                        row.refined_iou - row.unrefined_iou,
                        row.passes,
                        opt(row.noc85),
                        opt(row.noc90)
                    );
                    for j in 0..k {
                        csv.push(',');
                        if let Some(v) = row.click_ious.as_ref().and_then(|c| c.get(j)) {
                            let _ = write!(csv, "{v}");
                        }
                    }
                    csv.push('\n');
                }
            }
        }
    }
    any.then_some(csv)
}

/// The variants the run skipped, with the reason (from `run.json`; empty without it).
pub fn skipped(out: &Path) -> Vec<String> {
    std::fs::read(out.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("refinement")?.get("skipped")?.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Mean IoU-per-click curves, each labelled `driver: variant`.
pub type ClickCurves = Vec<(String, Vec<f64>)>;

/// The mean click curves of one dataset, for the plot.
pub fn curves(summaries: &[RefineSummary]) -> ClickCurves {
    summaries
        .iter()
        .filter_map(|s| {
            let c = s.click_curve.clone()?;
            Some((format!("{}: {}", s.driver, s.variant), c))
        })
        .collect()
}
