//! A run killed part way and resumed gives the same bytes as an uninterrupted run; two runs
//! with one seed give identical CSVs; two shards merged give the same tables. Every run
//! includes refinement rows (fusion weights trained by `uncertsam fit-fusion` on the test
//! data, shrinking, the ablations and the three click placements); `refine.rs` checks them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `uncertsam` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_uncertsam"))
}

/// A small synthetic benchmark shared by the tests (generated once per test process).
pub fn data() -> PathBuf {
    crate::small_synth::small_synth("uncertsam-bench-it")
}

/// Fusion weights for the entropy first pass, trained once per test process on the test data.
pub fn fusion() -> PathBuf {
    static FUSION: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FUSION
        .get_or_init(|| {
            let dir = data().with_extension("fusion");
            let status = Command::new(bin())
                .args([
                    "fit-fusion",
                    "--refine-with",
                    "entropy",
                    "--images",
                    "2",
                    "--epochs",
                    "1",
                    "--data",
                ])
                .arg(data())
                .arg("--fusion")
                .arg(&dir)
                .stdout(Stdio::null())
                .status()
                .expect("fit-fusion");
            assert!(status.success(), "fit-fusion failed");
            dir
        })
        .clone()
}

/// The benchmark on the test data, with refinement driven by the entropy first pass, in one
/// process (`--jobs 1`, so that killing it stops the run; `extra` may override it).
pub fn bench(out: &Path, extra: &[&str]) -> Command {
    bench_with_fusion(out, extra, &fusion())
}

/// [`bench`] with the fusion weights read from `fusion`.
pub fn bench_with_fusion(out: &Path, extra: &[&str], fusion: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args([
        "bench",
        "--quick",
        "--samples",
        "3",
        "--seed",
        "7",
        "--refine-with",
        "entropy",
        "--clicks",
        "2",
        "--jobs",
        "1",
        "--data",
    ])
    .arg(data())
    .arg("--fusion")
    .arg(fusion)
    .arg("--out")
    .arg(out)
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parts(out: &Path) -> usize {
    walk(&out.join("parts"))
}

pub fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p)
                    } else {
                        usize::from(p.extension().is_some_and(|x| x == "json"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn killed_run_resumes_to_the_same_bytes_and_runs_are_deterministic() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b, k) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("killed"),
    );
    assert!(bench(&a, &[]).status().expect("run a").success());
    assert!(bench(&b, &[]).status().expect("run b").success());
    for f in ["rows.csv", "refine_rows.csv", "summary.json", "summary.md"] {
        assert_eq!(
            read(&a.join(f)),
            read(&b.join(f)),
            "{f} differs between two runs with one seed"
        );
    }
    let total = parts(&a);
    assert!(total >= 4, "only {total} parts");

    // Kill a run as soon as its first image is written.
    let mut child = bench(&k, &[]).spawn().expect("spawn");
    let start = Instant::now();
    while parts(&k) == 0 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    let partial = parts(&k);
    assert!(
        partial >= 1 && partial < total,
        "killed run left {partial} of {total} parts"
    );
    assert!(
        !k.join("rows.csv").exists(),
        "a killed run must not have written tables"
    );

    // Without --resume the run refuses to touch the results; with it, it finishes.
    assert!(!bench(&k, &[]).status().expect("rerun").success());
    assert!(bench(&k, &["--resume"]).status().expect("resume").success());
    assert_eq!(parts(&k), total);
    for f in ["rows.csv", "refine_rows.csv", "summary.json", "summary.md"] {
        assert_eq!(
            read(&a.join(f)),
            read(&k.join(f)),
            "{f} of the resumed run differs"
        );
    }
}

#[test]
fn worker_processes_give_the_bytes_of_one_process() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (one, three) = (tmp.path().join("one"), tmp.path().join("three"));
    assert!(bench(&one, &[]).status().expect("run").success());
    let out = bench(&three, &["--jobs", "3"])
        .stdout(Stdio::piped())
        .output()
        .expect("run with 3 workers");
    assert!(out.status.success());
    let images = parts(&one);
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with(&format!("{images} images, 0 bad samples")),
        "{line}"
    );
    for f in [
        "rows.csv",
        "refine_rows.csv",
        "summary.json",
        "summary.md",
        "run.json",
    ] {
        assert_eq!(
            read(&one.join(f)),
            read(&three.join(f)),
            "{f} of the 3-worker run differs"
        );
    }
}

#[test]
fn two_shards_merged_equal_one_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (one, sharded) = (tmp.path().join("one"), tmp.path().join("sharded"));
    assert!(bench(&one, &[]).status().expect("run").success());
    assert!(
        bench(&sharded, &["--shard", "0/2"])
            .status()
            .expect("shard 0")
            .success()
    );
    assert!(
        bench(&sharded, &["--shard", "1/2", "--resume"])
            .status()
            .expect("shard 1")
            .success()
    );
    let merge = Command::new(bin())
        .args(["merge", "--seed", "7", "--out"])
        .arg(&sharded)
        .stdout(Stdio::null())
        .status()
        .expect("merge");
    assert!(merge.success());
    for f in ["rows.csv", "refine_rows.csv", "summary.json"] {
        assert_eq!(
            read(&one.join(f)),
            read(&sharded.join(f)),
            "{f} of the merged shards differs"
        );
    }
    crate::refine::check_refinement_tables(&one);
}

#[test]
fn unknown_estimator_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(bin())
        .args(["bench", "--quick", "--estimators", "nope", "--data"])
        .arg(data())
        .arg("--out")
        .arg(tmp.path().join("x"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown estimator `nope`"), "{err}");
}
