//! SAM 2 behind `Segmenter`: every estimator that applies runs on the `hiera_t_256` parity
//! model (random weights), the plain pass equals `Sam2::decode` of the pipeline, and the ones
//! built on SAM v1 decoders say they do not support SAM 2.

use uncertsam_estimate::{
    AnyConfig, AnySam, CallCounter, EncodedImage, EstimateError, EstimatorConfig, Segmenter,
    plain_pass,
};
use uncertsam_sam::{PromptBatch, Sam2, Sam2Config};

use crate::{TestBackend, check_estimate, max_diff, rng, values};

fn hiera_t() -> (Sam2<TestBackend>, image::RgbImage) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/sam2/hiera_t_256");
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
fn sam2_runs_every_applicable_estimator_and_refuses_the_v1_ones() {
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

    let dir = tempfile::tempdir().expect("tempdir");
    for json in [
        serde_json::json!({"kind": "ensemble", "members": [dir.path().join("m.safetensors")]}),
        serde_json::json!({"kind": "variance_net", "dir": dir.path()}),
    ] {
        let config: EstimatorConfig = serde_json::from_value(json).expect("config");
        match config.build(&model) {
            Err(EstimateError::Unsupported { what, .. }) => assert!(what.contains("SAM 2")),
            Err(e) => panic!("expected Unsupported, got {e}"),
            Ok(_) => panic!("a SAM v1 estimator accepted SAM 2"),
        }
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
