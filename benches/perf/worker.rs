//! `uncertsam-perf-worker ROW`: the Rust side of `cargo xtask perf` (xtask/src/perf.rs).
//!
//! Sets up one row (a model with random weights and its inputs), prints `{"ready": true}`, then
//! answers each `run` line on stdin with one timed call as `{"seconds": s}` (ratio rows add
//! `"baseline": s`, the plain decoder pass(es) they are divided by, timed right after in the same
//! call) and `quit` with `{"peak_rss_kib": n}` (`VmHWM`). `benches/perf/worker.py` is the
//! PyTorch side with the same rows and protocol, so xtask can interleave the two.

use std::io::{BufRead, Write};
use std::time::Instant;

use burn::backend::NdArray;
use burn::prelude::*;
use image::{Rgb, RgbImage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uncertsam_estimate::{
    DecoderHead, DeepEnsemble, DropoutSite, EncodedImage, Fit, FitSample, LaplaceConfig,
    LaplaceStructure, McDropout, McDropoutConfig, PromptPerturbation, PromptPerturbationConfig,
    Segmenter, UncertaintyEstimator,
};
use uncertsam_sam::{ImageEmbedding, PromptBatch, Sam, Sam2, Sam2Config, SamConfig};

type B = NdArray<f32>;

/// Samples of the sampling estimators (their `S` and the ensemble's `M` are in the row names).
const S: usize = 10;
const M: usize = 5;

/// One timed call: its seconds and, for ratio rows, the seconds of what it is divided by.
type Call = Box<dyn FnMut() -> (f64, Option<f64>)>;

fn main() -> anyhow::Result<()> {
    // The `uncertsam` binary's allocator setting (crates/uncertsam-bench/src/alloc.rs).
    uncertsam_bench::alloc::keep_freed_memory();
    uncertsam_bench::gemm_threads::one_thread_per_gemm();
    let row = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: uncertsam-perf-worker ROW"))?;
    let mut call = setup(&row)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{{\"ready\": true}}")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        match line?.trim() {
            "run" => {
                let (s, base) = call();
                match base {
                    Some(b) => writeln!(out, "{{\"seconds\": {s}, \"baseline\": {b}}}")?,
                    None => writeln!(out, "{{\"seconds\": {s}}}")?,
                }
            }
            "quit" => {
                writeln!(out, "{{\"peak_rss_kib\": {}}}", peak_rss_kib())?;
                out.flush()?;
                return Ok(());
            }
            other => anyhow::bail!("unknown command {other:?}"),
        }
        out.flush()?;
    }
    Ok(())
}

/// The process's peak resident set (`VmHWM` of `/proc/self/status`), 0 where unreadable.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The model input both sides use: `[1, 3, 1024, 1024]`, value `((i * 7919) mod 1000) / 500 - 1`
/// at flat index `i` (deterministic, cheap to build in numpy too).
fn model_input(side: usize) -> Tensor<B, 4> {
    let n = 3 * side * side;
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(v, [1, 3, side, side]), &Default::default())
}

fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64(), out)
}

/// Forces a lazy result to be computed (the backend is eager; this reads one value back).
fn sync<const D: usize>(t: Tensor<B, D>) {
    let _ = t.flatten::<1>(0, D - 1).narrow(0, 0, 1).into_data();
}

fn setup(row: &str) -> anyhow::Result<Call> {
    let device = Default::default();
    if let Some(name) = row.strip_prefix("encoder:") {
        let x = model_input(1024);
        return Ok(match name {
            "vit_b" | "vit_h" | "tiny_vit" => {
                let config = match name {
                    "vit_b" => SamConfig::vit_b(),
                    "vit_h" => SamConfig::vit_h(),
                    _ => SamConfig::mobile_sam(),
                };
                let sam = Sam::<B>::new(&config, &device)?;
                Box::new(move || {
                    let (s, e) = timed(|| sam.image_encoder.forward(x.clone()));
                    sync(e);
                    (s, None)
                })
            }
            "hiera_t" | "hiera_l" => {
                let config = Sam2Config::preset(name)
                    .ok_or_else(|| anyhow::anyhow!("no SAM 2 preset {name}"))?;
                let sam = Sam2::<B>::new(&config, &device)?;
                Box::new(move || {
                    let (s, e) = timed(|| sam.embed_input(x.clone(), [1024, 1024]));
                    sync(e.embeddings);
                    (s, None)
                })
            }
            other => anyhow::bail!("unknown encoder {other}"),
        });
    }
    if row == "metrics" {
        return Ok(metrics_call());
    }
    decoder_call(row)
}

/// The ViT-B geometry's prompt encoder + mask decoder on a random embedding (one 640 x 480
/// image), and the estimators on it.
fn decoder_call(row: &str) -> anyhow::Result<Call> {
    let device = Default::default();
    let config = SamConfig::vit_b();
    let sam = Sam::<B>::new(&config, &device)?;
    let e = config.image_embedding_size;
    let embedding = ImageEmbedding {
        embeddings: Tensor::<B, 4>::random(
            [1, config.prompt_embed_dim, e[0], e[1]],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        ),
        input_size: [768, 1024],
        original_size: [480, 640],
    };
    let image = EncodedImage {
        image: RgbImage::from_pixel(640, 480, Rgb([100, 110, 120])),
        embedding: embedding.into(),
    };
    let one = PromptBatch::new().with_box([100.0, 80.0, 400.0, 300.0]);
    if let Some(n) = row.strip_prefix("decoder:boxes") {
        let n: usize = n.parse()?;
        let mut batch = PromptBatch::new();
        for i in 0..n {
            let d = (i * 7) as f64;
            batch = batch.with_box([100.0 + d, 80.0 + d, 400.0 - d, 300.0 - d / 2.0]);
        }
        let built = sam.prompts(&batch, &image.embedding)?;
        return Ok(Box::new(move || {
            let (s, d) = timed(|| sam.decode(&image.embedding, &built, true));
            if let Ok(d) = d {
                sync(d.low_res_logits);
            }
            (s, None)
        }));
    }
    let built = sam.prompts(&one, &image.embedding)?;
    let (estimator, passes): (Box<dyn UncertaintyEstimator<B>>, usize) = match row {
        "estimator:mc_dropout" => (
            mc(&[DropoutSite::TransformerMlp, DropoutSite::Hypernetwork])?,
            S,
        ),
        "estimator:mc_dropout_hyper" => (mc(&[DropoutSite::Hypernetwork])?, S),
        "estimator:mc_dropout_token_attn" => (mc(&[DropoutSite::TokenAttention])?, S),
        "estimator:mc_dropout_image_to_token" => (mc(&[DropoutSite::ImageToToken])?, S),
        "estimator:prompt_perturbation" => (
            Box::new(PromptPerturbation::new(PromptPerturbationConfig {
                prompts: S,
                ..PromptPerturbationConfig::paper()
            })?),
            S,
        ),
        "estimator:ensemble" => {
            let members = (1..M)
                .map(|_| Sam::<B>::new(&config, &device).map(DecoderHead::from_sam))
                .collect::<Result<Vec<_>, _>>()?;
            (Box::new(DeepEnsemble::from_heads(members, true)?), M)
        }
        "estimator:laplace_kron" => (laplace(&sam, &image, &one, LaplaceStructure::Kron)?, 1),
        "estimator:laplace_diag" => (laplace(&sam, &image, &one, LaplaceStructure::Diag)?, 1),
        other => anyhow::bail!("unknown row {other}"),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    Ok(Box::new(move || {
        let (s, r) = timed(|| estimator.estimate(&sam, &image, &one, &mut rng));
        drop(r);
        let (b, d) = timed(|| {
            (0..passes)
                .map(|_| sam.decode(&image.embedding, &built, false))
                .collect::<Vec<_>>()
        });
        drop(d);
        (s, Some(b))
    }))
}

fn mc(sites: &[DropoutSite]) -> anyhow::Result<Box<dyn UncertaintyEstimator<B>>> {
    Ok(Box::new(McDropout::new(McDropoutConfig {
        p: 0.1,
        samples: S,
        sites: sites.to_vec(),
    })?))
}

/// A probit Laplace with `structure`, fitted on one sample (the box's inside as ground truth).
fn laplace(
    sam: &Sam<B>,
    image: &EncodedImage<B>,
    prompts: &PromptBatch,
    structure: LaplaceStructure,
) -> anyhow::Result<Box<dyn UncertaintyEstimator<B>>> {
    let [h, w] = image.embedding.original_size;
    let [x0, y0, x1, y1] = [100.0, 80.0, 400.0, 300.0];
    let gt: Vec<f32> = (0..h * w)
        .map(|i| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            f32::from(u8::from(x >= x0 && x <= x1 && y >= y0 && y <= y1))
        })
        .collect();
    let sample = FitSample {
        image: image.clone(),
        prompts: prompts.clone(),
        gt: Tensor::from_data(TensorData::new(gt, [1, h, w]), &Default::default()),
    };
    let config = LaplaceConfig {
        structure,
        ..LaplaceConfig::probit()
    };
    let fitted = config.fit(
        sam,
        &mut std::iter::once(sample),
        &mut ChaCha8Rng::seed_from_u64(0),
    )?;
    Ok(Box::new(fitted))
}

/// Every per-mask metric of the benchmark mask (`uncertsam_metrics::synthetic::disc_mask`, which
/// `fixtures/metrics/time_python.py` builds alike on the Python side), 1024 x 1024.
fn metrics_call() -> Call {
    let side = 1024;
    let m = uncertsam_metrics::synthetic::disc_mask(side);
    Box::new(move || {
        let inputs =
            uncertsam_metrics::MaskInputs::new(&m.pred, &m.gt, &m.prob, &m.unc, side, side)
                .with_std(&m.std);
        let (s, out) = timed(|| uncertsam_metrics::mask_metrics(&inputs));
        drop(out);
        (s, None)
    })
}
