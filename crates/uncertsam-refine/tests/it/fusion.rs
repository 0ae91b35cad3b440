//! The dense-fusion module on the fixture model: training lowers the loss, weights round-trip
//! through safetensors, and the refiner runs it (with the ones ablation).

use burn::prelude::*;
use uncertsam_refine::{
    Convergence, DenseFusion, DenseFusionConfig, FusionSample, FusionTrainConfig, RefineConfig,
    Refiner, fusion_loss, train_fusion,
};

use crate::{TestAutodiff, TestBackend, boxes, first_pass, ground_truth, tiny, values};

fn sample() -> (uncertsam_sam::Sam<TestBackend>, FusionSample<TestBackend>) {
    let (sam, emb) = tiny();
    let first = first_pass(&sam, &emb, false);
    let [h, w] = emb.original_size;
    let gt: Vec<f32> = ground_truth(&emb)
        .iter()
        .flatten()
        .map(|&g| f32::from(u8::from(g)))
        .collect();
    let gt = Tensor::from_data(TensorData::new(gt, [2, h, w]), &sam.device());
    let prompts = boxes().build(&sam, &emb).expect("prompts");
    let s = FusionSample {
        embedding: emb,
        prompts,
        first_pass: first,
        gt,
    };
    (sam, s)
}

#[test]
fn a_few_training_steps_reduce_the_sam_loss() {
    let (sam, s) = sample();
    let dim = sam.config().prompt_embed_dim;
    let fusion = DenseFusionConfig::new(dim).init::<TestAutodiff>(&Default::default());
    let before = fusion_loss(
        &sam,
        &burn::module::AutodiffModule::valid(&fusion),
        &s,
        false,
    )
    .expect("loss")
    .total
    .into_scalar();
    let config = FusionTrainConfig {
        lr: 3e-3,
        grad_clip: None,
        ..Default::default()
    };
    let trained =
        train_fusion::<TestAutodiff>(&sam, fusion, vec![s.clone(); 8], &config).expect("train");
    assert_eq!(trained.losses.len(), 8);
    assert!((trained.losses[0] - before).abs() < 1e-4 * before.abs().max(1.0));
    let after = fusion_loss(&sam, &trained.fusion, &s, false)
        .expect("loss")
        .total
        .into_scalar();
    assert!(
        after < 0.9 * before,
        "loss {before} -> {after} ({:?})",
        trained.losses
    );
}

#[test]
fn fusion_weights_round_trip_and_the_refiner_runs_them() {
    let (sam, s) = sample();
    let dim = sam.config().prompt_embed_dim;
    let fusion: DenseFusion<TestBackend> = DenseFusionConfig::new(dim).init(&sam.device());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fusion.safetensors");
    fusion.save(&path).expect("save");
    let loaded = DenseFusion::<TestBackend>::load(&path, dim, &sam.device()).expect("load");
    let loss = |f: &DenseFusion<TestBackend>| {
        fusion_loss(&sam, f, &s, false)
            .expect("loss")
            .total
            .into_scalar()
    };
    assert_eq!(loss(&fusion), loss(&loaded));
    // A module of another width is rejected with the key named.
    let err = DenseFusion::<TestBackend>::load(&path, dim * 2, &sam.device()).expect_err("width");
    assert!(
        err.to_string().contains("uncertainty_downscaling.6.weight"),
        "{err}"
    );

    let conv = Convergence::default();
    let run = |ones_baseline| {
        let config = RefineConfig::DenseFusion {
            weights_path: path.clone(),
            ones_baseline,
            convergence: conv,
        };
        let r = Refiner::new(config, &sam).expect("refiner");
        let out = r
            .refine(&sam, &s.embedding, &boxes(), &s.first_pass, None, 0)
            .expect("refine");
        assert_eq!(out.iterations, vec![1, 1]);
        values(out.logits)
    };
    let (with_u, ones) = (run(false), run(true));
    assert_eq!(with_u.len(), 2 * 64 * 64);
    assert_ne!(with_u, ones);

    // No refinement pass on a zero map returns the first pass bit for bit.
    let zero = first_pass(&sam, &s.embedding, true);
    let config = RefineConfig::DenseFusion {
        weights_path: path.clone(),
        ones_baseline: false,
        convergence: Convergence {
            max_iterations: 0,
            ..conv
        },
    };
    let out = Refiner::new(config, &sam)
        .expect("refiner")
        .refine(&sam, &s.embedding, &boxes(), &zero, None, 0)
        .expect("refine");
    assert_eq!(out.iterations, vec![0, 0]);
    assert_eq!(values(out.logits), values(zero.logits.clone()));
    assert_eq!(values(out.uncertainty), values(zero.uncertainty));
}
