//! The SAM 2 part of `docs/results.md`: the embedded SAM 2 default's model table, a
//! side-by-side of the two families on each split (box-prompt IoU, and per column the best
//! estimator's mean with its interval), and the SAM 2 run's own summary. Built only from files
//! the runs and the training wrote (`fixtures/default-sam2/manifest.json`, both runs'
//! `summary.json` and `summary.md`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// The columns of the side-by-side, each with whether lower is better.
const COLUMNS: [(&str, bool); 4] = [
    ("pearson", false),
    ("auroc", false),
    ("aupr", false),
    ("ECE", true),
];

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `(mean, low, high)` of `column` in one estimator's metrics of `summary.json`.
fn column(metrics: &Value, column: &str) -> Option<(f64, f64, f64)> {
    let c = metrics["means"]
        .as_array()?
        .iter()
        .find(|c| c["column"] == column)?;
    Some((
        c["mean"].as_f64()?,
        c["ci"]["low"].as_f64()?,
        c["ci"]["high"].as_f64()?,
    ))
}

/// The best estimator of `col` on one dataset of `summary.json`: `"0.912 [0.90, 0.93] (name)"`.
fn best(dataset: &Value, col: &str, lower: bool) -> String {
    let best = dataset["estimators"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["estimator"].as_str()?, column(&e["metrics"], col)?)))
        .filter(|(_, (m, _, _))| !m.is_nan())
        .min_by(|a, b| {
            let (x, y) = (a.1.0, b.1.0);
            if lower {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            }
        });
    best.map_or_else(
        || "-".into(),
        |(name, (m, lo, hi))| format!("{m:.3} [{lo:.3}, {hi:.3}] ({name})"),
    )
}

/// Box-prompt IoU (first estimator's `IoU` mean with its interval) of one dataset.
fn iou(dataset: &Value) -> String {
    column(&dataset["estimators"][0]["metrics"], "IoU").map_or_else(
        || "-".into(),
        |(m, lo, hi)| format!("{m:.3} [{lo:.3}, {hi:.3}]"),
    )
}

/// The model table of a training manifest (`| split | masks | box-prompt IoU |`).
pub fn model_table(manifest: &Value) -> String {
    let mut md = String::from("| split | masks | box-prompt IoU |\n|---|---|---|\n");
    for s in manifest["box_iou"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {}/{} | {} | {:.3} |",
            s["dataset"].as_str().unwrap_or("?"),
            s["split"].as_str().unwrap_or("?"),
            s["masks"],
            s["mean_iou"].as_f64().unwrap_or(f64::NAN)
        );
    }
    md
}

/// The SAM 2 section: `sam2_run` is the finished `--model sam2` run, `sam_run` the SAM v1 run
/// it is compared with.
pub fn section(sam_run: &Path, sam2_run: &Path, manifest: &Path) -> Result<String> {
    let v1 = read_json(&sam_run.join("summary.json"))?;
    let v2 = read_json(&sam2_run.join("summary.json"))?;
    let summary = std::fs::read_to_string(sam2_run.join("summary.md"))
        .with_context(|| format!("reading {}", sam2_run.join("summary.md").display()))?;
    let mut md = String::from("\n# SAM 2: the embedded tiny SAM 2\n\n");
    let _ = writeln!(
        md,
        "The same benchmark on the embedded SAM 2 default (`cargo xtask bench --model sam2`, the \
         run in `{}`), every estimator and refinement variant.\n",
        sam2_run.display()
    );
    if let Ok(m) = read_json(manifest) {
        let _ = writeln!(
            md,
            "Trained by `{}` (seed {}, {} parameters, {:.0} s in all; `fixtures/default-sam2/manifest.json`).\n",
            m["command"].as_str().unwrap_or("?"),
            m["seed"],
            m["parameters"],
            m["wall_time_s"]["total"].as_f64().unwrap_or(f64::NAN)
        );
        md.push_str(&model_table(&m));
    }
    md.push_str("\n## SAM v1 and SAM 2 side by side\n\n");
    md.push_str(
        "Box-prompt IoU, then per column the best estimator of each family (mean over masks \
         with its bootstrap 95% interval; lower is better for ECE).\n\n",
    );
    let mut header = String::from("| split | IoU SAM | IoU SAM 2 |");
    let mut rule = String::from("|---|---|---|");
    for (c, _) in COLUMNS {
        let _ = write!(header, " best {c} SAM | best {c} SAM 2 |");
        rule.push_str("---|---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for d2 in v2.as_array().into_iter().flatten() {
        let name = d2["dataset"].as_str().unwrap_or("?");
        let d1 = v1
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["dataset"] == name);
        let _ = write!(
            md,
            "| {name} | {} | {} |",
            d1.map_or_else(|| "-".into(), iou),
            iou(d2)
        );
        for (c, lower) in COLUMNS {
            let _ = write!(
                md,
                " {} | {} |",
                d1.map_or_else(|| "-".into(), |d| best(d, c, lower)),
                best(d2, c, lower)
            );
        }
        md.push('\n');
    }
    md.push_str("\n## SAM 2 summary (the run's summary.md)\n\n");
    let body = summary
        .strip_prefix("# Benchmark summary\n")
        .unwrap_or(&summary);
    // The run's dataset sections become subsections of this part.
    for line in body.trim_start().lines() {
        if line.starts_with('#') {
            md.push('#');
        }
        md.push_str(line);
        md.push('\n');
    }
    Ok(md)
}
