//! Estimator overhead as a ratio to one plain decoder pass (embedding precomputed): S-sample
//! MC dropout (transformer MLPs + hypernetwork, and hypernetwork only), K-prompt perturbation,
//! an M-member ensemble, and the whole last-layer Laplace probit estimator (its decoder pass,
//! the feature copy and the closed-form probit; Kronecker and diagonal posteriors, plus a full
//! one at the tiny geometry, fitted on one sample), at the tiny fixture geometry and the ViT-B
//! geometry (random weights). One prompt per image.
//!
//! `cargo bench -p uncertsam-estimate --bench overhead`; ratios in docs/performance.md.

use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use image::{Rgb, RgbImage};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uncertsam_estimate::{
    DecoderHead, DeepEnsemble, EncodedImage, Fit, FitSample, LaplaceConfig, LaplaceEstimator,
    LaplaceStructure, McDropout, McDropoutConfig, PromptPerturbation, PromptPerturbationConfig,
    Segmenter, UncertaintyEstimator,
};
use uncertsam_sam::{ImageEmbedding, PromptBatch, Sam, SamConfig};

type B = NdArray<f32>;

const S: usize = 10;
const M: usize = 5;

fn tiny_config() -> SamConfig {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/sam/tiny_256/config.json"
    );
    serde_json::from_str(&std::fs::read_to_string(dir).expect("fixture config")).expect("parse")
}

/// Fits a probit Laplace with `structure` on one sample (the box's inside as ground truth).
fn laplace(
    sam: &Sam<B>,
    image: &EncodedImage<B>,
    prompts: &PromptBatch,
    structure: LaplaceStructure,
) -> LaplaceEstimator {
    let [h, w] = image.embedding.original_size;
    let [x0, y0, x1, y1] = prompts.rows[0].bbox.expect("box");
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
    config
        .fit(
            sam,
            &mut std::iter::once(sample),
            &mut ChaCha8Rng::seed_from_u64(0),
        )
        .expect("fit laplace")
}

fn bench_geometry(c: &mut Criterion, label: &str, config: SamConfig) {
    let device = Default::default();
    let sam = Sam::<B>::new(&config, &device).expect("sam");
    let e = config.image_embedding_size;
    let embedding = ImageEmbedding {
        embeddings: Tensor::random(
            [1, config.prompt_embed_dim, e[0], e[1]],
            Distribution::Normal(0.0, 1.0),
            &device,
        ),
        input_size: [config.img_size * 3 / 4, config.img_size],
        original_size: [480, 640],
    };
    let image = EncodedImage {
        image: RgbImage::from_pixel(640, 480, Rgb([100, 110, 120])),
        embedding: embedding.into(),
    };
    let prompts = PromptBatch::new().with_box([100.0, 80.0, 400.0, 300.0]);
    let built = sam.prompts(&prompts, &image.embedding).expect("prompts");
    let mc = McDropout::new(McDropoutConfig {
        p: 0.1,
        samples: S,
        sites: vec![
            uncertsam_estimate::DropoutSite::TransformerMlp,
            uncertsam_estimate::DropoutSite::Hypernetwork,
        ],
    })
    .expect("mc");
    let mc_hyper = McDropout::new(McDropoutConfig {
        p: 0.1,
        samples: S,
        sites: vec![uncertsam_estimate::DropoutSite::Hypernetwork],
    })
    .expect("mc");
    let pp = PromptPerturbation::new(PromptPerturbationConfig {
        prompts: S,
        ..PromptPerturbationConfig::paper()
    })
    .expect("pp");
    let members = (1..M)
        .map(|_| DecoderHead::from_sam(Sam::<B>::new(&config, &device).expect("member")))
        .collect();
    let ensemble = DeepEnsemble::from_heads(members, true).expect("ensemble");
    let laplace_kron = laplace(&sam, &image, &prompts, LaplaceStructure::Kron);
    let laplace_diag = laplace(&sam, &image, &prompts, LaplaceStructure::Diag);
    // P = 132 at the tiny geometry; at ViT-B (P = 8224) factorising H takes minutes and 1.6 GB.
    let laplace_full =
        (label == "tiny").then(|| laplace(&sam, &image, &prompts, LaplaceStructure::Full));

    let mut group = c.benchmark_group(label);
    group
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    group.bench_function("plain_decoder_pass", |bench| {
        bench.iter(|| sam.decode(&image.embedding, &built, false).expect("decode"))
    });
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut estimators: Vec<(&str, &dyn UncertaintyEstimator<B>)> = vec![
        ("laplace_probit_kron", &laplace_kron),
        ("laplace_probit_diag", &laplace_diag),
        ("mc_dropout_s10", &mc),
        ("mc_dropout_hyper_s10", &mc_hyper),
        ("prompt_perturbation_k10", &pp),
        ("ensemble_m5", &ensemble),
    ];
    if let Some(full) = &laplace_full {
        estimators.insert(2, ("laplace_probit_full", full));
    }
    // The Laplace estimator's own work after its decoder pass (feature copy + probit), on a
    // pass computed once: less exposed to a busy machine than the difference of two runs.
    let pass = uncertsam_estimate::plain_pass(&sam, &image, &prompts).expect("pass");
    group.bench_function("laplace_probit_kron_after_pass", |bench| {
        bench.iter(|| {
            laplace_kron
                .estimate_from_pass(pass.clone(), &mut ChaCha8Rng::seed_from_u64(0))
                .expect("estimate")
        })
    });
    for (name, est) in estimators {
        group.bench_function(name, |bench| {
            bench.iter(|| {
                est.estimate(&sam, &image, &prompts, &mut rng)
                    .expect("estimate")
            })
        });
    }
    group.finish();
}

fn overhead(c: &mut Criterion) {
    bench_geometry(c, "tiny", tiny_config());
    if std::env::var_os("UNCERTSAM_BENCH_SKIP_VIT_B").is_none() {
        bench_geometry(c, "vit_b", SamConfig::vit_b());
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
