//! Every estimator runs at the ViT-B decoder geometry (random weights; the embedding is a
//! random tensor, so the ViT-B encoder never runs except where TTA would need it, which the
//! identity-only TTA config avoids).

use burn::prelude::*;
use burn::tensor::Distribution;
use image::{Rgb, RgbImage};
use uncertsam_estimate::{CallCounter, EncodedImage, EstimatorConfig};
use uncertsam_sam::{ImageEmbedding, PromptBatch, Sam, SamConfig};

use crate::{TestBackend, check_estimate, rng};

#[test]
fn every_estimator_runs_at_the_vit_b_geometry_from_one_config() {
    let device = Default::default();
    let sam = Sam::<TestBackend>::new(&SamConfig::vit_b(), &device).expect("vit_b");
    let (h, w) = (48usize, 64usize);
    let embedding = ImageEmbedding {
        embeddings: Tensor::random([1, 256, 64, 64], Distribution::Normal(0.0, 1.0), &device),
        input_size: [768, 1024],
        original_size: [h, w],
    };
    let image = EncodedImage {
        image: RgbImage::from_pixel(w as u32, h as u32, Rgb([120, 80, 40])),
        embedding,
    };
    let prompts = PromptBatch::new().with_box([8.0, 6.0, 50.0, 40.0]);
    let dir = tempfile::tempdir().expect("tempdir");
    let configs: Vec<EstimatorConfig> = crate::estimators::all_configs(&sam, dir.path())
        .into_iter()
        .map(|c| match c {
            // Identity view only: TTA's own encoder passes are covered on the tiny fixture.
            EstimatorConfig::Tta(mut t) => {
                t.samples = 1;
                t.include_identity = true;
                EstimatorConfig::Tta(t)
            }
            other => other,
        })
        .collect();
    for config in configs {
        let estimator = config.build(&sam).expect("build");
        let counter = CallCounter::new(&sam);
        let est = estimator
            .estimate(&counter, &image, &prompts, &mut rng(1))
            .unwrap_or_else(|e| panic!("{}: {e}", estimator.name()));
        check_estimate(&estimator.name(), &est, 1, 256);
        assert_eq!(counter.embeds(), 0, "{}", estimator.name());
    }
}
