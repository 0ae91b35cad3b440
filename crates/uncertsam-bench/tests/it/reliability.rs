//! Faults a user meets, end to end (docs/reliability.md): a missing `--data` and an unreadable
//! dataset fail the run naming the path; broken annotations and a missing image file are bad
//! samples in the summary; a panic exits at once; the workers of `--jobs` die with their parent,
//! and `--resume` then gives the bytes of an uninterrupted run.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::resume::{bench, bin, data, read};

/// A one-estimator quick run on `root`'s `datasets`.
fn small_run(root: &Path, datasets: &str, out: &Path) -> Output {
    small_run_with(root, datasets, out, &["--quick"])
}

/// [`small_run`] with `extra` options instead of `--quick`.
fn small_run_with(root: &Path, datasets: &str, out: &Path, extra: &[&str]) -> Output {
    Command::new(bin())
        .args([
            "bench",
            "--estimators",
            "entropy",
            "--refine-with",
            "entropy",
        ])
        .args(extra)
        .args([
            "--clicks",
            "1",
            "--jobs",
            "1",
            "--datasets",
            datasets,
            "--data",
        ])
        .arg(root)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run uncertsam")
}

#[test]
fn a_missing_data_path_fails_naming_it_and_generates_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let missing = tmp.path().join("my-data");
    let out = small_run(&missing, "Synth-Clean", &tmp.path().join("out"));
    assert!(!out.status.success(), "a missing --data must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(missing.to_str().expect("utf8")), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(
        !missing.exists(),
        "nothing may be generated at a user's --data"
    );
}

#[test]
fn an_unreadable_dataset_fails_the_run_naming_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = small_run(&data(), "Synth-Clean,No-Such-Set", &tmp.path().join("out"));
    assert!(
        !out.status.success(),
        "an unreadable dataset must fail the run"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("No-Such-Set"), "{err}");
    assert!(err.contains("could not be read"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let p = e.expect("entry").path();
        let q = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy_dir(&p, &q);
        } else {
            std::fs::copy(&p, &q).expect("copy");
        }
    }
}

#[test]
fn broken_annotations_and_a_missing_image_are_bad_samples_not_a_lost_dataset() {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("data");
    let split = root.join("Broken/test");
    copy_dir(&data().join("Synth-Clean/test"), &split);
    let ann_path = split.join("annotations/dataset.json");
    let mut file: serde_json::Value = serde_json::from_slice(&read(&ann_path)).expect("json");
    let anns = file["annotations"].as_array_mut().expect("array");
    let first_image = anns[0]["image_id"].as_u64().expect("id");
    // One annotation loses a field; another's image file goes missing.
    anns.push(serde_json::json!({"id": 999, "image_id": first_image, "area": 3}));
    std::fs::write(&ann_path, serde_json::to_vec(&file).expect("json")).expect("write");
    let mut images: Vec<_> = std::fs::read_dir(split.join("images"))
        .expect("images")
        .map(|e| e.expect("entry").path())
        .collect();
    images.sort();
    let removed = images.last().expect("an image").clone();
    std::fs::remove_file(&removed).expect("rm");

    // Without --quick: every entry of the split, the bad ones included, is run.
    let out_dir = tmp.path().join("out");
    let out = small_run_with(&root, "Broken", &out_dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&read(&out_dir.join("summary.json"))).expect("summary");
    let d = &summary[0];
    assert_eq!(d["dataset"], "Broken");
    assert_eq!(
        d["images"],
        images.len() - 1,
        "the intact images are evaluated"
    );
    let bad: Vec<String> = d["bad_samples"]
        .as_array()
        .expect("bad samples")
        .iter()
        .map(|b| b.as_str().expect("str").to_string())
        .collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    let stem = removed.file_stem().and_then(|s| s.to_str()).expect("stem");
    assert!(
        bad.iter()
            .any(|b| b.contains("no image file") && b.contains(stem)),
        "{bad:?}"
    );
    assert!(
        bad.iter()
            .any(|b| b.contains("id 999") && b.contains("segmentation")),
        "{bad:?}"
    );
    let md = String::from_utf8(read(&out_dir.join("summary.md"))).expect("utf8");
    assert!(md.contains("2 bad samples skipped"), "{md}");
    // Every annotation is counted as requested; the broken one and the missing image's are not
    // evaluated.
    let anns = file["annotations"].as_array().expect("array");
    let removed_id: u64 = stem.parse().expect("an id stem");
    let of_removed = anns
        .iter()
        .filter(|a| a["image_id"].as_u64() == Some(removed_id))
        .count();
    assert!(of_removed > 0);
    let (requested, evaluated) = (anns.len(), anns.len() - 1 - of_removed);
    assert_eq!(d["masks_requested"], requested);
    assert_eq!(d["masks_evaluated"], evaluated);
    let rows = String::from_utf8(read(&out_dir.join("rows.csv"))).expect("utf8");
    assert_eq!(
        rows.lines().count() - 1,
        evaluated,
        "one row per evaluated mask"
    );
    assert!(
        md.contains(&format!("{evaluated} of {requested} masks evaluated"))
            && md.contains(&format!(
                "Masks: {requested} requested, {evaluated} evaluated (2 bad samples)"
            )),
        "{md}"
    );
    let run: serde_json::Value =
        serde_json::from_slice(&read(&out_dir.join("run.json"))).expect("run.json");
    assert_eq!(run["outcome"]["masks_requested"], requested);
    assert_eq!(run["outcome"]["masks_evaluated"], evaluated);
    assert_eq!(
        run["outcome"]["bad_samples"]
            .as_array()
            .map(|b| b.iter().map(|x| x["error"].clone()).collect::<Vec<_>>()),
        Some(bad.iter().map(|b| serde_json::json!(b)).collect())
    );
    // The bad samples' parts carry their image id when it is known.
    let parts = out_dir.join("parts/Broken");
    let with_error: Vec<serde_json::Value> = std::fs::read_dir(&parts)
        .expect("parts")
        .map(|e| serde_json::from_slice(&read(&e.expect("entry").path())).expect("part"))
        .filter(|p: &serde_json::Value| !p["error"].is_null())
        .collect();
    assert_eq!(with_error.len(), 2);
    assert!(
        with_error.iter().all(|p| p["image_id"].is_u64()),
        "{with_error:?}"
    );
}

/// In the child: the panic hook, then a panic on another thread while this one waits.
#[test]
fn a_panic_on_any_thread_exits_at_once_with_code_101() {
    if std::env::var_os("UNCERTSAM_PANIC_CHILD").is_some() {
        uncertsam_bench::crash::exit_on_panic();
        std::thread::spawn(|| panic!("injected panic"));
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let start = Instant::now();
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "reliability::a_panic_on_any_thread_exits_at_once_with_code_101",
        ])
        .env("UNCERTSAM_PANIC_CHILD", "1")
        .output()
        .expect("child");
    assert!(start.elapsed() < Duration::from_secs(30), "the child hung");
    assert_eq!(out.status.code(), Some(101));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("injected panic") && err.contains("internal error"),
        "{err}"
    );
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                // pid (comm) state ppid ...
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn workers_die_with_their_parent_and_resume_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, k) = (tmp.path().join("a"), tmp.path().join("killed"));
    assert!(bench(&a, &[]).status().expect("run a").success());
    let mut parent = bench(&k, &["--jobs", "2"]).spawn().expect("spawn");
    let start = Instant::now();
    let mut workers = Vec::new();
    while workers.len() < 2 && start.elapsed() < Duration::from_secs(120) {
        workers = children_of(parent.id());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(workers.len(), 2, "the workers did not start");
    parent.kill().expect("kill the parent");
    let _ = parent.wait();
    let start = Instant::now();
    while workers.iter().any(|w| alive(*w)) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !workers.iter().any(|w| alive(*w)),
        "workers outlived their parent"
    );
    assert!(bench(&k, &["--resume"]).status().expect("resume").success());
    for f in ["rows.csv", "refine_rows.csv", "summary.json", "summary.md"] {
        assert_eq!(
            read(&a.join(f)),
            read(&k.join(f)),
            "{f} of the resumed run differs"
        );
    }
}

#[test]
fn a_second_run_on_the_same_out_is_refused_naming_the_holder_and_the_lock_dies_with_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    let mut first = bench(&out, &["--jobs", "2"]).spawn().expect("spawn");
    let start = Instant::now();
    // The lock is taken before the workers start.
    while children_of(first.id()).len() < 2 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = bench(&out, &["--resume"])
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("second run");
    let still_running = first.try_wait().expect("poll").is_none();
    let workers = children_of(first.id());
    first.kill().expect("kill the first run");
    let _ = first.wait();
    assert!(
        still_running,
        "the first run ended before the second started"
    );
    assert!(
        !second.status.success(),
        "a second run on one --out must fail"
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("in use by another uncertsam run")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );
    // The kernel dropped the killed run's lock: resuming needs no clean-up.
    let start = Instant::now();
    while workers.iter().any(|w| alive(*w)) && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        bench(&out, &["--resume"])
            .status()
            .expect("resume")
            .success()
    );
}

#[test]
fn fit_fit_fusion_and_predict_refuse_a_missing_data_path_and_generate_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let missing = tmp.path().join("my-data");
    let mut images: Vec<_> = std::fs::read_dir(data().join("Synth-Clean/test/images"))
        .expect("images")
        .map(|e| e.expect("entry").path())
        .collect();
    images.sort();
    let out = |name: &str| tmp.path().join(name).display().to_string();
    let (missing_s, image) = (
        missing.display().to_string(),
        images[0].display().to_string(),
    );
    let commands: [Vec<String>; 3] = [
        [
            "fit",
            "--estimator",
            "laplace_probit",
            "--data",
            &missing_s,
            "--out",
            &out("fit"),
        ]
        .map(String::from)
        .to_vec(),
        [
            "fit-fusion",
            "--epochs",
            "1",
            "--data",
            &missing_s,
            "--fusion",
            &out("fusion"),
        ]
        .map(String::from)
        .to_vec(),
        // A random-init model has no committed Laplace fit, so predict fits on --data.
        [
            "predict",
            "--image",
            &image,
            "--box",
            "8,8,120,120",
            "--estimator",
            "laplace_probit",
            "--random-init",
            "--model",
            "tiny",
            "--data",
            &missing_s,
            "--out",
            &out("predict"),
        ]
        .map(String::from)
        .to_vec(),
    ];
    for args in commands {
        let run = Command::new(bin())
            .args(&args)
            .output()
            .expect("run uncertsam");
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} must fail: {err}");
        assert!(
            err.contains(&missing_s) && err.contains("does not exist"),
            "{args:?}: {err}"
        );
        assert!(
            !missing.exists(),
            "{args:?} generated data at the user's --data"
        );
    }
}
