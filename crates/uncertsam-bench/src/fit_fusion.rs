//! `uncertsam fit-fusion`: trains the paper's dense-fusion refinement module
//! (`uncertsam_refine::train_fusion`, SAM frozen) on `Synth-Clean/train`, one module per
//! driving estimator (`--refine-with`) and, unless `--no-ones`, its all-ones ablation. The
//! weights go to the directory the benchmark reads them from (`--fusion`, default
//! `fixtures/default/fusion` for the embedded model), with a `fusion.json` manifest. Either
//! model family (`--model sam2_hiera_t --random-init`, a SAM 2 `--checkpoint`, ...) with
//! `--fusion DIR`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use rand::seq::SliceRandom;
use uncertsam_data::prompts::tight_box;
use uncertsam_data::{SampleSeed, SampleSource, UncertSamSplit};
use uncertsam_estimate::{AnySam, EncodedImage, Segmenter, UncertaintyEstimator};
use uncertsam_refine::{
    DenseFusionConfig, FirstPass, FusionSample, FusionTrainConfig, train_fusion,
};
use uncertsam_sam::{PromptBatch, PromptRow};

use crate::args::BenchArgs;
use crate::inputs::load_model;
use crate::parts::write_atomic;
use crate::refine_rows::{fusion_dir, fusion_weights};
use crate::registry::{NoExternal, Registry};

/// `uncertsam fit-fusion`.
#[derive(Args, Clone, Debug)]
pub struct FitFusionArgs {
    /// Training images of `Synth-Clean/train` (default: all).
    #[arg(long)]
    pub images: Option<usize>,
    /// Passes over the training images (one AdamW step per image and pass).
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Constant AdamW learning rate (the paper: 1e-4 for 5 epochs of a much larger set).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Do not train the all-ones ablation (`<estimator>_ones.safetensors`).
    #[arg(long)]
    pub no_ones: bool,
    /// Model, `--data`, `--seed`, `--samples`, `--refine-with` (one module per estimator) and
    /// `--fusion` (the output directory), as for `bench`.
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// Trains and saves every module; prints each one's time and loss.
pub fn run<AB: AutodiffBackend>(args: &FitFusionArgs, device: &AB::Device) -> Result<()> {
    let bench = &args.bench;
    let dir = fusion_dir(bench).context("with --checkpoint, pass --fusion DIR")?;
    crate::data_checks::ensure_data_root(&bench.data)?;
    let (sam, model) = load_model::<AB::InnerBackend>(bench, device)?;
    let split = UncertSamSplit::open(&bench.data, "Synth-Clean", "train")?;
    let n = args.images.unwrap_or(usize::MAX).min(split.len());
    if n == 0 || args.epochs == 0 {
        bail!("nothing to train on: {n} images, {} epochs", args.epochs);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let total = Instant::now();
    let mut modules = Vec::new();
    for key in &bench.refine.refine_with {
        let mut b = bench.clone();
        b.estimators = vec![key.clone()];
        let est = Registry::new(&NoExternal)
            .build(&sam, &b)?
            .pop()
            .with_context(|| format!("estimator `{key}` is not available for this model"))?;
        let start = Instant::now();
        let (samples, bad) = first_passes(&sam, est.as_ref(), &split, n, bench.seed)?;
        let masks: usize = samples.iter().map(|s| s.gt.dims()[0]).sum();
        println!(
            "{key}: first passes of {} images ({masks} masks, {bad} bad) in {:.1} s",
            samples.len(),
            start.elapsed().as_secs_f64()
        );
        let onesies: &[bool] = if args.no_ones {
            &[false]
        } else {
            &[false, true]
        };
        for &ones in onesies {
            let start = Instant::now();
            AB::seed(device, bench.seed);
            let dim = sam.model().prompt_embed_dim();
            let fusion = DenseFusionConfig::new(dim).init::<AB>(device);
            let config = FusionTrainConfig {
                lr: args.lr,
                ones_baseline: ones,
                ..FusionTrainConfig::default()
            };
            let order = epoch_order(samples.len(), args.epochs, bench.seed);
            let data = order.into_iter().map(|i| samples[i].clone());
            let trained = train_fusion::<AB>(&sam, fusion, data, &config)?;
            let path = fusion_weights(&dir, key, ones);
            save_atomic(&trained.fusion, &path)?;
            let per_epoch: Vec<f64> = trained
                .losses
                .chunks(samples.len().max(1))
                .map(|c| c.iter().map(|&x| f64::from(x)).sum::<f64>() / c.len() as f64)
                .collect();
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{}: {} steps, mean loss per epoch {:?}, {secs:.1} s",
                path.display(),
                trained.losses.len(),
                per_epoch
                    .iter()
                    .map(|l| format!("{l:.4}"))
                    .collect::<Vec<_>>()
            );
            modules.push(serde_json::json!({
                "file": path.file_name().map(|f| f.to_string_lossy().into_owned()),
                "estimator": est.name(), "ones_baseline": ones, "images": samples.len(),
                "bad_images": bad, "masks": masks, "epochs": args.epochs, "lr": args.lr,
                "steps": trained.losses.len(), "loss_per_epoch": per_epoch, "seconds": secs,
            }));
        }
    }
    let secs = total.elapsed().as_secs_f64();
    let manifest = serde_json::json!({
        "model": model, "data": bench.data, "split": "Synth-Clean/train", "seed": bench.seed,
        "prompt": "tight box", "modules": modules, "seconds": secs,
    });
    write_atomic(
        &dir.join("fusion.json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    println!("wrote {} in {secs:.1} s", dir.display());
    Ok(())
}

/// The first `n` training images as fusion samples: the estimator's first pass on tight box
/// prompts and the ground truth. A bad image is reported and skipped.
fn first_passes<B: Backend>(
    sam: &AnySam<B>,
    est: &dyn UncertaintyEstimator<B>,
    split: &UncertSamSplit,
    n: usize,
    seed: u64,
) -> Result<(Vec<FusionSample<B>>, usize)> {
    let (mut out, mut bad) = (Vec::new(), 0);
    for i in 0..n {
        match fusion_sample(sam, est, split, i, seed) {
            Ok(s) => out.push(s),
            Err(e) => {
                bad += 1;
                eprintln!("skipping Synth-Clean/train #{i}: {e:#}");
            }
        }
    }
    if out.is_empty() {
        bail!("no usable training image among the first {n}");
    }
    Ok((out, bad))
}

fn fusion_sample<B: Backend>(
    sam: &AnySam<B>,
    est: &dyn UncertaintyEstimator<B>,
    split: &UncertSamSplit,
    i: usize,
    seed: u64,
) -> Result<FusionSample<B>> {
    let sample = split.get(i)?;
    let mut prompts = PromptBatch::new();
    for m in &sample.masks {
        let b = tight_box(&m.mask).with_context(|| format!("mask {} is empty", m.id))?;
        prompts = prompts.with_row(PromptRow {
            bbox: Some(b.map(f64::from)),
            ..Default::default()
        });
    }
    let image = EncodedImage::new(sam, sample.image.clone());
    let mut rng = SampleSeed::image(seed, &sample.dataset, sample.image_id).rng("fit-fusion");
    let estimate = est.estimate(sam, &image, &prompts, &mut rng)?;
    let [h, w] = image.embedding.original_size;
    let gt: Vec<f32> = sample
        .masks
        .iter()
        .flat_map(|m| m.mask.data().iter().map(|&g| f32::from(u8::from(g != 0))))
        .collect();
    let b = sample.masks.len();
    if gt.len() != b * h * w {
        bail!("{}: masks are not {h}x{w}", sample.image_path.display());
    }
    Ok(FusionSample {
        prompts: sam.prompts(&prompts, &image.embedding)?,
        gt: Tensor::from_data(TensorData::new(gt, [b, h, w]), &sam.model().device()),
        first_pass: FirstPass {
            uncertainty: estimate.maps.primary_map().clone(),
            logits: estimate.logits,
        },
        embedding: image.embedding,
    })
}

/// Sample indices of `epochs` passes, each shuffled by a stream of `seed`.
fn epoch_order(n: usize, epochs: usize, seed: u64) -> Vec<usize> {
    let mut rng = SampleSeed::image(seed, "Synth-Clean", 0).rng("fit-fusion/order");
    (0..epochs)
        .flat_map(|_| {
            let mut v: Vec<usize> = (0..n).collect();
            v.shuffle(&mut rng);
            v
        })
        .collect()
}

fn save_atomic<B: Backend>(fusion: &uncertsam_refine::DenseFusion<B>, path: &Path) -> Result<()> {
    let tmp = uncertsam_data::atomic::prepare(path)?;
    fusion.save(&tmp)?;
    Ok(uncertsam_data::atomic::commit(&tmp, path)?)
}
