//! Every refinement variant on SAM 2 (the `hiera_t_256` parity model, random weights), through
//! the same calls as SAM v1: the identity cases, the SAM 2 mask-prompt rules, click refinement,
//! the ground-truth oracle, and the dense fusion (training, round trip, the ones ablation).

use burn::prelude::*;
use uncertsam_refine::{
    ClickConfig, Convergence, DenseFusion, DenseFusionConfig, FirstPass, FusionSample,
    FusionTrainConfig, Placement, RefineConfig, Refiner, SAM2_MASK_PROMPT_CLAMP, ShrinkRule,
    UncertainThreshold, UncertaintyUpdate, decode_rows, fusion_loss, logit_entropy, train_fusion,
};
use uncertsam_sam::{Embedding, PromptBatch, PromptRow, Sam2, Sam2Config};

use crate::{TestAutodiff, TestBackend, values};

fn hiera_t() -> (Sam2<TestBackend>, Embedding<TestBackend>) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/sam2/hiera_t_256");
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    let cfg: Sam2Config = serde_json::from_str(&text).expect("parse config");
    let sam = Sam2::new(&cfg, &Default::default())
        .expect("sam2")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect("load");
    let image = image::open(dir.join("image.png")).expect("image").to_rgb8();
    let embedding = Embedding::from(sam.embed(&image));
    (sam, embedding)
}

/// Two boxes on the 300 x 200 image.
fn boxes() -> PromptBatch {
    PromptBatch::new()
        .with_box([60.0, 30.0, 240.0, 180.0])
        .with_box([10.0, 10.0, 150.0, 120.0])
}

/// An ellipse inside each box, row-major at the original size.
fn ground_truth(emb: &Embedding<TestBackend>) -> Vec<Vec<bool>> {
    let [h, w] = emb.original_size;
    boxes()
        .rows
        .iter()
        .map(|r| {
            let [x0, y0, x1, y1] = r.bbox.expect("box");
            let (cx, cy, rx, ry) = (
                (x0 + x1) / 2.0,
                (y0 + y1) / 2.0,
                (x1 - x0) / 2.0,
                (y1 - y0) / 2.0,
            );
            (0..h * w)
                .map(|i| {
                    let (x, y) = ((i % w) as f64, (i / w) as f64);
                    ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
                })
                .collect()
        })
        .collect()
}

/// SAM 2's box-prompted first pass (its chosen masks), with its entropy (or zeros).
fn first_pass(
    sam: &Sam2<TestBackend>,
    emb: &Embedding<TestBackend>,
    zero: bool,
) -> FirstPass<TestBackend> {
    let rows = decode_rows(sam, emb, boxes().rows).expect("decode");
    let side = sam.config().low_res_side();
    let u: Vec<Vec<f32>> = rows
        .iter()
        .map(|l| {
            l.iter()
                .map(|&x| if zero { 0.0 } else { logit_entropy(x) })
                .collect()
        })
        .collect();
    let t = |m: &[Vec<f32>]| {
        let v: Vec<f32> = m.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(v, [m.len(), side, side]), &sam.device())
    };
    FirstPass {
        logits: t(&rows),
        uncertainty: t(&u),
    }
}

fn clicks(placement: Placement, max_clicks: usize) -> RefineConfig {
    RefineConfig::Clicks(ClickConfig {
        placement,
        max_clicks,
        threshold: UncertainThreshold::default(),
        mask_input: true,
        update: UncertaintyUpdate::FirstPass,
        stop_agreement: None,
    })
}

#[test]
fn the_sam2_first_pass_is_sam2_decode_of_the_boxes() {
    let (sam, emb) = hiera_t();
    let first = first_pass(&sam, &emb, false);
    let e2 = emb.sam2().expect("sam2 view");
    let p = boxes().build_sam2(&sam, &e2).expect("prompts");
    let d = sam.decode(&e2, &p, false).expect("decode");
    let [b, _, h, w] = d.low_res_logits.dims();
    assert_eq!([b, h, w], [2, 64, 64]);
    assert_eq!(
        values(first.logits),
        values(d.low_res_logits.reshape([b, h, w]))
    );
}

#[test]
fn sam2_mask_prompts_are_clamped_as_the_official_predictor_returns_them() {
    let (sam, emb) = hiera_t();
    let first = first_pass(&sam, &emb, true);
    let host = first.to_host([64, 64]).expect("host");
    let c = SAM2_MASK_PROMPT_CLAMP;
    let row = |mask: Vec<f32>| PromptRow {
        mask: Some(mask),
        ..boxes().rows[0].clone()
    };
    // A mask prompt beyond ±32 decodes as the clamped one.
    let big: Vec<f32> = host.logits[0]
        .iter()
        .map(|&x| if x > 0.0 { 1000.0 } else { -1000.0 })
        .collect();
    let clamped: Vec<f32> = big.iter().map(|x| x.clamp(-c, c)).collect();
    let a = decode_rows(&sam, &emb, vec![row(big)]).expect("decode");
    let b = decode_rows(&sam, &emb, vec![row(clamped.clone())]).expect("decode");
    assert_eq!(a, b);
    // ... and differently from an unclamped ±10 prompt (the mask prompt does reach the decoder).
    let small: Vec<f32> = clamped.iter().map(|x| x / c * 10.0).collect();
    assert_ne!(
        decode_rows(&sam, &emb, vec![row(small)]).expect("decode"),
        b
    );
}

#[test]
fn every_refinement_variant_runs_on_sam2() {
    let (sam, emb) = hiera_t();
    let first = first_pass(&sam, &emb, false);
    let gt = ground_truth(&emb);
    let conv = Convergence::default();
    let none = Convergence {
        max_iterations: 0,
        agreement: 0.99,
    };

    // No pass (or a zero map for the uncertainty clicks) returns the first pass bit for bit.
    let zero = first_pass(&sam, &emb, true);
    for config in [
        RefineConfig::ShrinkUncertain {
            rule: ShrinkRule::default(),
            convergence: none,
        },
        RefineConfig::LogitsAsMask { convergence: none },
        clicks(Placement::Uncertainty, 3),
    ] {
        let out = Refiner::new(config.clone(), &sam)
            .expect("refiner")
            .refine(&sam, &emb, &boxes(), &zero, Some(&gt), 0)
            .expect("refine");
        assert_eq!(
            values(out.logits),
            values(zero.logits.clone()),
            "{}",
            config.name()
        );
        assert_eq!(out.iterations, vec![0, 0]);
    }

    // Shrinking by a zero map is re-prompting with the logits.
    let run = |c: RefineConfig, f: &FirstPass<TestBackend>| {
        let out = Refiner::new(c.clone(), &sam)
            .expect("refiner")
            .refine(&sam, &emb, &boxes(), f, Some(&gt), 5)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name()));
        assert_eq!(out.logits.dims(), [2, 64, 64], "{}", c.name());
        assert!(
            values(out.uncertainty.clone())
                .iter()
                .all(|u| u.is_finite() && *u >= 0.0)
        );
        out
    };
    let logits_as_mask =
        values(run(RefineConfig::LogitsAsMask { convergence: conv }, &zero).logits);
    let shrink = RefineConfig::ShrinkUncertain {
        rule: ShrinkRule::default(),
        convergence: conv,
    };
    assert_eq!(values(run(shrink.clone(), &zero).logits), logits_as_mask);
    assert_ne!(values(run(shrink, &first).logits), logits_as_mask);

    // The oracle and the clicks need the ground truth and spend their passes.
    let oracle = run(RefineConfig::GtOracle { eps: 1e-6 }, &first);
    assert_eq!(oracle.iterations, vec![1, 1]);
    for placement in [Placement::Uncertainty, Placement::Error, Placement::Random] {
        let out = run(clicks(placement, 2), &first);
        let curves = out.clicks.expect("curves");
        assert_eq!(curves.len(), 2);
        assert!(curves.iter().all(|c| c.ious.len() == 3), "{placement:?}");
        assert!(curves.iter().all(|c| !c.clicks.is_empty()), "{placement:?}");
    }
    let r = Refiner::new(RefineConfig::GtOracle { eps: 1e-6 }, &sam).expect("refiner");
    assert!(r.refine(&sam, &emb, &boxes(), &first, None, 0).is_err());
}

#[test]
fn sam2_dense_fusion_trains_round_trips_and_runs_with_its_ablation() {
    let (sam, emb) = hiera_t();
    let first = first_pass(&sam, &emb, false);
    let [h, w] = emb.original_size;
    let gt: Vec<f32> = ground_truth(&emb)
        .iter()
        .flatten()
        .map(|&g| f32::from(u8::from(g)))
        .collect();
    let s = FusionSample {
        prompts: boxes()
            .build_sam2(&sam, &emb.sam2().expect("sam2"))
            .expect("prompts"),
        embedding: emb.clone(),
        first_pass: first.clone(),
        gt: Tensor::from_data(TensorData::new(gt, [2, h, w]), &sam.device()),
    };
    let dim = sam.config().d_model;
    TestAutodiff::seed(&Default::default(), 3);
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
        after < before,
        "loss {before} -> {after} ({:?})",
        trained.losses
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fusion.safetensors");
    trained.fusion.save(&path).expect("save");
    let loaded = DenseFusion::<TestBackend>::load(&path, dim, &sam.device()).expect("load");
    let loss = fusion_loss(&sam, &loaded, &s, false)
        .expect("loss")
        .total
        .into_scalar();
    assert_eq!(loss, after);

    let refine = |ones_baseline, f: &FirstPass<TestBackend>, conv| {
        let config = RefineConfig::DenseFusion {
            weights_path: path.clone(),
            ones_baseline,
            convergence: conv,
        };
        Refiner::new(config, &sam)
            .expect("refiner")
            .refine(&sam, &emb, &boxes(), f, None, 0)
            .expect("refine")
    };
    let conv = Convergence::default();
    let with_u = refine(false, &first, conv);
    assert_eq!(with_u.iterations, vec![1, 1]);
    let ones = refine(true, &first, conv);
    assert_ne!(values(with_u.logits), values(ones.logits));
    let none = Convergence {
        max_iterations: 0,
        ..conv
    };
    let out = refine(false, &first, none);
    assert_eq!(values(out.logits), values(first.logits.clone()));
}
