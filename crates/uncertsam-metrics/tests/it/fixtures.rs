//! Parity with `fixtures/metrics/*.json`, written by `fixtures/metrics/generate.py` (the paper's
//! formulas, scikit-learn, scipy and torchmetrics). Tolerance 1e-9, relative above 1.

use serde_json::Value;
use uncertsam_metrics::boundary::boundary_radius;
use uncertsam_metrics::calibration::ece_edges;
use uncertsam_metrics::roi::{dilated_roi, roi_radius};
use uncertsam_metrics::{
    BootstrapConfig, DatasetAccumulator, MaskInputs, MaskMetrics, mask_metrics,
};

const TOL: f64 = 1e-9;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/metrics/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// Expected value: JSON null is NaN.
fn num(v: &Value) -> f64 {
    if v.is_null() {
        f64::NAN
    } else {
        v.as_f64().expect("a number or null")
    }
}

fn check(what: &str, got: f64, want: f64) {
    let ok = if want.is_nan() {
        got.is_nan()
    } else {
        (got - want).abs() <= TOL * want.abs().max(1.0)
    };
    assert!(
        ok,
        "{what}: got {got:e}, want {want:e} (diff {:e})",
        got - want
    );
}

fn bits(s: &str) -> Vec<u8> {
    s.bytes().map(|b| b - b'0').collect()
}

fn f32s(hex: &str) -> Vec<f32> {
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex");
    (0..hex.len() / 8)
        .map(|k| {
            f32::from_le_bytes([
                byte(8 * k),
                byte(8 * k + 2),
                byte(8 * k + 4),
                byte(8 * k + 6),
            ])
        })
        .collect()
}

struct Case {
    name: String,
    height: usize,
    width: usize,
    pred: Vec<u8>,
    gt: Vec<u8>,
    prob: Vec<f32>,
    unc: Vec<f32>,
    std: Option<Vec<f32>>,
    iou_pred: f64,
    raw: Value,
}

impl Case {
    fn inputs(&self) -> MaskInputs<'_> {
        let m = MaskInputs::new(
            &self.pred,
            &self.gt,
            &self.prob,
            &self.unc,
            self.height,
            self.width,
        )
        .with_iou_pred(self.iou_pred);
        match &self.std {
            Some(s) => m.with_std(s),
            None => m,
        }
    }
}

fn cases() -> Vec<Case> {
    let root = load("masks.json");
    root["masks"]
        .as_array()
        .expect("masks")
        .iter()
        .map(|m| Case {
            name: m["name"].as_str().expect("name").to_owned(),
            height: m["height"].as_u64().expect("height") as usize,
            width: m["width"].as_u64().expect("width") as usize,
            pred: bits(m["pred"].as_str().expect("pred")),
            gt: bits(m["gt"].as_str().expect("gt")),
            prob: f32s(m["prob"].as_str().expect("prob")),
            unc: f32s(m["unc"].as_str().expect("unc")),
            std: m["std"].as_str().map(f32s),
            iou_pred: num(&m["iou_pred"]),
            raw: m.clone(),
        })
        .collect()
}

#[test]
fn every_mask_column_matches_the_python_reference() {
    let cases = cases();
    assert_eq!(cases.len(), 10, "fixture cases");
    for case in cases {
        let got = mask_metrics(&case.inputs()).expect("fixture inputs are valid");
        for (column, value) in MaskMetrics::COLUMNS.iter().zip(got.values()) {
            check(
                &format!("{} {column}", case.name),
                value,
                num(&case.raw["expected"][column]),
            );
        }
    }
}

#[test]
fn ece_matches_the_float32_torchmetrics_class_to_float32_precision() {
    // The public class accumulates in float32; the crate (and `ECE`) in f64 with the same bins.
    for case in cases() {
        let got = mask_metrics(&case.inputs()).expect("valid").ece;
        let want = num(&case.raw["ECE_torchmetrics_f32"]);
        assert!((got - want).abs() < 1e-6, "{}: {got} vs {want}", case.name);
    }
}

#[test]
fn radii_roi_and_bin_edges_match_the_python_reference() {
    let root = load("masks.json");
    let edges: Vec<f64> = ece_edges().iter().map(|&e| f64::from(e)).collect();
    let want: Vec<f64> = root["ece_edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(num)
        .collect();
    assert_eq!(edges, want);
    for case in cases() {
        let (h, w) = (case.height, case.width);
        assert_eq!(
            roi_radius(h, w) as u64,
            case.raw["roi_radius"].as_u64().expect("r"),
            "{}",
            case.name
        );
        assert_eq!(
            boundary_radius(h, w, 0.02) as u64,
            case.raw["boundary_radius_2"].as_u64().expect("r")
        );
        assert_eq!(
            boundary_radius(h, w, 0.01) as u64,
            case.raw["boundary_radius_1"].as_u64().expect("r")
        );
        assert_eq!(
            dilated_roi(&case.gt, h, w).expect("valid"),
            bits(case.raw["roi"].as_str().expect("roi")),
            "{}",
            case.name
        );
    }
}

#[test]
fn dataset_metrics_match_the_python_reference() {
    let want = load("dataset.json");
    let mut acc = DatasetAccumulator::new();
    for case in cases() {
        acc.update(&case.inputs()).expect("valid");
    }
    let got = acc.finish(&BootstrapConfig::default()).expect("non-empty");
    for summary in &got.means {
        let w = &want["means"][summary.column];
        check(
            &format!("mean {}", summary.column),
            summary.mean,
            num(&w["mean"]),
        );
        assert_eq!(
            summary.count as u64,
            w["count"].as_u64().expect("count"),
            "{}",
            summary.column
        );
    }
    let corr = |what: &str, got: &uncertsam_metrics::Correlation, w: &Value| {
        check(&format!("{what} pearson"), got.pearson, num(&w["pearson"]));
        check(
            &format!("{what} spearman"),
            got.spearman,
            num(&w["spearman"]),
        );
    };
    corr("unc_vs_iou", &got.unc_vs_iou, &want["unc_vs_iou"]);
    corr(
        "iou_pred_vs_iou",
        got.iou_pred_vs_iou.as_ref().expect("every mask has one"),
        &want["iou_pred_vs_iou"],
    );
    let rc = |what: &str, got: &uncertsam_metrics::RiskCoverage, w: &Value| {
        for key in ["aurc", "aurc_optimal", "eaurc"] {
            let g = match key {
                "aurc" => got.aurc,
                "aurc_optimal" => got.aurc_optimal,
                _ => got.eaurc,
            };
            check(&format!("{what} {key}"), g, num(&w[key]));
        }
        let list =
            |k: &str| -> Vec<f64> { w[k].as_array().expect("list").iter().map(num).collect() };
        assert_eq!(
            got.coverage.len(),
            list("coverage").len(),
            "{what} curve length"
        );
        for (i, (g, e)) in got.coverage.iter().zip(list("coverage")).enumerate() {
            check(&format!("{what} coverage[{i}]"), *g, e);
        }
        for (i, (g, e)) in got.risk.iter().zip(list("risk")).enumerate() {
            check(&format!("{what} risk[{i}]"), *g, e);
        }
    };
    rc(
        "risk_coverage_unc",
        &got.risk_coverage_unc,
        &want["risk_coverage_unc"],
    );
    rc(
        "risk_coverage_iou_pred",
        got.risk_coverage_iou_pred.as_ref().expect("iou_pred"),
        &want["risk_coverage_iou_pred"],
    );

    let pooled = &want["pooled"];
    assert_eq!(got.pooled.n_pixels, pooled["n_pixels"].as_u64().expect("n"));
    check("pooled ece", got.pooled.ece, num(&pooled["ece"]));
    check("pooled brier", got.pooled.brier, num(&pooled["brier"]));
    check("pooled nll", got.pooled.nll, num(&pooled["nll"]));
    let bins = pooled["bins"].as_array().expect("bins");
    assert_eq!(got.pooled.bins.len(), bins.len());
    for (k, (g, w)) in got.pooled.bins.iter().zip(bins).enumerate() {
        assert_eq!(g.count, w["count"].as_u64().expect("count"), "bin {k}");
        check(
            &format!("bin {k} confidence"),
            g.mean_confidence,
            num(&w["mean_confidence"]),
        );
        check(
            &format!("bin {k} accuracy"),
            g.accuracy,
            num(&w["accuracy"]),
        );
    }
}
