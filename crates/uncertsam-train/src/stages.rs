//! [`run_family`]: the stages of one training run (main model or `--init`, fine-tuning,
//! ensemble, evaluation) and the files it writes, for either model family ([`TrainFamily`];
//! [`run`] is SAM v1's, [`run_sam2`] SAM 2's), generic over the autodiff backend (the
//! application crate names it).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use burn::tensor::backend::AutodiffBackend;
use uncertsam_data::synth::Condition;
use uncertsam_sam::{Sam, Sam2};

use crate::args::TrainArgs;
use crate::eval::eval_split;
use crate::family::{Inner, Sam2Family, SamV1, TrainFamily};
use crate::finetune::FinetuneSpec;

/// Training images of each ensemble member when `--ensemble-images` is not given (the first of
/// `Synth-Clean/train`, at most the main stage's).
pub const DEFAULT_ENSEMBLE_IMAGES: usize = 200;
use crate::init::{PeRule, init_weights};
use crate::manifest::{DataInfo, Manifest, Stage, Versions, WallTime, command_line, init_info};
use crate::synth_data::ensure_data;
use crate::train::OptimSettings;
use crate::train_loop::{Embeddings, precompute_embeddings, train_loop};
use crate::{data, io};

/// What [`run`] returns: the manifest, the trained main model and the output directory.
#[derive(Debug)]
pub struct TrainReport<M, G = uncertsam_sam::SamConfig> {
    /// The manifest as written to `manifest.json`.
    pub manifest: Manifest<G>,
    /// The trained main model, on the inference backend.
    pub model: M,
    /// Ensemble members, in order.
    pub members: Vec<M>,
    /// The output directory.
    pub out: PathBuf,
}

/// Added to `--seed` for the fine-tuning stage's data order, flips and prompts.
pub const FINETUNE_SEED_OFFSET: u64 = 500;

/// SAM v1's run (`uncertsam train`): [`run_family`] of [`SamV1`].
pub fn run<A: AutodiffBackend>(
    args: &TrainArgs,
    device: &A::Device,
) -> anyhow::Result<TrainReport<Sam<A::InnerBackend>>> {
    run_family::<A, SamV1>(args, device)
}

/// SAM 2's run (`uncertsam train --model sam2`): [`run_family`] of [`Sam2Family`].
pub fn run_sam2<A: AutodiffBackend>(
    args: &TrainArgs,
    device: &A::Device,
) -> anyhow::Result<TrainReport<Sam2<A::InnerBackend>, uncertsam_sam::Sam2Config>> {
    run_family::<A, Sam2Family>(args, device)
}

/// Trains the main model of family `F` and the ensemble, evaluates them and writes
/// `args.out`.
#[allow(clippy::too_many_lines)]
pub fn run_family<A: AutodiffBackend, F: TrainFamily<A>>(
    args: &TrainArgs,
    device: &A::Device,
) -> anyhow::Result<TrainReport<Inner<A, F>, F::Config>> {
    use burn::module::{AutodiffModule as _, Module as _};
    let out = &args.out_dir(F::NAME);
    let start = Instant::now();
    let quick = args.quick;
    let stages: Vec<FinetuneSpec> = match &args.finetune {
        Some(s) => s.clone(),
        None if quick => Vec::new(),
        None => F::DEFAULT_FINETUNE.to_vec(),
    };
    let main_images = args.images.unwrap_or(F::DEFAULT_IMAGES).max(1);
    let needed = stages
        .iter()
        .map(|s| s.images)
        .fold(main_images, usize::max);
    ensure_data(&args.data, quick, needed)?;
    let geometry = match &args.geometry {
        Some(p) => serde_json::from_str::<F::Config>(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => F::default_geometry(),
    };
    let limit = if quick { 4 } else { needed };
    let all = data::load_split(&args.data, "Synth-Clean", "train", Some(limit))?;
    let images = &all[..main_images.min(all.len())];
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
        epochs: args
            .epochs
            .unwrap_or(if quick { 3 } else { F::DEFAULT_EPOCHS }),
        batch_images: args.batch_images.max(1),
        lr: args.lr,
        warmup_fraction: if quick { 0.1 } else { 0.05 },
        final_lr_fraction: 0.02,
        weight_decay: 0.01,
        grad_clip_norm: 1.0,
        high_res_warmup_steps: 0,
    };
    let main_settings = OptimSettings {
        high_res_warmup_steps: F::high_res_warmup_steps(
            settings.steps(images.len()),
            args.high_res_warmup,
        ),
        ..settings.clone()
    };

    // Main model: trained from scratch, or loaded from `--init`.
    let (mut trained, stage, init) = match &args.init {
        Some(path) => (
            F::load_trainable(&geometry, path, device)?,
            None,
            Some(init_info(path)?),
        ),
        None => {
            let model = F::new_model(&geometry, device)?;
            let (trained, curve) = train_loop::<A, F>(
                init_weights(model, args.seed, PeRule::Draw),
                images,
                &Embeddings::Encoder,
                &main_settings,
                args.seed,
                "sam",
            )?;
            eprintln!("main model trained in {:.0} s", curve.seconds);
            let stage = Stage {
                seed: args.seed,
                images: images.len(),
                masks: train_masks,
                settings: main_settings,
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
        let (model, curve) = train_loop::<A, F>(
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
    // `+ 0.0`: an empty f64 sum is -0.0, which the log and manifest would print as "-0".
    let finetune_s: f64 = finetune.iter().map(|s| s.curve.seconds).sum::<f64>() + 0.0;
    let main = trained.valid();
    F::save(&main, &out.join("sam.safetensors"))?;
    io::write_json(&out.join("config.json"), &F::config_json(&geometry))?;

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
        let ens_images = &images[..args
            .ensemble_images
            .unwrap_or(DEFAULT_ENSEMBLE_IMAGES)
            .clamp(1, images.len())];
        let cache = precompute_embeddings::<A, F>(&main, ens_images);
        for i in 0..members_n {
            let seed = args.seed.wrapping_add(1000 * (i as u64 + 1));
            let member = F::reinit_heads(trained.clone(), seed);
            let (member, curve) = train_loop::<A, F>(
                member,
                ens_images,
                &Embeddings::Frozen(&cache),
                &ens_settings,
                seed,
                &format!("member {i}"),
            )?;
            let member = member.valid();
            F::save(
                &member,
                &out.join("ensemble").join(format!("member_{i}.safetensors")),
            )?;
            members.push(member);
            ensemble.push(Stage {
                seed,
                images: ens_images.len(),
                masks: masks(ens_images),
                settings: ens_settings.clone(),
                curve,
            });
        }
    }
    let ensemble_s = ens_start.elapsed().as_secs_f64();

    // Evaluation.
    let eval_start = Instant::now();
    let eval_limit = quick.then_some(2);
    let member_views: Vec<_> = members.iter().map(F::view).collect();
    let mut box_iou = vec![eval_split(
        F::view(&main),
        &member_views,
        &args.data,
        "Synth-Clean",
        "test",
        eval_limit,
    )?];
    for c in Condition::SHIFTS {
        let name = c.dataset_name();
        if args.data.join(name).join("test").is_dir() {
            box_iou.push(eval_split(
                F::view(&main),
                &member_views,
                &args.data,
                name,
                "test",
                eval_limit,
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
    F::reload(&geometry, &out.join("sam.safetensors"), device)
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
        model: F::NAME,
        geometry: geometry.clone(),
        parameters: main.num_params(),
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
