//! Every estimator runs from one config list at the ViT-B geometry (`SamConfig::vit_b()`,
//! random weights). Fitted state (ensemble member, variance network, three Laplace posteriors)
//! goes through the real `Fit` / `Persist` path in a temporary directory.
//!
//! Two tests: with the real ViT-B encoder run once and its embedding shared by every estimator
//! and the Laplace fits (TTA re-runs it: S = 2 with the identity view, one more pass), which is
//! `#[ignore]`d because two ViT-B encoder passes take minutes in the test profile on a shared
//! 2-core machine (280 s, load 12); and the same list on a random embedding without TTA, which
//! always runs.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use image::{Rgb, RgbImage};
use uncertsam_estimate::{CallCounter, EncodedImage, EstimatorConfig, Segmenter};
use uncertsam_sam::{ImageEmbedding, PromptBatch, Sam, SamConfig};

use crate::estimators::{all_configs, all_maps};
use crate::{TestBackend, check_estimate, rng};

/// Runs every config (TTA only if `tta`: one config, S = 2 with the identity view) on `image`
/// and checks shapes, bounds, encoder passes and that seed 7 twice gives the same bits.
fn run_all(sam: &Sam<TestBackend>, image: &EncodedImage<TestBackend>, tta: bool) {
    let prompts = PromptBatch::new().with_box([8.0, 6.0, 50.0, 40.0]);
    let dir = tempfile::tempdir().expect("tempdir");
    let configs: Vec<EstimatorConfig> = all_configs(sam, image, &prompts, dir.path(), false)
        .into_iter()
        .filter_map(|c| match c {
            EstimatorConfig::Tta(mut t) if t.hflip && tta => {
                t.samples = 2;
                Some(EstimatorConfig::Tta(t))
            }
            EstimatorConfig::Tta(_) => None,
            other => Some(other),
        })
        .collect();
    assert_eq!(configs.len(), 11 + usize::from(tta));
    for config in configs {
        let t = Instant::now();
        let estimator = config.build(sam).expect("build");
        let name = estimator.name();
        let counter = CallCounter::new(sam);
        let est = estimator
            .estimate(&counter, image, &prompts, &mut rng(7))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_estimate(&name, &est, 1, 256);
        let is_tta = matches!(config, EstimatorConfig::Tta(_));
        assert_eq!(
            counter.embeds(),
            usize::from(is_tta),
            "{name}: encoder passes"
        );
        // Seed 7 twice gives the same bits (TTA's determinism is checked on the tiny fixture,
        // sparing a ViT-B encoder pass here).
        if !is_tta {
            let again = estimator
                .estimate(sam, image, &prompts, &mut rng(7))
                .expect("again");
            assert!(
                all_maps(&est) == all_maps(&again),
                "{name}: not reproducible"
            );
        }
        eprintln!("vit_b: {name} {:.1} s", t.elapsed().as_secs_f64());
    }
}

#[test]
#[ignore = "two ViT-B encoder passes: minutes in the test profile; run with --ignored"]
fn every_estimator_runs_at_the_vit_b_geometry_with_one_shared_encoder_pass() {
    let start = Instant::now();
    let sam = Sam::<TestBackend>::new(&SamConfig::vit_b(), &Default::default()).expect("vit_b");
    let pixels = RgbImage::from_fn(64, 48, |x, y| {
        Rgb([(4 * x) as u8, (5 * y) as u8, ((x * y) % 251) as u8])
    });
    let image = EncodedImage::new(&sam as &dyn Segmenter<TestBackend>, pixels);
    eprintln!(
        "vit_b: model + encoder {:.1} s",
        start.elapsed().as_secs_f64()
    );
    run_all(&sam, &image, true);
    eprintln!("vit_b: total {:.1} s", start.elapsed().as_secs_f64());
}

#[test]
fn every_estimator_but_tta_runs_at_the_vit_b_geometry_on_a_random_embedding() {
    let device = Default::default();
    let sam = Sam::<TestBackend>::new(&SamConfig::vit_b(), &device).expect("vit_b");
    let (h, w) = (48usize, 64usize);
    let image = EncodedImage {
        image: RgbImage::from_pixel(w as u32, h as u32, Rgb([120, 80, 40])),
        embedding: ImageEmbedding {
            embeddings: Tensor::random([1, 256, 64, 64], Distribution::Normal(0.0, 1.0), &device),
            input_size: [768, 1024],
            original_size: [h, w],
        }
        .into(),
    };
    run_all(&sam, &image, false);
}
