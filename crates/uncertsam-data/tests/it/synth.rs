//! The synthetic benchmark: deterministic bytes, the real loader, and valid masks.

use std::collections::BTreeMap;
use std::path::Path;

use uncertsam_data::synth::{Condition, SynthConfig, generate};
use uncertsam_data::{SampleSource, UncertSamSplit};

fn small() -> SynthConfig {
    SynthConfig {
        seed: 7,
        width: 64,
        height: 48,
        train: 3,
        val: 2,
        test: 2,
        shifted_test: 2,
        ..SynthConfig::default()
    }
}

fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("prefix")
                    .display()
                    .to_string();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

#[test]
fn one_seed_gives_byte_identical_files() {
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    generate(&small(), a.path()).expect("generate a");
    generate(&small(), b.path()).expect("generate b");
    let (ta, tb) = (read_tree(a.path()), read_tree(b.path()));
    assert_eq!(
        ta.len(),
        9 + (3 + 2 + 2 + 6 * 2) + 1,
        "{:?}",
        ta.keys().collect::<Vec<_>>()
    );
    assert!(
        ta == tb,
        "regenerating with the same seed changed some file"
    );
    assert!(
        !ta.keys().any(|k| k.ends_with(".tmp")),
        "temporary files left behind"
    );
}

#[test]
fn another_seed_gives_other_images() {
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    generate(&small(), a.path()).expect("generate a");
    generate(&SynthConfig { seed: 8, ..small() }, b.path()).expect("generate b");
    let img = "Synth-Clean/train/images/00000000.jpg";
    assert_ne!(read_tree(a.path())[img], read_tree(b.path())[img]);
}

#[test]
fn images_do_not_depend_on_how_many_are_generated() {
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    generate(&small(), a.path()).expect("generate a");
    generate(
        &SynthConfig {
            train: 1,
            shifts: vec![Condition::Fine],
            ..small()
        },
        b.path(),
    )
    .expect("generate b");
    for f in [
        "Synth-Clean/train/images/00000000.jpg",
        "Synth-Fine/test/images/00000001.jpg",
    ] {
        assert_eq!(read_tree(a.path())[f], read_tree(b.path())[f], "{f}");
    }
}

#[test]
fn every_synthetic_split_loads_through_the_uncertsam_loader() {
    let tmp = tempfile::tempdir().expect("tmp");
    let summary = generate(&small(), tmp.path()).expect("generate");
    assert_eq!(summary.splits.len(), 3 + 6);
    for s in &summary.splits {
        let split = UncertSamSplit::open(tmp.path(), &s.dataset, &s.split).expect("open");
        assert_eq!(split.len(), s.images);
        let mut masks = 0;
        for sample in split.samples() {
            let sample = sample.expect("synthetic samples are valid");
            assert_eq!((sample.image.width(), sample.image.height()), (64, 48));
            assert!(
                (1..=4).contains(&sample.masks.len()),
                "{} masks",
                sample.masks.len()
            );
            for m in &sample.masks {
                assert!(m.mask.area() > 0);
            }
            // Instances do not overlap.
            for i in 0..sample.masks.len() {
                for j in i + 1..sample.masks.len() {
                    let both = sample.masks[i]
                        .mask
                        .data()
                        .iter()
                        .zip(sample.masks[j].mask.data());
                    assert_eq!(both.filter(|(a, b)| **a & **b == 1).count(), 0);
                }
            }
            masks += sample.masks.len();
        }
        assert_eq!(masks, s.masks, "{}/{}", s.dataset, s.split);
    }
}

#[test]
fn a_smaller_rerun_removes_stale_images() {
    let tmp = tempfile::tempdir().expect("tmp");
    generate(&small(), tmp.path()).expect("generate");
    generate(
        &SynthConfig {
            train: 1,
            ..small()
        },
        tmp.path(),
    )
    .expect("regenerate");
    let split = UncertSamSplit::open(tmp.path(), "Synth-Clean", "train").expect("open");
    assert_eq!(split.len(), 1);
}

#[test]
fn invalid_configs_are_rejected_with_a_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    let err = generate(
        &SynthConfig {
            width: 4,
            ..small()
        },
        tmp.path(),
    )
    .expect_err("too small");
    assert!(err.to_string().contains("width"), "{err}");
}

#[test]
fn a_partial_json_config_takes_defaults() {
    let config: SynthConfig =
        serde_json::from_str(r#"{"seed": 3, "shifts": ["ct", "flare"]}"#).expect("parse");
    assert_eq!(config.seed, 3);
    assert_eq!(config.shifts, [Condition::Ct, Condition::Flare]);
    assert_eq!(config.width, SynthConfig::default().width);
}
