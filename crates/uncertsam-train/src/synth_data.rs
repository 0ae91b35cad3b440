//! The training data's cache: the procedural benchmark generated under `--data` when absent or
//! short of training images.

use std::path::Path;

use anyhow::Context as _;
use uncertsam_data::synth::{SynthConfig, generate};

fn synth_complete(root: &Path, cfg: &SynthConfig) -> bool {
    cfg.splits().iter().all(|(c, split, _)| {
        root.join(c.dataset_name())
            .join(split)
            .join("annotations")
            .join("dataset.json")
            .is_file()
    })
}

fn quick_synth() -> SynthConfig {
    SynthConfig {
        train: 4,
        val: 1,
        test: 2,
        shifted_test: 1,
        ..SynthConfig::default()
    }
}

/// `Synth-Clean/train` images of the benchmark under `root` (its `synth-config.json`).
fn generated_train_images(root: &Path) -> usize {
    std::fs::read_to_string(root.join("synth-config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<SynthConfig>(&t).ok())
        .map_or(0, |c| c.train)
}

/// Generates the benchmark into `root` unless all its splits are there with at least
/// `train_images` training images. Images are seeded by their index, so generating more
/// training images leaves every existing file as it was.
pub fn ensure_data(root: &Path, quick: bool, train_images: usize) -> anyhow::Result<()> {
    let full = SynthConfig {
        train: train_images.max(SynthConfig::default().train),
        ..SynthConfig::default()
    };
    let cfg = if quick { quick_synth() } else { full };
    let enough = generated_train_images(root) >= cfg.train;
    if (enough && synth_complete(root, &SynthConfig::default()))
        || (quick && synth_complete(root, &cfg))
    {
        return Ok(());
    }
    eprintln!(
        "generating the synthetic benchmark ({} training images) into {}",
        cfg.train,
        root.display()
    );
    generate(&cfg, root).with_context(|| format!("generating {}", root.display()))?;
    Ok(())
}
