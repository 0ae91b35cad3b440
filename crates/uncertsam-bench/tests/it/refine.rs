//! The refinement rows of a run agree with its estimator rows and with themselves: the
//! unrefined IoU is the driving estimator's IoU, click curves start at it and end at the
//! refined IoU, NoC follows the curve, the summary's gain is refined minus unrefined; missing
//! fusion weights skip the variant with the reason in the summary.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::resume::{bench_with_fusion, read};

/// Splits a CSV line on commas outside double quotes, dropping the quotes.
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Header and rows of a CSV file, each row as column -> value.
fn table(p: &Path) -> Vec<HashMap<String, String>> {
    let text = String::from_utf8(read(p)).expect("utf-8");
    let mut lines = text.lines();
    let header = fields(lines.next().expect("header"));
    lines
        .map(|l| header.iter().cloned().zip(fields(l)).collect())
        .collect()
}

fn num(row: &HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = `{}`", row[col]))
}

/// Checks the refinement tables of the run in `out` (driven by `entropy`, k = 2 clicks).
pub fn check_refinement_tables(out: &Path) {
    let key = |r: &HashMap<String, String>| {
        (
            r["dataset"].clone(),
            r["image_id"].clone(),
            r["mask_id"].clone(),
        )
    };
    let estimator_iou: HashMap<_, f64> = table(&out.join("rows.csv"))
        .iter()
        .filter(|r| r["estimator"] == "entropy")
        .map(|r| (key(r), num(r, "IoU")))
        .collect();
    let rows = table(&out.join("refine_rows.csv"));
    let datasets: std::collections::BTreeSet<String> =
        estimator_iou.keys().map(|k| k.0.clone()).collect();
    for prefix in [
        "shrink_uncertain(",
        "logits_as_mask(",
        "dense_fusion(",
        "dense_fusion_ones(",
        "gt_oracle(",
        "clicks(uncertainty,",
        "clicks(error,",
        "clicks(random,",
    ] {
        for d in &datasets {
            let n = rows
                .iter()
                .filter(|r| &r["dataset"] == d && r["variant"].starts_with(prefix))
                .count();
            let masks = estimator_iou.keys().filter(|k| &k.0 == d).count();
            assert_eq!(n, masks, "{prefix} rows on {d}");
        }
    }
    for r in &rows {
        assert_eq!(r["driver"], "entropy");
        let (unrefined, refined) = (num(r, "unrefined_iou"), num(r, "refined_iou"));
        let first = estimator_iou[&key(r)];
        assert!(
            (unrefined - first).abs() < 1e-9,
            "{r:?}: entropy IoU {first}"
        );
        assert!((0.0..=1.0).contains(&refined), "{r:?}");
        if !r["variant"].starts_with("clicks(") {
            assert!(
                r["noc85"].is_empty() && r["iou_click_0"].is_empty(),
                "{r:?}"
            );
            continue;
        }
        let curve: Vec<f64> = (0..=2).map(|j| num(r, &format!("iou_click_{j}"))).collect();
        // The curve's IoU has no epsilon in its denominator, the metrics' IoU has 1e-6.
        assert!((curve[0] - unrefined).abs() < 1e-5, "{r:?}");
        assert!((curve[2] - refined).abs() < 1e-5, "{r:?}");
        for (col, t) in [("noc85", 0.85), ("noc90", 0.90)] {
            let want = curve.iter().position(|&v| v >= t).unwrap_or(2);
            assert_eq!(num(r, col) as usize, want, "{col} of {r:?}");
        }
    }

    let summary: serde_json::Value =
        serde_json::from_slice(&read(&out.join("summary.json"))).expect("summary.json");
    for d in summary.as_array().expect("datasets") {
        let refinement = d["refinement"].as_array().expect("refinement summaries");
        assert_eq!(refinement.len(), 8, "{}", d["dataset"]);
        for s in refinement {
            let mean = |k: &str| s[k]["mean"].as_f64().expect(k);
            let gain = mean("refined_iou") - mean("unrefined_iou");
            assert!((mean("gain") - gain).abs() < 1e-9, "{s}");
            for k in ["unrefined_iou", "refined_iou", "gain"] {
                let (lo, hi) = (s[k]["low"].as_f64(), s[k]["high"].as_f64());
                assert!(lo <= Some(mean(k)) && Some(mean(k)) <= hi, "{k} of {s}");
            }
            if let Some(curve) = s["click_curve"].as_array() {
                assert_eq!(curve.len(), 3);
                let c0 = curve[0].as_f64().expect("f64");
                assert!((c0 - mean("unrefined_iou")).abs() < 1e-5, "{s}");
                assert!(s["noc90"]["mean"].as_f64() >= s["noc85"]["mean"].as_f64());
            }
        }
    }
    let md = String::from_utf8(read(&out.join("summary.md"))).expect("utf-8");
    assert_eq!(md.matches("### Refinement").count(), datasets.len());
    assert!(md.contains("NoC@90") && md.contains("Mean IoU after j clicks"));
    if Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists() {
        for d in &datasets {
            assert!(out.join(format!("plots/{d}_clicks.png")).exists(), "{d}");
        }
    }
}

#[test]
fn missing_fusion_weights_skip_the_variant_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("run");
    let missing = tmp.path().join("no-weights");
    let status = bench_with_fusion(
        &out,
        &["--estimators", "entropy", "--refine", "fusion,clicks_error"],
        &missing,
    )
    .status()
    .expect("run");
    assert!(status.success());
    let md = String::from_utf8(read(&out.join("summary.md"))).expect("utf-8");
    assert!(md.contains("## Refinement not run"), "{md}");
    assert!(md.contains("fusion for entropy: no weights at"), "{md}");
    let rows = table(&out.join("refine_rows.csv"));
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["variant"] == "clicks(error,k=2)"));
}

#[test]
fn unknown_refinement_variant_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_uncertsam"))
        .args([
            "bench",
            "--quick",
            "--estimators",
            "entropy",
            "--refine",
            "nope",
        ])
        .arg("--data")
        .arg(crate::resume::data())
        .arg("--out")
        .arg(tmp.path().join("x"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown refinement variant `nope`"), "{err}");
}

/// A SAM 2 model (the `hiera_t_256` geometry, random weights) gets every refinement variant:
/// `fit-fusion` trains its fusion modules, and the run's refinement tables pass the same checks
/// as the SAM v1 runs'.
#[test]
fn a_sam2_model_runs_every_refinement_variant() {
    let cfg =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sam2/hiera_t_256/config.json");
    let cfg = cfg.to_str().expect("utf-8 path");
    let tmp = tempfile::tempdir().expect("tmp");
    let fusion = tmp.path().join("fusion");
    let model = ["--model", cfg, "--random-init", "--seed", "7"];
    let status = Command::new(env!("CARGO_BIN_EXE_uncertsam"))
        .args([
            "fit-fusion",
            "--refine-with",
            "entropy",
            "--images",
            "2",
            "--epochs",
            "1",
        ])
        .args(model)
        .arg("--data")
        .arg(crate::resume::data())
        .arg("--fusion")
        .arg(&fusion)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("fit-fusion");
    assert!(status.success(), "fit-fusion on SAM 2 failed");
    for f in [
        "entropy.safetensors",
        "entropy_ones.safetensors",
        "fusion.json",
    ] {
        assert!(fusion.join(f).exists(), "{f}");
    }
    let out = tmp.path().join("run");
    let mut extra = vec!["--estimators", "entropy"];
    extra.extend(model);
    let status = bench_with_fusion(&out, &extra, &fusion)
        .status()
        .expect("run");
    assert!(status.success(), "bench on SAM 2 failed");
    let run: serde_json::Value =
        serde_json::from_slice(&read(&out.join("run.json"))).expect("run.json");
    assert!(
        run["model"]
            .as_str()
            .is_some_and(|m| m.contains("random init")),
        "{run}"
    );
    assert_eq!(run["refinement"]["skipped"], serde_json::json!([]), "{run}");
    check_refinement_tables(&out);
}
