//! `docs/results.md`: the embedded default's benchmark table, rebuilt from a finished run by
//! `cargo xtask results` (which runs the default benchmark first), followed by the embedded
//! SAM 2's ([`crate::results_sam2`]) when that run is given.
//!
//! The page is made only of files the run and the training wrote: the model's manifest
//! (`fixtures/default/manifest.json`), the run's `run.json` and `summary.md`, and two of its
//! plots, copied next to the page so that it renders on its own.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::parts::write_atomic;

/// Plots copied next to the page (`<doc dir>/results/`), when the run wrote them.
const PLOTS: [&str; 3] = [
    "Synth-Camouflage_gallery.png",
    "Synth-Camouflage_unc_vs_error.png",
    "Synth-Clean_risk_coverage.png",
];

/// What the page says about how the run was made.
pub struct RunInfo<'a> {
    /// The command that regenerates the page.
    pub command: &'a str,
    /// Wall time of the benchmark run, in seconds.
    pub wall_s: f64,
    /// Worker threads of the run.
    pub threads: usize,
}

/// Writes `doc` (for example `docs/results.md`) from the finished run in `run_dir` and, when
/// given, the embedded SAM 2's run `sam2_run`.
pub fn write_results_doc(
    run_dir: &Path,
    sam2_run: Option<&Path>,
    doc: &Path,
    info: &RunInfo<'_>,
) -> Result<()> {
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let summary = read(&run_dir.join("summary.md"))?;
    let run: serde_json::Value = serde_json::from_str(&read(&run_dir.join("run.json"))?)
        .with_context(|| format!("parsing {}", run_dir.join("run.json").display()))?;
    let manifest_path = crate::inputs::project_root().join("fixtures/default/manifest.json");
    let manifest: Option<serde_json::Value> = std::fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());

    let mut md = String::from("# Results of the embedded default\n\n");
    let _ = writeln!(
        md,
        "Regenerate with `{}` (this page, its plots in `results/`, and the run in `{}`).\n",
        info.command,
        run_dir.display()
    );
    let _ = writeln!(
        md,
        "- model: {}\n- estimators: {}\n- prompt: {}, seed {}, {} samples per sampling estimator, split `{}`\n- benchmark wall time: {:.0} s on {} threads",
        run["model"].as_str().unwrap_or("?"),
        run["estimators"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default(),
        run["prompt"].as_str().unwrap_or("?"),
        run["seed"],
        run["samples"],
        run["split"].as_str().unwrap_or("?"),
        info.wall_s,
        info.threads,
    );
    if let Some(m) = &manifest {
        md.push_str("\n## The model\n\n");
        let _ = writeln!(
            md,
            "Trained by `{}` (seed {}, {} parameters, {:.0} s in all; `fixtures/default/manifest.json`).\n",
            m["command"].as_str().unwrap_or("?"),
            m["seed"],
            m["parameters"],
            m["wall_time_s"]["total"].as_f64().unwrap_or(f64::NAN)
        );
        // The chain of `--init` runs, newest first.
        let mut stage = m;
        while let Some(command) = stage["init"]["manifest"]["command"].as_str() {
            let init = &stage["init"];
            let _ = writeln!(
                md,
                "It started from `{}` (SHA-256 `{}`), trained by `{command}` ({:.0} s).\n",
                init["path"].as_str().unwrap_or("?"),
                init["sha256"].as_str().unwrap_or("?"),
                init["manifest"]["wall_time_s"]["total"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
            );
            stage = &init["manifest"];
        }
        md.push_str(&crate::results_sam2::model_table(m));
    }
    let doc_dir = doc.parent().context("--doc has no parent directory")?;
    let mut shown = Vec::new();
    for name in PLOTS {
        let src = run_dir.join("plots").join(name);
        if let Ok(bytes) = std::fs::read(&src) {
            write_atomic(&doc_dir.join("results").join(name), &bytes)?;
            shown.push(name);
        }
    }
    if !shown.is_empty() {
        md.push_str("\n## Plots\n\n");
        for name in shown {
            let _ = writeln!(md, "![{name}](results/{name})\n");
        }
    }
    md.push_str("\n## Summary (the run's summary.md)\n\n");
    // The run's own title is replaced by this page's.
    let body = summary
        .strip_prefix("# Benchmark summary\n")
        .unwrap_or(&summary);
    md.push_str(body.trim_start());
    if let Some(sam2_run) = sam2_run {
        let manifest = crate::inputs::embedded_family_dir(true).join("manifest.json");
        md.push_str(&crate::results_sam2::section(run_dir, sam2_run, &manifest)?);
    }
    write_atomic(doc, md.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_the_summary_and_the_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("run");
        std::fs::create_dir_all(run.join("plots")).expect("mkdir");
        std::fs::write(
            run.join("summary.md"),
            "# Benchmark summary\n\nintro\n\n## Synth-Clean\n| a |\n",
        )
        .expect("write");
        std::fs::write(
            run.join("run.json"),
            r#"{"model":"m","estimators":["entropy"],"prompt":"Box","seed":0,"samples":10,"split":"test"}"#,
        )
        .expect("write");
        std::fs::write(run.join("plots").join(PLOTS[0]), b"png").expect("write");
        let doc = dir.path().join("docs/results.md");
        let info = RunInfo {
            command: "cargo xtask results",
            wall_s: 12.0,
            threads: 2,
        };
        write_results_doc(&run, None, &doc, &info).expect("doc");
        let text = std::fs::read_to_string(&doc).expect("read");
        assert!(text.contains("`cargo xtask results`"), "{text}");
        assert!(text.contains("## Synth-Clean\n| a |"), "{text}");
        assert!(!text.contains("# Benchmark summary"), "{text}");
        assert!(text.contains(&format!("(results/{})", PLOTS[0])), "{text}");
        assert_eq!(
            std::fs::read(dir.path().join("docs/results").join(PLOTS[0])).expect("copied"),
            b"png"
        );
    }

    #[test]
    fn a_missing_run_is_a_named_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let info = RunInfo {
            command: "x",
            wall_s: 0.0,
            threads: 1,
        };
        let err = write_results_doc(
            &dir.path().join("nope"),
            None,
            &dir.path().join("r.md"),
            &info,
        )
        .expect_err("missing");
        assert!(format!("{err:#}").contains("summary.md"), "{err:#}");
    }
}
