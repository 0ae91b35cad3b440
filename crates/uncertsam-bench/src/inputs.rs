//! The inputs of a run: the model (`--checkpoint`, `--random-init` or the embedded default),
//! the datasets under `--data`, and the prompt of every mask. First in the bench's one-way
//! flow: inputs -> fitted -> registry -> process -> run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use uncertsam_data::prompts::{jitter_box, sample_points, tight_box};
use uncertsam_data::{Sample, SampleSeed};
use uncertsam_estimate::{AnyConfig, AnySam};
use uncertsam_sam::{PromptBatch, PromptRow, Sam, SamConfig};

use crate::args::{BenchArgs, PromptKind};

/// The repository root (where `fixtures/` lives).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `--model` name of the embedded SAM 2 default (`fixtures/default-sam2`).
pub const EMBEDDED_SAM2: &str = "sam2";

/// The embedded default of a model family: `fixtures/default` (SAM v1) or
/// `fixtures/default-sam2` (`--model sam2`).
pub fn embedded_family_dir(sam2: bool) -> PathBuf {
    project_root().join(if sam2 {
        "fixtures/default-sam2"
    } else {
        "fixtures/default"
    })
}

/// The directory of the embedded default the run uses (no `--checkpoint`, no
/// `--random-init`): `fixtures/default` (SAM v1), or `fixtures/default-sam2` with `--model
/// sam2`. Its fitted files (`{ensemble,fusion,laplace_*,variance_net}`) then apply.
pub fn embedded_dir(args: &BenchArgs) -> Option<PathBuf> {
    if args.checkpoint.is_some() || args.random_init {
        return None;
    }
    match args.model.as_deref() {
        None => Some(embedded_family_dir(false)),
        Some(EMBEDDED_SAM2) => Some(embedded_family_dir(true)),
        Some(_) => None,
    }
}

/// Whether the run uses an embedded default ([`embedded_dir`]).
pub fn uses_embedded_model(args: &BenchArgs) -> bool {
    embedded_dir(args).is_some()
}

/// The `--model` geometry: a preset name or a config.json path.
pub fn model_config(model: &str) -> Result<AnyConfig> {
    if let Some(c) = AnyConfig::preset(model) {
        return Ok(c);
    }
    let text = std::fs::read_to_string(model).with_context(|| {
        format!(
            "--model `{model}` is neither a preset (vit_b, vit_l, vit_h, tiny, mobile_sam, \
             sam2_hiera_t, sam2_hiera_s, sam2_hiera_b+, sam2_hiera_l) nor a readable config.json"
        )
    })?;
    AnyConfig::from_json(&text).with_context(|| format!("parsing {model}"))
}

/// Loads `--checkpoint` with the `--model` geometry, random `--model` weights with
/// `--random-init`, or the embedded default model.
pub fn load_model<B: Backend>(args: &BenchArgs, device: &B::Device) -> Result<(AnySam<B>, String)> {
    if let Some(ckpt) = &args.checkpoint {
        let name = args.model.as_deref().unwrap_or("vit_b");
        let sam = AnySam::new(&model_config(name)?, device)?
            .load_checkpoint(ckpt)
            .with_context(|| format!("loading {} as {name}", ckpt.display()))?;
        return Ok((sam, format!("{} ({name})", ckpt.display())));
    }
    if args.random_init {
        let name = args
            .model
            .as_deref()
            .context("--random-init needs --model (the geometry to initialise)")?;
        B::seed(device, args.seed);
        let sam = AnySam::new(&model_config(name)?, device)?;
        return Ok((sam, format!("random init ({name}, seed {})", args.seed)));
    }
    if args.model.as_deref() == Some(EMBEDDED_SAM2) {
        let sam = load_embedded_dir(&embedded_family_dir(true), device)?;
        return Ok((sam, "embedded SAM 2 default (fixtures/default-sam2)".into()));
    }
    if let Some(name) = &args.model {
        bail!(
            "--model `{name}` without weights: pass --checkpoint <official checkpoint> to load \
             them, --random-init for random weights (smoke tests only), or `--model sam2` for \
             the embedded SAM 2 default"
        );
    }
    let (sam, what) = load_embedded_model(device)?;
    Ok((AnySam::Sam(sam), what))
}

/// Loads an embedded default of either family from `dir` (`config.json` and
/// `sam.safetensors`).
pub fn load_embedded_dir<B: Backend>(dir: &Path, device: &B::Device) -> Result<AnySam<B>> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).with_context(|| {
        format!(
            "reading {} (train this embedded default with `cargo xtask train{}`)",
            cfg_path.display(),
            if dir.ends_with("default-sam2") {
                " --model sam2"
            } else {
                ""
            }
        )
    })?;
    let config =
        AnyConfig::from_json(&text).with_context(|| format!("parsing {}", cfg_path.display()))?;
    let weights = dir.join("sam.safetensors");
    AnySam::new(&config, device)?
        .load_checkpoint(&weights)
        .with_context(|| format!("loading {}", weights.display()))
}

/// Loads the embedded default model (`fixtures/default`), or the random-weight parity model if
/// it is missing; returns it with a description.
pub fn load_embedded_model<B: Backend>(device: &B::Device) -> Result<(Sam<B>, String)> {
    let default = project_root().join("fixtures/default");
    let (dir, weights, what) = if default.join("sam.safetensors").exists() {
        (
            default.clone(),
            default.join("sam.safetensors"),
            "embedded default (fixtures/default)",
        )
    } else {
        let tiny = project_root().join("fixtures/sam/tiny_256");
        eprintln!(
            "warning: fixtures/default/sam.safetensors not found; using the random-weight parity model"
        );
        (
            tiny.clone(),
            tiny.join("model.safetensors"),
            "random-weight parity model (fixtures/sam/tiny_256)",
        )
    };
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("reading {}", cfg_path.display()))?;
    let config: SamConfig =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", cfg_path.display()))?;
    let sam = Sam::new(&config, device)?.load_checkpoint(&weights)?;
    Ok((sam, what.to_string()))
}

/// The datasets to run: `--datasets`, else every `Synth-*` directory, else every directory.
pub fn datasets(args: &BenchArgs) -> Result<Vec<String>> {
    if !args.datasets.is_empty() {
        return Ok(args.datasets.clone());
    }
    let mut all: Vec<String> = std::fs::read_dir(&args.data)
        .with_context(|| format!("reading benchmark root {}", args.data.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(&args.split).is_dir())
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .collect();
    all.sort();
    // The clean split first, then the shifts.
    all.sort_by_key(|d| d != "Synth-Clean");
    if all.is_empty() {
        bail!(
            "no dataset with a `{}` split under {}",
            args.split,
            args.data.display()
        );
    }
    Ok(all)
}

/// One prompt row per mask, in original-image pixels, seeded per mask.
pub fn prompt_rows(sample: &Sample, kind: PromptKind, seed: u64) -> Result<PromptBatch> {
    let (w, h) = (
        sample.image.width() as usize,
        sample.image.height() as usize,
    );
    let mut batch = PromptBatch::new();
    for m in &sample.masks {
        let b = tight_box(&m.mask)
            .with_context(|| format!("{}: mask {} is empty", sample.image_path.display(), m.id))?;
        let mut rng =
            SampleSeed::new(seed, &sample.dataset, sample.image_id, m.id).rng("bench/prompt");
        let row = match kind {
            PromptKind::Box => PromptRow {
                bbox: Some(b.map(f64::from)),
                ..Default::default()
            },
            PromptKind::JitteredBox => PromptRow {
                bbox: Some(jitter_box(b, w, h, &mut rng).map(f64::from)),
                ..Default::default()
            },
            PromptKind::Point => {
                let p = sample_points(&m.mask, 1, 0, &mut rng);
                let p = p
                    .first()
                    .with_context(|| format!("mask {} has no foreground pixel", m.id))?;
                PromptRow {
                    points: vec![([f64::from(p.xy.0), f64::from(p.xy.1)], 1)],
                    ..Default::default()
                }
            }
        };
        batch = batch.with_row(row);
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn args(argv: &[&str]) -> BenchArgs {
        Cli::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .expect("arguments")
            .bench
    }

    #[test]
    fn the_embedded_directory_follows_the_model_family() {
        let dir = |argv: &[&str]| embedded_dir(&args(argv));
        assert!(dir(&[]).expect("SAM v1").ends_with("fixtures/default"));
        assert!(
            dir(&["--model", "sam2"])
                .expect("SAM 2")
                .ends_with("fixtures/default-sam2")
        );
        assert_eq!(dir(&["--model", "sam2_hiera_t", "--random-init"]), None);
        assert_eq!(dir(&["--model", "vit_b", "--checkpoint", "x.pth"]), None);
        assert_eq!(dir(&["--model", "sam2", "--random-init"]), None);
    }

    #[test]
    fn a_missing_embedded_sam2_names_its_file_and_the_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("default-sam2");
        let err = load_embedded_dir::<burn::backend::NdArray<f32>>(&missing, &Default::default())
            .expect_err("no model there");
        let msg = format!("{err:#}");
        assert!(msg.contains("default-sam2/config.json"), "{msg}");
        assert!(msg.contains("cargo xtask train --model sam2"), "{msg}");
    }
}
