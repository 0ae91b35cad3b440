//! `manifest.json`: how the weights were made (command, data, stages, scores, times, files),
//! and the provenance of an `--init` checkpoint.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use uncertsam_sam::SamConfig;

use crate::eval::SplitIou;
use crate::train::{Curve, OptimSettings};

/// `manifest.json`: how the weights were made and how well they do.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest<G = SamConfig> {
    /// The command line that produced the files, the program by its file name (the path of
    /// the build directory says nothing about how the files were made).
    pub command: String,
    /// `--seed`.
    pub seed: u64,
    /// Whether this was a `--quick` smoke run.
    pub quick: bool,
    /// Benchmark root and its `synth-config.json`.
    pub data: DataInfo,
    /// The model family (`sam`, `sam2`); absent for SAM v1 manifests written before SAM 2.
    #[serde(skip_serializing_if = "is_sam")]
    pub model: &'static str,
    /// The model geometry (also in `config.json`).
    pub geometry: G,
    /// Number of parameters of one model.
    pub parameters: usize,
    /// Main-model training (`None` when it started from `--init`).
    pub train: Option<Stage>,
    /// The `--init` checkpoint and how it was made.
    pub init: Option<InitInfo>,
    /// The fine-tuning stages, in order.
    pub finetune: Vec<Stage>,
    /// Ensemble-member training, one per member.
    pub ensemble: Vec<Stage>,
    /// Box-prompt mean IoU per test split (clean first).
    pub box_iou: Vec<SplitIou>,
    /// Wall-clock seconds: main training, ensemble (with embedding precomputation), evaluation
    /// and the whole run.
    pub wall_time_s: WallTime,
    /// Threads available to the run (`available_parallelism`).
    pub threads: usize,
    /// Versions of this crate and of burn.
    pub versions: Versions,
    /// Files written, relative to the output directory, with their sizes in bytes.
    pub files: Vec<(String, u64)>,
}

fn is_sam(model: &&'static str) -> bool {
    *model == "sam"
}

/// The checkpoint a run started from (`--init`).
#[derive(Clone, Debug, Serialize)]
pub struct InitInfo {
    /// `--init` as given.
    pub path: PathBuf,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// `command`, `seed`, `data`, `train`, `init`, `finetune`, `box_iou` and `wall_time_s` of
    /// the `manifest.json` beside it, when there is one (so a chain of `--init` runs nests).
    pub manifest: Option<serde_json::Value>,
}

/// Where the training data came from.
#[derive(Clone, Debug, Serialize)]
pub struct DataInfo {
    /// `--data`.
    pub root: PathBuf,
    /// Training split (`Synth-Clean/train`).
    pub train_split: String,
    /// Training images of the main model and the ensemble.
    pub train_images: usize,
    /// Their masks.
    pub train_masks: usize,
    /// The generator's `synth-config.json`, when present.
    pub synth_config: Option<serde_json::Value>,
}

/// One training run.
#[derive(Clone, Debug, Serialize)]
pub struct Stage {
    /// Seed of its initial weights (and of its data order / prompts stream).
    pub seed: u64,
    /// Training images (the first of `Synth-Clean/train`).
    pub images: usize,
    /// Their masks.
    pub masks: usize,
    /// Optimiser settings.
    pub settings: OptimSettings,
    /// Loss per epoch, steps and seconds.
    pub curve: Curve,
}

/// Wall-clock seconds of the parts of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WallTime {
    /// Main-model training.
    pub train: f64,
    /// The fine-tuning stages.
    pub finetune: f64,
    /// Ensemble members (embedding precomputation included).
    pub ensemble: f64,
    /// Evaluation.
    pub eval: f64,
    /// Everything, data generation included.
    pub total: f64,
}

/// Software versions.
#[derive(Clone, Debug, Serialize)]
pub struct Versions {
    /// `uncertsam-train`.
    pub uncertsam_train: String,
    /// burn (pinned by the workspace).
    pub burn: String,
}

/// SHA-256 of `path` and the provenance fields of the `manifest.json` beside it.
pub fn init_info(path: &Path) -> anyhow::Result<InitInfo> {
    use sha2::Digest as _;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let sha256 = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let manifest = path
        .parent()
        .map(|d| d.join("manifest.json"))
        .and_then(|m| std::fs::read_to_string(m).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .map(|m| {
            let keep = [
                "command",
                "seed",
                "data",
                "train",
                "init",
                "finetune",
                "box_iou",
                "wall_time_s",
            ];
            serde_json::Value::Object(
                keep.iter()
                    .filter_map(|k| m.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                    .collect(),
            )
        });
    Ok(InitInfo {
        path: path.to_owned(),
        sha256,
        manifest,
    })
}

/// This process's command line with the program's directory dropped: `uncertsam train ...`.
pub fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map_or(p.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}
