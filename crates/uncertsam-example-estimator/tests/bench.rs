//! The example estimator runs through the whole benchmark from outside the workspace's
//! registry: `uncertsam_bench::run_with` with this crate's plugin, in process and as the
//! `uncertsam-example` binary with two `--jobs` workers (each worker is that binary too).

use std::path::{Path, PathBuf};
use std::process::Command;

use uncertsam_example_estimator::bench::TemperatureScalingPlugin;

fn data(root: &Path) -> PathBuf {
    let dir = root.join("data");
    let cfg = uncertsam_data::synth::SynthConfig {
        train: 3,
        val: 1,
        test: 2,
        shifted_test: 1,
        shifts: vec![],
        ..Default::default()
    };
    uncertsam_data::synth::generate(&cfg, &dir).expect("synthetic data");
    dir
}

fn bench_args(data: &Path, out: &Path) -> Vec<String> {
    [
        "bench",
        "--datasets",
        "Synth-Clean",
        "--estimators",
        "entropy,temperature:fit_images=2",
        "--refine",
        "none",
        "--data",
        &data.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]
    .map(String::from)
    .to_vec()
}

fn assert_summary_has_temperature(out: &Path) -> String {
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(summary.contains("| entropy |"), "{summary}");
    let row = summary
        .lines()
        .find(|l| l.starts_with("| temperature(t="))
        .unwrap_or_else(|| panic!("no temperature row in\n{summary}"));
    assert!(row.matches('|').count() > 5, "{row}");
    std::fs::read_to_string(out.join("rows.csv")).expect("rows.csv")
}

#[test]
fn the_example_estimator_runs_through_the_benchmark() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = data(tmp.path());
    let out = tmp.path().join("run");
    let mut argv = vec!["uncertsam-example".to_string()];
    argv.extend(bench_args(&data, &out));
    argv.extend(["--jobs".into(), "1".into()]);
    let code = uncertsam_bench::run_with(&TemperatureScalingPlugin, argv).expect("bench");
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let rows = assert_summary_has_temperature(&out);

    // The binary, with two worker processes of itself: the same rows.
    let out2 = tmp.path().join("run2");
    let status = Command::new(env!("CARGO_BIN_EXE_uncertsam-example"))
        .args(bench_args(&data, &out2))
        .args(["--jobs", "2"])
        .status()
        .expect("uncertsam-example");
    assert!(status.success());
    assert_eq!(assert_summary_has_temperature(&out2), rows);
}

#[test]
fn the_listing_shows_the_registered_estimator() {
    let out = Command::new(env!("CARGO_BIN_EXE_uncertsam-example"))
        .args(["bench", "--list-estimators"])
        .output()
        .expect("uncertsam-example");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("temperature") && text.contains("fit_images=8"),
        "{text}"
    );
    assert!(text.contains("mc_dropout"), "{text}");
}
