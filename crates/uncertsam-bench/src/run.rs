//! The benchmark loop: for every dataset, image (of this shard) and estimator, the per-mask
//! metrics, written as one part file per image.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use uncertsam_data::prompts::{jitter_box, sample_points, tight_box};
use uncertsam_data::{Sample, SampleSeed, SampleSource, UncertSamSplit};
use uncertsam_metrics::{CalibrationAccumulator, MaskInputs, mask_metrics_with_calibration};
use uncertsam_sam::{PromptBatch, PromptRow, Sam, SamConfig};

use crate::args::{BenchArgs, PromptKind, parse_shard};
use crate::estimators::{BenchEstimator, Plugin, host};
use crate::gallery::{GALLERY_IMAGES, StripMaps, write_strip};
use crate::parts::{EstimatorPart, Part, Row, part_path, write_part};
use crate::refine_rows::{RefinePart, RefinePlan};
use uncertsam_estimate::{
    AnyConfig, AnySam, Embedding, EncodedImage, EnsembleConfig, EstimatorConfig, McDropoutConfig,
    PromptPerturbationConfig, Segmenter, TtaConfig,
};

/// Estimators the benchmark knows, in table order (`ensemble` needs trained members in
/// `fixtures/default/ensemble`, `variance_net` a trained head in `fixtures/default/variance_net`;
/// Laplace loads `fixtures/default/laplace_*` or fits on the fly).
pub const ESTIMATORS: [&str; 11] = [
    "entropy",
    "iou_head",
    "multimask_disagreement",
    "tta",
    "tta_flip",
    "prompt_perturbation",
    "mc_dropout",
    "ensemble",
    "laplace_probit",
    "laplace_paper",
    "variance_net",
];

/// Images per split with `--quick`.
const QUICK_IMAGES: usize = 3;

/// The repository root (where `fixtures/` lives).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether the run uses the embedded default (no `--checkpoint`, no `--random-init`), whose
/// fitted files (`fixtures/default/{ensemble,fusion,laplace_*,variance_net}`) then apply.
pub fn uses_embedded_model(args: &BenchArgs) -> bool {
    args.checkpoint.is_none() && !args.random_init
}

/// The `--model` geometry: a preset name or a config.json path.
fn model_config(model: &str) -> Result<AnyConfig> {
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
    if let Some(name) = &args.model {
        bail!(
            "--model `{name}` without weights: pass --checkpoint <official checkpoint> to load \
             them, or --random-init for random weights (smoke tests only)"
        );
    }
    let (sam, what) = load_embedded_model(device)?;
    Ok((AnySam::Sam(sam), what))
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
fn datasets(args: &BenchArgs) -> Result<Vec<String>> {
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
pub(crate) fn prompt_rows(sample: &Sample, kind: PromptKind, seed: u64) -> Result<PromptBatch> {
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

/// Upsamples `[b, 4E, 4E]` maps to the original image as `sam.postprocess` does.
fn upsample<B: Backend>(
    sam: &dyn Segmenter<B>,
    emb: &Embedding<B>,
    x: Tensor<B, 3>,
) -> Tensor<B, 3> {
    let [b, h, w] = x.dims();
    let up = sam.postprocess(x.reshape([b, 1, h, w]), emb);
    let [_, _, oh, ow] = up.dims();
    up.reshape([b, oh, ow])
}

/// Runs every estimator on one image, and the refinement rows of the driving estimators.
fn process<B: Backend>(
    sam: &dyn Segmenter<B>,
    estimators: &[Box<dyn BenchEstimator<B>>],
    refine: &RefinePlan<B>,
    sample: &Sample,
    index: usize,
    args: &BenchArgs,
) -> Result<(Vec<EstimatorPart>, Vec<RefinePart>)> {
    let encoded = EncodedImage::new(sam, sample.image.clone());
    let emb = &encoded.embedding;
    let prompts = prompt_rows(sample, args.prompt, args.seed)?;
    let (h, w) = (
        sample.image.height() as usize,
        sample.image.width() as usize,
    );
    let mut parts = Vec::with_capacity(estimators.len());
    let mut refined = Vec::new();
    for est in estimators {
        let name = est.name();
        let mut rng = SampleSeed::image(args.seed, &sample.dataset, sample.image_id)
            .rng(&format!("estimator/{name}"));
        let maps = est
            .estimate(sam, &encoded, &prompts, &mut rng)
            .with_context(|| format!("estimator {name}"))?;
        if let Some(v1) = sam.sam() {
            refined.extend(refine.run(
                v1,
                &encoded,
                &prompts,
                &name,
                &maps.logits,
                &maps.uncertainty,
                sample,
                args.seed,
            ));
        }
        let logits = host(upsample(sam, emb, maps.logits))?;
        let prob: Vec<f32> = logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect();
        let unc = host(upsample(sam, emb, maps.uncertainty))?;
        let std = maps.std.map(|s| host(upsample(sam, emb, s))).transpose()?;
        let iou = host(maps.iou)?;
        if let (true, Some(m)) = (index < GALLERY_IMAGES, sample.masks.first()) {
            let maps = StripMaps {
                gt: m.mask.data(),
                logits: &logits[..h * w],
                uncertainty: &unc[..h * w],
            };
            write_strip(
                &args.out,
                &sample.dataset,
                index,
                &name,
                &sample.image,
                &maps,
            )?;
        }
        let mut rows = Vec::with_capacity(sample.masks.len());
        let mut calibration = CalibrationAccumulator::new();
        for (i, m) in sample.masks.iter().enumerate() {
            let r = i * h * w..(i + 1) * h * w;
            let pred: Vec<u8> = logits[r.clone()]
                .iter()
                .map(|&l| u8::from(l > 0.0))
                .collect();
            let mut inputs = MaskInputs::new(
                &pred,
                m.mask.data(),
                &prob[r.clone()],
                &unc[r.clone()],
                h,
                w,
            )
            .with_iou_pred(f64::from(iou[i]));
            if let Some(s) = &std {
                inputs = inputs.with_std(&s[r.clone()]);
            }
            let (metrics, cal) = mask_metrics_with_calibration(&inputs).with_context(|| {
                format!(
                    "{}: mask {} under {name}",
                    sample.image_path.display(),
                    m.id
                )
            })?;
            calibration.merge(&cal);
            rows.push(Row::new(m.id, Some(f64::from(iou[i])), &metrics));
        }
        parts.push(EstimatorPart {
            name,
            rows,
            calibration,
        });
    }
    Ok((parts, refined))
}

/// The embedded default's ensemble members (`fixtures/default/ensemble/*.safetensors`).
fn ensemble_config(args: &BenchArgs) -> Option<EstimatorConfig> {
    let dir = project_root().join("fixtures/default/ensemble");
    let mut members: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect()
        })
        .unwrap_or_default();
    members.sort();
    if members.is_empty() || !uses_embedded_model(args) {
        args.note(format_args!(
            "skipping `ensemble`: no members for this model in {}",
            dir.display()
        ));
        return None;
    }
    Some(EstimatorConfig::Ensemble(EnsembleConfig {
        members,
        include_base: true,
    }))
}

/// The `--estimators` (all by default) in table order; an unknown name is an error.
pub fn selected_estimators(args: &BenchArgs) -> Result<Vec<&'static str>> {
    if let Some(bad) = args
        .estimators
        .iter()
        .find(|s| !ESTIMATORS.contains(&s.as_str()))
    {
        bail!(
            "unknown estimator `{bad}`; available: {}",
            ESTIMATORS.join(", ")
        );
    }
    Ok(ESTIMATORS
        .into_iter()
        .filter(|n| args.estimators.is_empty() || args.estimators.iter().any(|s| s == n))
        .collect())
}

/// Builds the selected estimators (loading or fitting Laplace when selected).
pub fn build_estimators<B: Backend>(
    sam: &dyn Segmenter<B>,
    args: &BenchArgs,
) -> Result<Vec<Box<dyn BenchEstimator<B>>>> {
    let mut out: Vec<Box<dyn BenchEstimator<B>>> = Vec::new();
    let s = args.samples.max(1);
    for name in selected_estimators(args)? {
        let config = match name {
            "entropy" => Some(EstimatorConfig::Entropy),
            "iou_head" => Some(EstimatorConfig::IouHead),
            "multimask_disagreement" => Some(EstimatorConfig::MultimaskDisagreement),
            "tta" => Some(EstimatorConfig::Tta(TtaConfig {
                samples: s,
                ..TtaConfig::paper_hue()
            })),
            "tta_flip" => Some(EstimatorConfig::Tta(TtaConfig {
                samples: 2,
                hflip: true,
                include_identity: true,
                photometric: uncertsam_estimate::Photometric::None,
            })),
            "prompt_perturbation" => Some(EstimatorConfig::PromptPerturbation(
                PromptPerturbationConfig {
                    prompts: s,
                    ..PromptPerturbationConfig::paper()
                },
            )),
            "mc_dropout" => Some(EstimatorConfig::McDropout(McDropoutConfig {
                p: 0.1,
                samples: s,
                sites: vec![
                    uncertsam_estimate::DropoutSite::TransformerMlp,
                    uncertsam_estimate::DropoutSite::Hypernetwork,
                ],
            })),
            "ensemble" => ensemble_config(args),
            "variance_net" => crate::fitting::bench_variance_net(args),
            _ => None,
        };
        if let Some(c) = config {
            out.push(Box::new(Plugin(c.build(sam)?)));
            continue;
        }
        if name.starts_with("laplace") {
            out.push(Box::new(Plugin(crate::fitting::bench_laplace(
                sam, args, name,
            )?)));
        }
    }
    Ok(out)
}

/// Before a run: generates the synthetic benchmark into `--data` when it is the default root and
/// absent (any other missing `--data` is an error), and refuses an `--out` that already holds
/// results unless `--resume` is given. A worker of `--jobs` starts following its parent here.
pub fn prepare(args: &BenchArgs) -> Result<()> {
    crate::parent_death::follow_parent();
    crate::data_checks::ensure_data(args)?;
    if !args.resume && args.out.join("parts").exists() {
        bail!(
            "{} already holds results; pass --resume to continue it, or choose another --out",
            args.out.display()
        );
    }
    Ok(())
}

/// Runs this shard; returns the number of images processed and skipped as bad.
pub fn run<B: Backend>(args: &BenchArgs, device: &B::Device) -> Result<(usize, usize)> {
    let (shard, shards) = parse_shard(&args.shard).map_err(anyhow::Error::msg)?;
    prepare(args)?;
    let (sam, model) = load_model::<B>(args, device)?;
    let estimators = build_estimators(&sam, args)?;
    let names: Vec<String> = estimators.iter().map(|e| e.name()).collect();
    let refine = match sam.sam() {
        Some(v1) => RefinePlan::build(v1, args, &names)?,
        None => {
            RefinePlan::unsupported("refinement: built for SAM v1 / MobileSAM decoders, not SAM 2")
        }
    };
    let meta = serde_json::json!({ "model": model, "estimators": names, "prompt": format!("{:?}", args.prompt),
        "seed": args.seed, "samples": args.samples, "split": args.split, "quick": args.quick,
        "refinement": refine.describe() });
    crate::parts::write_atomic(
        &args.out.join("run.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    let (mut done, mut bad) = (0, 0);
    let mut unreadable = Vec::new();
    for dataset in datasets(args)? {
        let split = match UncertSamSplit::open(&args.data, &dataset, &args.split) {
            Ok(s) => s,
            Err(e) => {
                crate::args::log_line(format_args!("skipping dataset {dataset}: {e}"));
                unreadable.push(format!("{dataset}: {e}"));
                continue;
            }
        };
        let n = if args.quick {
            split.len().min(QUICK_IMAGES)
        } else {
            split.len()
        };
        let mine: Vec<usize> = (0..n).filter(|i| i % shards == shard).collect();
        let bar = if args.secondary_worker {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(mine.len() as u64)
        };
        let bar = bar.with_style(
            ProgressStyle::with_template("{prefix:>20} {bar:30} {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(dataset.clone());
        for index in mine {
            bar.inc(1);
            if part_path(&args.out, &dataset, index).exists() {
                continue;
            }
            let part = match split.get(index).map_err(anyhow::Error::from).and_then(|s| {
                let parts = process(&sam, &estimators, &refine, &s, index, args)?;
                Ok((s.image_id, parts))
            }) {
                Ok((image_id, (estimators, refinement))) => {
                    done += 1;
                    Part {
                        dataset: dataset.clone(),
                        index,
                        image_id: Some(image_id),
                        estimators,
                        refinement,
                        error: None,
                    }
                }
                Err(e) => {
                    bad += 1;
                    let msg = format!("{e:#}");
                    bar.suspend(|| {
                        crate::args::log_line(format_args!("skipping {dataset} #{index}: {msg}"))
                    });
                    Part {
                        dataset: dataset.clone(),
                        index,
                        image_id: split.image_id(index),
                        estimators: vec![],
                        refinement: vec![],
                        error: Some(msg),
                    }
                }
            };
            write_part(&args.out, &part)?;
        }
        bar.finish();
    }
    crate::data_checks::fail_on_unreadable(args, &unreadable)?;
    Ok((done, bad))
}
