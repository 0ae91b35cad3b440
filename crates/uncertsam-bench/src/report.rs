//! Final tables from the part files: `rows.csv` (one row per dataset x estimator x mask, the
//! paper's columns and ours), `summary.json` and `summary.md` (dataset x estimator means with
//! bootstrap 95% CIs, pooled calibration, AURC, and the winner of each column; the refinement
//! tables of [`crate::refine_report`], whose rows go to `refine_rows.csv`), written
//! atomically. The output depends only on the parts, so a resumed or sharded run gives the
//! same bytes as an uninterrupted one.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use uncertsam_metrics::{BootstrapConfig, DatasetAccumulator, DatasetMetrics, MaskMetrics};

use crate::parts::{Part, read_parts, write_atomic};
use crate::refine_report::{self, RefineSummary};

/// Columns where lower is better; the others in [`WINNER_COLUMNS`] are higher-is-better.
const LOWER_IS_BETTER: [&str; 5] = ["MAE", "BER", "ECE", "brier", "nll"];
/// Columns for which the summary names a winner.
const WINNER_COLUMNS: [&str; 10] = [
    "IoU", "pearson", "spearman", "auroc", "aupr", "ECE", "brier", "nll", "BIoU_1", "dice",
];
/// Columns shown in `summary.md`.
const SHOWN: [&str; 8] = [
    "IoU", "pearson", "spearman", "auroc", "aupr", "ECE", "brier", "nll",
];

/// One estimator's dataset-level results.
#[derive(Serialize)]
struct EstimatorSummary {
    estimator: String,
    metrics: DatasetMetrics,
}

/// One dataset's results.
#[derive(Serialize)]
struct DatasetSummary {
    dataset: String,
    images: usize,
    /// Masks the evaluated and the bad samples asked for.
    masks_requested: usize,
    /// Masks with a row (under each estimator).
    masks_evaluated: usize,
    bad_samples: Vec<String>,
    estimators: Vec<EstimatorSummary>,
    winners: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    refinement: Vec<RefineSummary>,
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

fn column(m: &DatasetMetrics, name: &str) -> Option<(f64, f64, f64)> {
    m.means
        .iter()
        .find(|c| c.column == name)
        .map(|c| (c.mean, c.ci.low, c.ci.high))
}

/// Rebuilds the tables of `out` from its parts.
pub fn merge(out: &Path, seed: u64) -> Result<()> {
    let parts = read_parts(out)?;
    let mut by_dataset: BTreeMap<String, Vec<&Part>> = BTreeMap::new();
    for p in &parts {
        by_dataset.entry(p.dataset.clone()).or_default().push(p);
    }
    let mut csv = String::from("dataset,image_id,mask_id,estimator,iou_pred");
    for c in MaskMetrics::COLUMNS {
        csv.push(',');
        csv.push_str(c);
    }
    csv.push('\n');
    let bootstrap = BootstrapConfig {
        seed,
        ..BootstrapConfig::default()
    };
    let mut summaries = Vec::new();
    let mut error_points: Vec<Vec<crate::plots::ErrorPoints>> = Vec::new();
    for (dataset, parts) in &by_dataset {
        let mut acc: BTreeMap<String, DatasetAccumulator> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut bad = Vec::new();
        for p in parts {
            if let Some(e) = &p.error {
                bad.push(e.clone());
            }
            for est in &p.estimators {
                if !order.contains(&est.name) {
                    order.push(est.name.clone());
                }
                let a = acc.entry(est.name.clone()).or_default();
                for (i, row) in est.rows.iter().enumerate() {
                    // The image's pooled calibration is added once, with its first mask.
                    let cal = if i == 0 {
                        est.calibration.clone()
                    } else {
                        Default::default()
                    };
                    a.push(row.metrics(), row.iou_pred, &cal);
                }
            }
        }
        for name in &order {
            for p in parts {
                for est in p.estimators.iter().filter(|e| &e.name == name) {
                    for row in &est.rows {
                        let _ = write!(
                            csv,
                            "{dataset},{},{},{name},{}",
                            p.image_id.unwrap_or_default(),
                            row.mask_id,
                            row.iou_pred.map(fmt).unwrap_or_default()
                        );
                        for v in &row.values {
                            csv.push(',');
                            csv.push_str(&v.map(fmt).unwrap_or_else(|| "NaN".into()));
                        }
                        csv.push('\n');
                    }
                }
            }
        }
        crate::gallery::compose(out, std::slice::from_ref(dataset), &order)?;
        error_points.push(
            order
                .iter()
                .map(|n| {
                    acc[n]
                        .rows()
                        .iter()
                        .map(|r| (r.sharp, 1.0 - r.iou))
                        .collect()
                })
                .collect(),
        );
        let mut estimators = Vec::new();
        for name in &order {
            let metrics = acc[name]
                .finish(&bootstrap)
                .with_context(|| format!("{dataset} / {name}"))?;
            estimators.push(EstimatorSummary {
                estimator: name.clone(),
                metrics,
            });
        }
        let mut winners = BTreeMap::new();
        for col in WINNER_COLUMNS {
            let lower = LOWER_IS_BETTER.contains(&col);
            let best = estimators
                .iter()
                .filter_map(|e| column(&e.metrics, col).map(|(m, _, _)| (e.estimator.clone(), m)))
                .filter(|(_, m)| !m.is_nan())
                .min_by(|a, b| {
                    if lower {
                        a.1.total_cmp(&b.1)
                    } else {
                        b.1.total_cmp(&a.1)
                    }
                });
            if let Some((name, _)) = best {
                winners.insert(col.to_string(), name);
            }
        }
        summaries.push(DatasetSummary {
            dataset: dataset.clone(),
            images: parts.iter().filter(|p| p.error.is_none()).count(),
            masks_requested: parts.iter().map(|p| requested(p)).sum(),
            masks_evaluated: parts
                .iter()
                .filter_map(|p| p.estimators.first())
                .map(|e| e.rows.len())
                .sum(),
            bad_samples: bad,
            estimators,
            winners,
            refinement: refine_report::summarise(parts, &bootstrap)?,
        });
    }
    write_atomic(&out.join("rows.csv"), csv.as_bytes())?;
    let datasets: Vec<(&String, &Vec<&Part>)> = by_dataset.iter().collect();
    if let Some(refine_csv) = refine_report::csv(&datasets) {
        write_atomic(&out.join("refine_rows.csv"), refine_csv.as_bytes())?;
    }
    record_outcome(out, &summaries)?;
    write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summaries)?.as_bytes(),
    )?;
    let skipped = refine_report::skipped(out);
    write_atomic(
        &out.join("summary.md"),
        markdown(&summaries, &skipped).as_bytes(),
    )?;
    crate::plots::write_plots(out, &summaries_for_plots(&summaries), &error_points)?;
    let curves: Vec<(String, refine_report::ClickCurves)> = summaries
        .iter()
        .map(|d| (d.dataset.clone(), refine_report::curves(&d.refinement)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    crate::click_plots::write_click_curves(out, &curves)?;
    Ok(())
}

/// The data the plots need, per dataset and estimator.
fn summaries_for_plots(s: &[DatasetSummary]) -> Vec<(String, Vec<(String, DatasetMetrics)>)> {
    s.iter()
        .map(|d| {
            (
                d.dataset.clone(),
                d.estimators
                    .iter()
                    .map(|e| (e.estimator.clone(), e.metrics.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// The IoU head as a mask-level confidence (SamScore, the single-pass baseline of mask
/// ranking): its AURC ranked by predicted IoU and the rank correlation of predicted and actual
/// IoU, when `iou_head` ran (the table's AURC ranks every estimator by mean u).
fn iou_head_line(d: &DatasetSummary) -> Option<String> {
    let m = &d
        .estimators
        .iter()
        .find(|e| e.estimator == "iou_head")?
        .metrics;
    let (rc, corr) = (
        m.risk_coverage_iou_pred.as_ref()?,
        m.iou_pred_vs_iou.as_ref()?,
    );
    Some(format!(
        "\nMask ranking by the IoU head's predicted IoU (SamScore): AURC {:.4} (E-AURC {:.4}), \
         Spearman(predicted IoU, IoU) {:.3}.\n",
        rc.aurc, rc.eaurc, corr.spearman
    ))
}

/// The masks a part asked for: as recorded, else (older parts) its rows.
fn requested(p: &Part) -> usize {
    p.masks_requested
        .unwrap_or_else(|| p.estimators.first().map_or(0, |e| e.rows.len()))
}

/// Masks requested and evaluated, and the bad samples, over all datasets.
fn totals(summaries: &[DatasetSummary]) -> (usize, usize, usize) {
    summaries.iter().fold((0, 0, 0), |(r, e, b), d| {
        (
            r + d.masks_requested,
            e + d.masks_evaluated,
            b + d.bad_samples.len(),
        )
    })
}

/// Adds the run's outcome (masks requested and evaluated, every bad sample) to `run.json`.
fn record_outcome(out: &Path, summaries: &[DatasetSummary]) -> Result<()> {
    let path = out.join("run.json");
    let mut run: serde_json::Value = match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let (requested, evaluated, _) = totals(summaries);
    let bad: Vec<serde_json::Value> = summaries
        .iter()
        .flat_map(|d| {
            d.bad_samples
                .iter()
                .map(|b| serde_json::json!({ "dataset": d.dataset, "error": b }))
        })
        .collect();
    if let Some(map) = run.as_object_mut() {
        map.insert(
            "outcome".into(),
            serde_json::json!({ "masks_requested": requested, "masks_evaluated": evaluated,
                "bad_samples": bad }),
        );
    }
    write_atomic(&path, serde_json::to_string_pretty(&run)?.as_bytes())
}

fn markdown(summaries: &[DatasetSummary], refine_skipped: &[String]) -> String {
    let mut md = String::from(
        "# Benchmark summary\n\nMeans over masks with bootstrap 95% intervals; **bold** marks the best estimator of a column (higher is better except ECE, Brier, NLL). pearson = pixel Pearson(u, |G - p|) as the paper; spearman, auroc, aupr: u against pixel errors (P != G). Pooled ECE is over all pixels of the dataset; AURC uses risk = 1 - IoU ranked by mean u.\n",
    );
    let (requested, evaluated, bad) = totals(summaries);
    let _ = writeln!(
        md,
        "\nMasks: {requested} requested, {evaluated} evaluated ({bad} bad samples).",
    );
    for d in summaries {
        let _ = write!(
            md,
            "\n## {}\n\n{} images, {} of {} masks evaluated",
            d.dataset, d.images, d.masks_evaluated, d.masks_requested
        );
        if !d.bad_samples.is_empty() {
            let _ = write!(md, ", {} bad samples skipped", d.bad_samples.len());
        }
        md.push_str("\n\n| estimator |");
        for c in SHOWN {
            let _ = write!(md, " {c} |");
        }
        md.push_str(" pooled ECE | AURC |\n|---|");
        for _ in 0..SHOWN.len() + 2 {
            md.push_str("---|");
        }
        md.push('\n');
        for e in &d.estimators {
            let _ = write!(md, "| {} |", e.estimator);
            for c in SHOWN {
                let cell = match column(&e.metrics, c) {
                    Some((m, lo, hi)) => {
                        let s = format!("{m:.3} [{lo:.3}, {hi:.3}]");
                        if d.winners.get(c) == Some(&e.estimator) {
                            format!("**{s}**")
                        } else {
                            s
                        }
                    }
                    None => "-".into(),
                };
                let _ = write!(md, " {cell} |");
            }
            let _ = writeln!(
                md,
                " {:.4} | {:.4} |",
                e.metrics.pooled.ece, e.metrics.risk_coverage_unc.aurc
            );
        }
        if let Some(line) = iou_head_line(d) {
            md.push_str(&line);
        }
        for b in &d.bad_samples {
            let _ = writeln!(md, "\n- skipped: {b}");
        }
        md.push_str(&refine_report::markdown(&d.refinement));
    }
    if !refine_skipped.is_empty() {
        md.push_str("\n## Refinement not run\n\n");
        for s in refine_skipped {
            let _ = writeln!(md, "- {s}");
        }
    }
    md
}
