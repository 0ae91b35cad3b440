//! Trains the tiny SAM shipped as the embedded default (`fixtures/default/`), and its
//! deep-ensemble members, from scratch on the procedural benchmark (`uncertsam_data::synth`).
//!
//! No pretrained SAM can be downloaded here, so [`run`] trains a small SAM v1 (geometry:
//! [`default_geometry`]) with burn autodiff on the CPU:
//!
//! - **Stages**: (1) the main training, `--epochs` (60) on the first `--images` (200) images of
//!   `Synth-Clean/train`, peak lr `--lr`; (2) the fine-tuning stages of `--finetune`
//!   ([`DEFAULT_FINETUNE`]: 12 epochs on the first 800 images at peak lr 1e-3, then 8 on 1600
//!   at 7e-4), each continuing from the previous weights with a fresh optimiser, warm-up and
//!   cosine schedule, all drawing from the stream of `--seed` + [`FINETUNE_SEED_OFFSET`].
//!   Stage 1 fits its 200 images (train IoU 0.84) but tests at 0.78; the clean test IoU comes
//!   from the larger sets. `--init CHECKPOINT` replaces stage 1 by a saved model (the manifest
//!   records the file's SHA-256 and its manifest), so the stages can also run one command at a
//!   time (a chain of such runs gives the bytes of one run, tested).
//! - **Data**: `Synth-Clean/train` (generated into `--data` when absent or short of
//!   training images; images are seeded by index, so more images leave the others as they
//!   were), each image under a random flip (left-right, upside-down).
//! - **Prompts**: every step runs three decoder calls, each batched over all masks of its
//!   images: (1) the tight ground-truth box, jittered with probability 1/2, trained through the
//!   single-mask token 0; (2) 1-3 positive points (the count drawn per step): with one point
//!   the three multimask tokens are decoded and only the one with the lowest mask loss is
//!   trained (as SAM does for ambiguous prompts), with 2-3 points token 0 is trained; (3) a
//!   corrective call, the prompts refinement uses: the box of call 1 plus 0-2 clicks drawn from
//!   call 1's error region (positive on missed foreground, negative on false positives,
//!   [`data::corrective_clicks`]) and call 1's detached logits as the mask prompt (always with
//!   no click, else with probability 1/2), token 0. The IoU head is trained on every decoded
//!   token.
//! - **Loss**: `20 focal(alpha 0.25, gamma 2) + dice(+1) + |IoU head - IoU(logits > 0)|` on
//!   the 4E x 4E low-resolution logits against the ground truth's foreground fraction per
//!   logit cell ([`train::low_res_targets`]; the IoU target uses cells > 1/2). SAM trains on the
//!   upscaled logits; the low-resolution loss is 16x cheaper here and trains the same logits that
//!   `postprocess` upscales. Mean over masks, the two calls averaged, then averaged over the
//!   images of the step.
//! - **Optimiser**: AdamW (weight decay on every trainable weight), linear warm-up then cosine
//!   decay, per-parameter gradient-norm clipping. The random-Fourier positional matrix is drawn
//!   `N(0, 1)` and frozen (see [`init`]).
//! - **Ensemble**: `M` members keep the trained image encoder (frozen; its embeddings of every
//!   image and flip are computed once). Each starts from the main model's prompt encoder and
//!   mask decoder, re-initialises the output heads (the hypernetwork MLPs of every mask token
//!   and the IoU head) from its own seed, and fine-tunes the prompt encoder and the whole mask
//!   decoder with the same loss and its own data order, flips and prompts. Training whole
//!   decoders from scratch would cost about as much as the main model per member on this
//!   2-core machine. Each is saved as a full SAM (the main model's encoder weights).
//! - **Evaluation**: box-prompt (tight box) mean IoU over masks at the original resolution
//!   (`postprocess`, logits > 0) on `Synth-Clean/test` and every shifted `test` split.
//!
//! **Determinism**: every random draw (initial weights, order, flips, prompts) comes from ChaCha
//! streams seeded by `--seed`, saving and reloading a model is exact, and one seed gives the same
//! weights, byte for byte, on one machine (tested: two runs, and a chain of `--init` runs
//! against one run). That needed `uncertsam_sam::loss::softplus_neg_abs` in the loss:
//! burn-ndarray's backward of `log1p` multiplies by an approximate SIMD reciprocal whose split into SIMD and exact scalar
//! elements depends on the buffer's address, which made the gradients differ from run to run.
//! The committed default (`fixtures/default`) is one run of `uncertsam train` with the defaults
//! after that fix. A different CPU (SIMD width) may change the last bits, and then everything
//! downstream.

pub mod data;
pub mod eval;
pub mod finetune;
mod geometry;
pub mod init;
pub mod io;
pub mod train;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use uncertsam_data::synth::{Condition, SynthConfig, generate};
use uncertsam_sam::{Sam, SamConfig};

pub use finetune::{DEFAULT_FINETUNE, FinetuneSpec};
pub use geometry::default_geometry;
pub use train::{Cpu, Train};

use crate::eval::{SplitIou, eval_split};
use crate::init::{PeRule, init_weights};
use crate::train::{Curve, Embeddings, OptimSettings, precompute_embeddings, to_cpu, train_loop};

/// Command-line arguments of `uncertsam train` (`cargo xtask train`).
#[derive(Clone, Debug, clap::Args)]
pub struct TrainArgs {
    /// Output directory for `sam.safetensors`, `config.json`, `ensemble/` and `manifest.json`.
    #[arg(long, default_value = "fixtures/default")]
    pub out: PathBuf,
    /// Root of the synthetic benchmark (a cache); generated there (default `SynthConfig`) when
    /// absent.
    #[arg(long, default_value = "target/synth")]
    pub data: PathBuf,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Epochs of the main model (default 60; 3 with `--quick`).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Training images of the main model (the first of `Synth-Clean/train`) and of the
    /// ensemble members.
    #[arg(long, default_value_t = 200)]
    pub images: usize,
    /// Fine-tuning stages after the main training, in order, comma-separated
    /// `EPOCHSxIMAGES@LR` (the first IMAGES of `Synth-Clean/train`, which is generated that
    /// large; peak lr LR); `--finetune` with no value runs none. Default `12x800@1e-3,
    /// 8x1600@7e-4` ([`DEFAULT_FINETUNE`]); none with `--quick`.
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
    /// Epochs of each ensemble member (default 2; 1 with `--quick`).
    #[arg(long)]
    pub ensemble_epochs: Option<usize>,
    /// Images per optimiser step.
    #[arg(long, default_value_t = 2)]
    pub batch_images: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// A JSON `SamConfig` to train instead of the default geometry.
    #[arg(long)]
    pub geometry: Option<PathBuf>,
    /// Smoke run: a tiny generated dataset (when `--data` is absent), 4 training images, few
    /// epochs, 2 ensemble members at most, 2 evaluation images per split.
    #[arg(long)]
    pub quick: bool,
}

impl Default for TrainArgs {
    fn default() -> Self {
        Self {
            out: "fixtures/default".into(),
            data: "target/synth".into(),
            seed: 0,
            epochs: None,
            images: 200,
            finetune: None,
            init: None,
            ensemble_members: 4,
            ensemble_epochs: None,
            batch_images: 2,
            lr: 2e-3,
            geometry: None,
            quick: false,
        }
    }
}

/// `manifest.json`: how the weights were made and how well they do.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// The command line that produced the files, the program by its file name (the path of
    /// the build directory says nothing about how the files were made).
    pub command: String,
    /// `--seed`.
    pub seed: u64,
    /// Whether this was a `--quick` smoke run.
    pub quick: bool,
    /// Benchmark root and its `synth-config.json`.
    pub data: DataInfo,
    /// The model geometry (also in `config.json`).
    pub geometry: SamConfig,
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

/// What [`run`] returns: the manifest, the trained main model and the output directory.
#[derive(Debug)]
pub struct TrainReport {
    /// The manifest as written to `manifest.json`.
    pub manifest: Manifest,
    /// The trained main model, on the CPU inference backend.
    pub model: Sam<Cpu>,
    /// Ensemble members, in order.
    pub members: Vec<Sam<Cpu>>,
    /// The output directory.
    pub out: PathBuf,
}

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
fn ensure_data(root: &Path, quick: bool, train_images: usize) -> anyhow::Result<()> {
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

/// Added to `--seed` for the fine-tuning stage's data order, flips and prompts.
pub const FINETUNE_SEED_OFFSET: u64 = 500;

/// SHA-256 of `path` and the provenance fields of the `manifest.json` beside it.
fn init_info(path: &Path) -> anyhow::Result<InitInfo> {
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

fn count_params(model: &Sam<Cpu>) -> usize {
    use burn::module::Module as _;
    model.num_params()
}

/// Trains the main model and the ensemble, evaluates them and writes `args.out`.
pub fn run(args: &TrainArgs) -> anyhow::Result<TrainReport> {
    let start = Instant::now();
    let device = Default::default();
    let quick = args.quick;
    let stages: Vec<FinetuneSpec> = match &args.finetune {
        Some(s) => s.clone(),
        None if quick => Vec::new(),
        None => DEFAULT_FINETUNE.to_vec(),
    };
    let needed = stages
        .iter()
        .map(|s| s.images)
        .fold(args.images.max(1), usize::max);
    ensure_data(&args.data, quick, needed)?;
    let geometry = match &args.geometry {
        Some(p) => serde_json::from_str::<SamConfig>(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => default_geometry(),
    };
    let limit = if quick { 4 } else { needed };
    let all = data::load_split(&args.data, "Synth-Clean", "train", Some(limit))?;
    let images = &all[..args.images.clamp(1, all.len())];
    let masks = |set: &[data::TrainImage]| set.iter().map(|i| i.masks.len()).sum::<usize>();
    let train_masks = masks(images);
    eprintln!(
        "training on {} images ({train_masks} masks) of Synth-Clean/train; fine-tuning stages: \
         {}",
        images.len(),
        if stages.is_empty() {
            "none".to_owned()
        } else {
            stages
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let settings = OptimSettings {
        epochs: args.epochs.unwrap_or(if quick { 3 } else { 60 }),
        batch_images: args.batch_images.max(1),
        lr: args.lr,
        warmup_fraction: if quick { 0.1 } else { 0.05 },
        final_lr_fraction: 0.02,
        weight_decay: 0.01,
        grad_clip_norm: 1.0,
    };

    // Main model: trained from scratch, or loaded from `--init`.
    let model = Sam::<Train>::new(&geometry, &device)?;
    let (mut trained, stage, init) = match &args.init {
        Some(path) => {
            let model = model
                .load_checkpoint(path)
                .with_context(|| format!("loading --init {}", path.display()))?;
            (init::trainable(model), None, Some(init_info(path)?))
        }
        None => {
            let (trained, curve) = train_loop(
                init_weights(model, args.seed, PeRule::Draw),
                images,
                &Embeddings::Encoder,
                &settings,
                args.seed,
                "sam",
            )?;
            eprintln!("main model trained in {:.0} s", curve.seconds);
            let stage = Stage {
                seed: args.seed,
                images: images.len(),
                masks: train_masks,
                settings: settings.clone(),
                curve,
            };
            (trained, Some(stage), None)
        }
    };
    let train_s = stage.as_ref().map_or(0.0, |s| s.curve.seconds);

    // Fine-tuning stages on more images, each from a warm-up and a fresh cosine schedule. Every
    // stage draws from the same stream seed, so a chain of `--init` runs of one stage each
    // gives the weights of one run with all the stages (tested).
    let mut finetune = Vec::with_capacity(stages.len());
    for (k, spec) in stages.iter().enumerate() {
        let set = &all[..spec.images.min(all.len())];
        let ft_settings = OptimSettings {
            epochs: spec.epochs,
            lr: spec.lr,
            ..settings.clone()
        };
        let seed = args.seed.wrapping_add(FINETUNE_SEED_OFFSET);
        let (model, curve) = train_loop(
            trained,
            set,
            &Embeddings::Encoder,
            &ft_settings,
            seed,
            &format!("finetune {}", k + 1),
        )?;
        eprintln!(
            "fine-tuning stage {} ({spec}) took {:.0} s",
            k + 1,
            curve.seconds
        );
        trained = model;
        finetune.push(Stage {
            seed,
            images: set.len(),
            masks: masks(set),
            settings: ft_settings,
            curve,
        });
    }
    let finetune_s: f64 = finetune.iter().map(|s| s.curve.seconds).sum();
    let main = to_cpu(&trained);
    let out = &args.out;
    io::save_model(&main, &out.join("sam.safetensors"))?;
    io::write_json(&out.join("config.json"), &geometry)?;

    // Ensemble members on the frozen encoder.
    let ens_start = Instant::now();
    let members_n = if quick {
        args.ensemble_members.min(2)
    } else {
        args.ensemble_members
    };
    let ens_settings = OptimSettings {
        epochs: args.ensemble_epochs.unwrap_or(if quick { 1 } else { 2 }),
        ..settings.clone()
    };
    let mut members = Vec::new();
    let mut ensemble = Vec::new();
    if members_n > 0 {
        let cache = precompute_embeddings(&main, images);
        for i in 0..members_n {
            let seed = args.seed.wrapping_add(1000 * (i as u64 + 1));
            let mut member = trained.clone();
            let dec = &mut member.mask_decoder;
            dec.output_hypernetworks_mlps = init_weights(
                std::mem::take(&mut dec.output_hypernetworks_mlps),
                seed,
                PeRule::Keep,
            );
            dec.iou_prediction_head =
                init_weights(dec.iou_prediction_head.clone(), seed ^ 0x5eed, PeRule::Keep);
            let (member, curve) = train_loop(
                member,
                images,
                &Embeddings::Frozen(&cache),
                &ens_settings,
                seed,
                &format!("member {i}"),
            )?;
            let member = to_cpu(&member);
            io::save_model(
                &member,
                &out.join("ensemble").join(format!("member_{i}.safetensors")),
            )?;
            members.push(member);
            ensemble.push(Stage {
                seed,
                images: images.len(),
                masks: train_masks,
                settings: ens_settings.clone(),
                curve,
            });
        }
    }
    let ensemble_s = ens_start.elapsed().as_secs_f64();

    // Evaluation.
    let eval_start = Instant::now();
    let eval_limit = quick.then_some(2);
    let mut box_iou = vec![eval_split(
        &main,
        &members,
        &args.data,
        "Synth-Clean",
        "test",
        eval_limit,
    )?];
    for c in Condition::SHIFTS {
        let name = c.dataset_name();
        if args.data.join(name).join("test").is_dir() {
            box_iou.push(eval_split(
                &main, &members, &args.data, name, "test", eval_limit,
            )?);
        }
    }
    for s in &box_iou {
        eprintln!(
            "{}/{}: box IoU {:.4} ({} masks){}",
            s.dataset,
            s.split,
            s.mean_iou,
            s.masks,
            if s.member_iou.is_empty() {
                String::new()
            } else {
                format!(", members {:.4?}", s.member_iou)
            }
        );
    }
    let eval_s = eval_start.elapsed().as_secs_f64();

    // The saved checkpoint must load back.
    Sam::<Cpu>::new(&geometry, &device)?
        .load_checkpoint(out.join("sam.safetensors"))
        .context("reloading the saved checkpoint")?;

    let mut files = vec!["sam.safetensors".to_string(), "config.json".to_string()];
    files.extend((0..members.len()).map(|i| format!("ensemble/member_{i}.safetensors")));
    let files = files
        .into_iter()
        .map(|f| {
            let size = std::fs::metadata(out.join(&f))
                .map(|m| m.len())
                .unwrap_or(0);
            (f, size)
        })
        .collect();
    let synth_config = std::fs::read_to_string(args.data.join("synth-config.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let manifest = Manifest {
        command: command_line(),
        seed: args.seed,
        quick,
        data: DataInfo {
            root: args.data.clone(),
            train_split: "Synth-Clean/train".into(),
            train_images: images.len(),
            train_masks,
            synth_config,
        },
        geometry: geometry.clone(),
        parameters: count_params(&main),
        train: stage,
        init,
        finetune,
        ensemble,
        box_iou,
        wall_time_s: WallTime {
            train: train_s,
            finetune: finetune_s,
            ensemble: ensemble_s,
            eval: eval_s,
            total: start.elapsed().as_secs_f64(),
        },
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        versions: Versions {
            uncertsam_train: env!("CARGO_PKG_VERSION").into(),
            burn: "0.21.0".into(),
        },
        files,
    };
    io::write_json(&out.join("manifest.json"), &manifest)?;
    eprintln!(
        "training time: {:.1} min (main {:.0} s, fine-tuning {:.0} s, ensemble {:.0} s, eval \
         {:.0} s)",
        manifest.wall_time_s.total / 60.0,
        train_s,
        finetune_s,
        ensemble_s,
        eval_s
    );
    Ok(TrainReport {
        manifest,
        model: main,
        members,
        out: out.clone(),
    })
}

/// This process's command line with the program's directory dropped: `uncertsam train ...`.
fn command_line() -> String {
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
