//! Laplace for a model without embedded fits is fitted once per run (`<out>/fitted/<name>/`):
//! the workers of `--jobs` load the parent's fit and give one process's bytes, a `--resume`
//! loads it instead of refitting, and a fit whose key no longer matches is refitted.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::resume::{bin, data, read};

/// Runs the benchmark with both Laplace variants on a random-init model; returns whether it
/// succeeded and how many fits it ran (its "fitting ..." lines).
fn laplace_run(out: &Path, extra: &[&str]) -> (bool, usize) {
    let run = Command::new(bin())
        .args([
            "bench",
            "--quick",
            "--model",
            "tiny",
            "--random-init",
            "--estimators",
            "entropy,laplace_probit,laplace_paper",
            "--refine",
            "none",
            "--samples",
            "2",
            "--data",
        ])
        .arg(data())
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run uncertsam bench");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let fits = stderr
        .lines()
        .filter(|l| l.starts_with("fitting laplace"))
        .count();
    (run.status.success(), fits)
}

fn modified(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn workers_share_one_laplace_fit_resume_loads_it_and_a_stale_key_refits() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    assert_eq!(laplace_run(&one, &["--jobs", "1"]), (true, 2));
    assert_eq!(
        laplace_run(&two, &["--jobs", "2"]),
        (true, 2),
        "two workers: each variant is fitted once, by the parent"
    );
    for f in ["rows.csv", "summary.json"] {
        assert_eq!(
            read(&one.join(f)),
            read(&two.join(f)),
            "{f} of the 2-worker run differs"
        );
    }
    for name in ["laplace_probit", "laplace_paper"] {
        let dir = two.join("fitted").join(name);
        assert!(dir.join("fit-key.json").exists(), "{}", dir.display());
        assert_eq!(
            read(&one.join("fitted").join(name).join("laplace.safetensors")),
            read(&dir.join("laplace.safetensors")),
            "{name}: the fits of the two runs differ"
        );
    }
    let fitted = std::fs::read_dir(two.join("fitted")).unwrap().count();
    assert_eq!(fitted, 2, "no temporary fit directory is left behind");

    let dir = one.join("fitted/laplace_probit");
    let (tensors, key) = (dir.join("laplace.safetensors"), dir.join("fit-key.json"));
    let (before, key_bytes) = (modified(&tensors), read(&key));
    assert_eq!(laplace_run(&one, &["--resume"]), (true, 0));
    assert_eq!(
        modified(&tensors),
        before,
        "a --resume refitted a fresh fit"
    );

    std::fs::write(&key, b"{}").unwrap();
    assert_eq!(laplace_run(&one, &["--resume"]), (true, 1));
    assert_ne!(modified(&tensors), before, "a stale fit was not refitted");
    assert_eq!(read(&key), key_bytes);
    assert_eq!(read(&one.join("rows.csv")), read(&two.join("rows.csv")));
}
