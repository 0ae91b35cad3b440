//! `uncertsam train`'s options.

use std::path::PathBuf;

use crate::finetune::FinetuneSpec;

/// Command-line arguments of `uncertsam train` (`cargo xtask train`).
#[derive(Clone, Debug, clap::Args)]
pub struct TrainArgs {
    /// The model family: `sam` (SAM v1, the default) or `sam2` (a tiny SAM 2, see
    /// `default_sam2_geometry`).
    #[arg(long, default_value = "sam", value_parser = ["sam", "sam2"])]
    pub model: String,
    /// Output directory for `sam.safetensors`, `config.json`, `ensemble/` and `manifest.json`
    /// (default `fixtures/default`, `fixtures/default-sam2` with `--model sam2`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Root of the synthetic benchmark (a cache); generated there (default `SynthConfig`) when
    /// absent.
    #[arg(long, default_value = "target/synth")]
    pub data: PathBuf,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Epochs of the main model (default 60, SAM 2 13; 3 with `--quick`).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Training images of the main model, the first of `Synth-Clean/train` (default 200; SAM 2
    /// 1600, the whole split).
    #[arg(long)]
    pub images: Option<usize>,
    /// Fine-tuning stages after the main training, in order, comma-separated
    /// `EPOCHSxIMAGES@LR` (the first IMAGES of `Synth-Clean/train`, which is generated that
    /// large; peak lr LR); `--finetune` with no value runs none. Default `12x800@1e-3,
    /// 8x1600@7e-4` ([`DEFAULT_FINETUNE`]; SAM 2: none, its main stage already trains on the
    /// whole split); none with `--quick`.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    pub finetune: Option<Vec<FinetuneSpec>>,
    /// Start from this checkpoint (same geometry) instead of training the main model: only
    /// the fine-tuning stages and the ensemble run. The manifest records the file's SHA-256 and,
    /// from a `manifest.json` beside it, how it was trained.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Deep-ensemble members to train (0 for none).
    #[arg(long, default_value_t = 4)]
    pub ensemble_members: usize,
    /// Training images of each ensemble member, the first of `Synth-Clean/train` (default 200,
    /// at most the main model's).
    #[arg(long)]
    pub ensemble_images: Option<usize>,
    /// Epochs of each ensemble member (default 2; 1 with `--quick`).
    #[arg(long)]
    pub ensemble_epochs: Option<usize>,
    /// Images per optimiser step.
    #[arg(long, default_value_t = 2)]
    pub batch_images: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// A JSON geometry (`SamConfig`, or `Sam2Config` with `--model sam2`) to train instead of
    /// the default.
    #[arg(long)]
    pub geometry: Option<PathBuf>,
    /// Smoke run: a tiny generated dataset (when `--data` is absent), 4 training images, few
    /// epochs, 2 ensemble members at most, 2 evaluation images per split.
    #[arg(long)]
    pub quick: bool,
    /// SAM 2: the fraction of the from-scratch main stage that trains with the decoder's
    /// high-resolution features held at zero (default 0.25; see `uncertsam_train::sam2_step`).
    #[arg(long)]
    pub high_res_warmup: Option<f64>,
}

impl Default for TrainArgs {
    fn default() -> Self {
        Self {
            model: "sam".into(),
            out: None,
            data: "target/synth".into(),
            seed: 0,
            epochs: None,
            images: None,
            finetune: None,
            init: None,
            ensemble_members: 4,
            ensemble_images: None,
            ensemble_epochs: None,
            batch_images: 2,
            lr: 2e-3,
            geometry: None,
            quick: false,
            high_res_warmup: None,
        }
    }
}

impl TrainArgs {
    /// `--out`, else the embedded default's directory of family `model` (`sam`, `sam2`).
    pub fn out_dir(&self, model: &str) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            if model == "sam2" {
                "fixtures/default-sam2".into()
            } else {
                "fixtures/default".into()
            }
        })
    }
}
