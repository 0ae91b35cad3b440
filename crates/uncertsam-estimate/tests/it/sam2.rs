//! SAM 2 behind `Segmenter`: every estimator runs on the `hiera_t_256` parity model (random
//! weights), the plain pass equals `Sam2::decode` of the pipeline, deep ensembles load SAM 2
//! members, and the variance network trains, persists and reloads on SAM 2 decoder features.

use burn::prelude::*;
use uncertsam_estimate::{
    AnyConfig, AnySam, CallCounter, DecoderFeatures, EncodedImage, EstimateError, EstimatorConfig,
    Persist, Segmenter, TrainSample, UncertaintyEstimator, VarianceNet, VarianceNetConfig,
    VarianceNetEstimator, VarianceTrainConfig, plain_pass, train_variance_net,
};
use uncertsam_sam::{PromptBatch, Sam2, Sam2Config};

use crate::{TestAutodiff, TestBackend, check_estimate, max_diff, rng, values};

fn hiera_t_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sam2/hiera_t_256")
}

fn hiera_t() -> (Sam2<TestBackend>, image::RgbImage) {
    let dir = hiera_t_dir();
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    let cfg: Sam2Config = serde_json::from_str(&text).expect("parse config");
    assert!(matches!(
        AnyConfig::from_json(&text).expect("any config"),
        AnyConfig::Sam2(_)
    ));
    let sam = Sam2::new(&cfg, &Default::default())
        .expect("sam2")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect("load");
    let image = image::open(dir.join("image.png")).expect("image").to_rgb8();
    (sam, image)
}

/// Two boxes on the 300 x 200 image.
fn boxes() -> PromptBatch {
    PromptBatch::new()
        .with_box([60.0, 30.0, 240.0, 180.0])
        .with_box([10.0, 10.0, 150.0, 120.0])
}

#[test]
fn sam2_runs_every_estimator_without_files() {
    let (sam, image) = hiera_t();
    let encoded = EncodedImage::new(&sam, image.clone());
    assert!(encoded.embedding.high_res_features.is_some());
    assert_eq!(encoded.embedding.input_size, [256, 256]);
    let prompts = boxes();

    // The plain pass is the official image path: Sam2's own decode of the same prompts.
    let plain = plain_pass(&sam, &encoded, &prompts).expect("plain pass");
    let e2 = sam.embed(&image);
    let p2 = prompts.build_sam2(&sam, &e2).expect("prompts");
    let direct = sam.decode(&e2, &p2, false).expect("decode");
    let [b, _, h, w] = direct.low_res_logits.dims();
    assert_eq!(
        max_diff(
            &values(plain.logits.clone()),
            &values(direct.low_res_logits.reshape([b, h, w]))
        ),
        0.0
    );

    let json = serde_json::json!([
        {"kind": "entropy"},
        {"kind": "iou_head"},
        {"kind": "multimask_disagreement"},
        {"kind": "tta", "photometric": {"type": "hue", "max_shift": 0.5}, "samples": 2},
        {"kind": "tta", "photometric": {"type": "none"}, "hflip": true, "samples": 2,
         "include_identity": true},
        {"kind": "prompt_perturbation", "prompts": 3},
        {"kind": "mc_dropout", "p": 0.1, "samples": 3},
        {"kind": "mc_dropout", "p": 0.1, "samples": 2, "sites": ["hypernetwork"]},
    ]);
    let configs: Vec<EstimatorConfig> = serde_json::from_value(json).expect("configs");
    let model = AnySam::Sam2(sam);
    for config in configs {
        let estimator = config.build(&model).expect("build");
        let name = estimator.name();
        let counter = CallCounter::new(&model);
        let est = estimator
            .estimate(&counter, &encoded, &prompts, &mut rng(3))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_estimate(&name, &est, 2, 64);
    }
}

#[test]
fn a_sam2_decoder_refuses_a_v1_embedding_by_name() {
    let (sam, image) = hiera_t();
    let (v1, _) = crate::load("tiny_256");
    let v1_embedding = Segmenter::embed(&v1, &image);
    let err = Segmenter::prompts(&sam, &boxes(), &v1_embedding).expect_err("must refuse");
    assert!(err.to_string().contains("SAM 2"), "{err}");
}

/// The ensemble's sample spread: (max std, max mutual information) over all pixels.
fn spread(e: &uncertsam_estimate::Estimate<TestBackend>) -> (f32, f32) {
    let max = |t: &Option<Tensor<TestBackend, 3>>| {
        values(t.clone().expect("map"))
            .into_iter()
            .fold(0.0f32, f32::max)
    };
    (max(&e.maps.std), max(&e.maps.epistemic))
}

#[test]
fn sam2_ensembles_load_sam2_members_and_identical_members_do_not_spread() {
    let (sam, image) = hiera_t();
    let cfg = sam.config().clone();
    let encoded = EncodedImage::new(&sam, image);
    let prompts = boxes();
    let model = AnySam::Sam2(sam);
    let dir = tempfile::tempdir().expect("tempdir");
    // Two members of the model's geometry with different random initialisations.
    let device = Default::default();
    let members: Vec<_> = [1u64, 2]
        .iter()
        .map(|&seed| {
            TestBackend::seed(&device, seed);
            let path = dir.path().join(format!("member{seed}.safetensors"));
            Sam2::<TestBackend>::new(&cfg, &device)
                .expect("member")
                .save_safetensors(&path)
                .expect("save member");
            path
        })
        .collect();
    let build = |json: serde_json::Value| {
        let config: EstimatorConfig = serde_json::from_value(json).expect("config");
        config.build(&model).expect("build ensemble")
    };

    // The model's own checkpoint as the second member: both members decode the same masks, so
    // the spread is exactly zero and the mean is the plain pass.
    let same = build(serde_json::json!(
        {"kind": "ensemble", "members": [hiera_t_dir().join("model.safetensors")]}));
    assert_eq!(same.name(), "ensemble(m=2)");
    let e = same
        .estimate(&model, &encoded, &prompts, &mut rng(0))
        .expect("estimate");
    check_estimate("ensemble(same)", &e, 2, 64);
    assert_eq!(spread(&e), (0.0, 0.0));
    let plain = plain_pass(&model, &encoded, &prompts).expect("plain pass");
    let plain = uncertsam_estimate::Estimate::from_logits(plain.logits, plain.iou);
    assert_eq!(values(e.prob.clone()), values(plain.prob));

    // Differently initialised members disagree.
    let two = build(serde_json::json!(
        {"kind": "ensemble", "members": members, "include_base": false}));
    let counter = CallCounter::new(&model);
    let e = two
        .estimate(&counter, &encoded, &prompts, &mut rng(0))
        .expect("estimate");
    check_estimate("ensemble(seeds)", &e, 2, 64);
    assert_eq!(counter.embeds(), 0, "members share the cached embedding");
    let (std, mi) = spread(&e);
    assert!(std > 1e-3 && mi > 1e-4, "std {std}, MI {mi}");

    // A member of the other family does not load.
    let v1_member = dir.path().join("v1.safetensors");
    let (v1, _) = crate::load("tiny_256");
    v1.save_safetensors(&v1_member).expect("save v1");
    let config: EstimatorConfig =
        serde_json::from_value(serde_json::json!({"kind": "ensemble", "members": [v1_member]}))
            .expect("config");
    assert!(
        config.build(&model).is_err(),
        "a SAM v1 member loaded into SAM 2"
    );
}

#[test]
fn the_sam2_variance_net_trains_persists_and_reloads_to_identical_maps() {
    let (sam, image) = hiera_t();
    let encoded = EncodedImage::new(&sam, image);
    let prompts = boxes();
    let sample = TrainSample {
        prompts: sam.prompts(&prompts, &encoded.embedding).expect("prompts"),
        embedding: encoded.embedding.clone(),
        gt: crate::box_gt(&encoded, &prompts),
    };
    let config = VarianceNetConfig::for_sam2(&sam);
    assert!(config.sam2);
    TestAutodiff::seed(&Default::default(), 7);
    let net = VarianceNet::<TestAutodiff>::new(&config, &Default::default());
    let trained = train_variance_net(
        &sam,
        net,
        std::iter::repeat_n(sample.clone(), 8),
        &VarianceTrainConfig {
            lr: 1e-3,
            ..VarianceTrainConfig::default()
        },
    )
    .expect("train");
    let l = &trained.losses;
    assert_eq!(l.len(), 8);
    assert!(l.iter().all(|v| v.is_finite()));
    assert!(l[7] < l[0], "loss should fall: {l:?}");

    // The SAM 2 head reads the high-resolution features: without them it gives another map.
    let f = DecoderFeatures::of(sam.model(), &sample.embedding, &sample.prompts).expect("feats");
    assert!(f.high_res.is_some());
    let with = values(trained.net.forward_decoder(f.clone()));
    let without = values(trained.net.forward(f.token, f.src));
    assert!(max_diff(&with, &without) > 0.0);

    let est = VarianceNetEstimator {
        net: trained.net,
        config,
        label: "sam2".into(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    est.save(dir.path()).expect("save");
    let json = std::fs::read_to_string(dir.path().join("variance_net.json")).expect("json");
    assert!(json.contains("\"sam2\": true"), "{json}");
    let model = AnySam::Sam2(sam);
    let config: EstimatorConfig =
        serde_json::from_value(serde_json::json!({"kind": "variance_net", "dir": dir.path()}))
            .expect("config");
    let loaded = config.build(&model).expect("build");
    let a = est
        .estimate(&model, &encoded, &prompts, &mut rng(0))
        .expect("estimate");
    let b = loaded
        .estimate(&model, &encoded, &prompts, &mut rng(0))
        .expect("estimate");
    check_estimate("variance_net(sam2)", &b, 2, 64);
    assert_eq!(
        values(a.maps.log_variance.expect("logvar")),
        values(b.maps.log_variance.expect("logvar"))
    );
    assert_eq!(values(a.prob), values(b.prob));

    // The head refuses a SAM v1 model, naming both families.
    let (v1, _) = crate::load("tiny_256");
    match config.build(&v1) {
        Err(EstimateError::Config { message, .. }) => {
            assert!(
                message.contains("SAM 2") && message.contains("SAM v1"),
                "{message}"
            )
        }
        Err(e) => panic!("expected a config error, got {e}"),
        Ok(_) => panic!("a SAM 2 head accepted a SAM v1 model"),
    }
}
