//! Every built-in estimator runs from one config list on the tiny fixture; only TTA re-runs
//! the encoder; the sampling estimators batch their decoder passes.

use std::collections::HashSet;

use uncertsam_estimate::{
    CallCounter, EstimatorConfig, Persist, Segmenter, VarianceNet, VarianceNetConfig,
    VarianceNetEstimator,
};
use uncertsam_sam::Sam;

use crate::{TestBackend, boxes, check_estimate, rng, tiny};

/// The config list of the tests: every kind, with small sample counts. Writes an ensemble
/// member and variance-network weights into `dir`.
pub fn all_configs(sam: &Sam<TestBackend>, dir: &std::path::Path) -> Vec<EstimatorConfig> {
    let member = dir.join("member.safetensors");
    Sam::<TestBackend>::new(sam.config(), &Default::default())
        .expect("member")
        .save_safetensors(&member)
        .expect("save member");
    let head = VarianceNetEstimator::<TestBackend> {
        net: VarianceNet::new(&VarianceNetConfig::for_sam(sam), &Default::default()),
        config: VarianceNetConfig::for_sam(sam),
        label: "random".into(),
    };
    let head_dir = dir.join("varnet");
    head.save(&head_dir).expect("save head");
    let json = serde_json::json!([
        {"kind": "entropy"},
        {"kind": "iou_head"},
        {"kind": "multimask_disagreement"},
        {"kind": "tta", "photometric": {"type": "hue", "max_shift": 0.5}, "samples": 3},
        {"kind": "tta", "photometric": {"type": "in_domain"}, "hflip": true, "samples": 3,
         "include_identity": true},
        {"kind": "prompt_perturbation", "prompts": 4},
        {"kind": "mc_dropout", "p": 0.1, "samples": 4},
        {"kind": "mc_dropout", "p": 0.2, "samples": 2,
         "sites": ["token_attention", "image_to_token", "hypernetwork"]},
        {"kind": "ensemble", "members": [member]},
        {"kind": "variance_net", "dir": head_dir},
    ]);
    serde_json::from_value(json).expect("configs parse")
}

#[test]
fn every_estimator_runs_on_the_tiny_fixture_and_only_tta_reencodes() {
    let (sam, image) = tiny();
    let dir = tempfile::tempdir().expect("tempdir");
    let prompts = boxes();
    let mut names = HashSet::new();
    for config in all_configs(&sam, dir.path()) {
        let estimator = config.build(&sam).expect("build");
        let name = estimator.name();
        let counter = CallCounter::new(&sam);
        let est = estimator
            .estimate(&counter, &image, &prompts, &mut rng(7))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_estimate(&name, &est, 2, 64);
        let expected_embeds = match &config {
            EstimatorConfig::Tta(c) => c.samples - usize::from(c.include_identity),
            _ => 0,
        };
        assert_eq!(counter.embeds(), expected_embeds, "{name}: encoder passes");
        match &config {
            EstimatorConfig::McDropout(c) => {
                assert_eq!(counter.decodes(), 1, "{name}");
                assert_eq!(counter.decoded_rows(), 2 * c.samples, "{name}");
                assert_eq!(est.samples, c.samples);
            }
            EstimatorConfig::PromptPerturbation(c) => {
                assert_eq!(counter.decodes(), 1, "{name}");
                assert_eq!(counter.decoded_rows(), 2 * c.prompts, "{name}");
            }
            _ => {}
        }
        assert!(names.insert(name.clone()), "duplicate name {name}");
    }
    let expected: HashSet<String> = [
        "entropy",
        "iou_head",
        "multimask_disagreement",
        "tta(hue=0.5,s=3)",
        "tta(in_domain,flip,s=3,identity)",
        "prompt_perturbation(k=4)",
        "mc_dropout(p=0.1,s=4,sites=mlp+hyper)",
        "mc_dropout(p=0.2,s=2,sites=attn+i2t+hyper)",
        "ensemble(m=2)",
        "variance_net(varnet)",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(names, expected);
}

#[test]
fn configs_roundtrip_through_json_and_external_ones_are_left_to_the_caller() {
    for config in EstimatorConfig::paper_defaults() {
        let text = serde_json::to_string(&config).expect("serialise");
        let back: EstimatorConfig = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, config, "{text}");
    }
    let (sam, _) = crate::load("tiny_256");
    let external: EstimatorConfig = serde_json::from_str(
        r#"{"kind": "external", "name": "laplace", "params": {"samples": 100}}"#,
    )
    .expect("parse");
    assert!(external.build(&sam).is_err());
    let bad: EstimatorConfig =
        serde_json::from_str(r#"{"kind": "mc_dropout", "p": 1.5, "samples": 4}"#).expect("parse");
    assert!(bad.build(&sam).is_err());
    let segmenter: &dyn Segmenter<TestBackend> = &sam;
    assert!(segmenter.sam().config().img_size == 256);
}
