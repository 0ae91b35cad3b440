//! Every built-in estimator runs from one config list on the tiny fixture; only TTA re-runs
//! the encoder; the sampling estimators batch their decoder passes; a fixed seed gives
//! bit-identical maps.

use std::collections::HashSet;

use uncertsam_estimate::{
    CallCounter, EncodedImage, Estimate, EstimatorConfig, Fit, LaplaceConfig, LaplaceLikelihood,
    LaplacePredictive, LaplacePrior, LaplaceStructure, MarglikPrior, Persist, Segmenter,
    UncertaintyEstimator, VarianceNet, VarianceNetConfig, VarianceNetEstimator,
};
use uncertsam_sam::{PromptBatch, Sam};

use crate::{TestBackend, boxes, check_estimate, fit_sample, rng, tiny, values};

/// Fits `config` on one sample (`prompts` on `image`, box-interior ground truth) through
/// [`Fit`] and saves it into `dir` through [`Persist`].
pub fn fit_laplace(
    sam: &Sam<TestBackend>,
    image: &EncodedImage<TestBackend>,
    prompts: &PromptBatch,
    config: LaplaceConfig,
    dir: &std::path::Path,
) {
    let mut data = std::iter::once(fit_sample(image, prompts));
    let fitted = config
        .fit(sam, &mut data, &mut rng(0))
        .expect("fit laplace");
    Persist::<TestBackend>::save(&fitted, dir).expect("save laplace");
}

/// The config list of the tests: every kind, with small sample counts. Writes an ensemble
/// member, variance-network weights and three Laplace posteriors (fitted on `image` with
/// `prompts`) into `dir`. `full` adds a full-curvature posterior (too large at ViT-B scale,
/// where a per-parameter-prior diagonal takes its place).
pub fn all_configs(
    sam: &Sam<TestBackend>,
    image: &EncodedImage<TestBackend>,
    prompts: &PromptBatch,
    dir: &std::path::Path,
    full: bool,
) -> Vec<EstimatorConfig> {
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
    let (probit, paper, third) = (dir.join("probit"), dir.join("paper"), dir.join("third"));
    fit_laplace(sam, image, prompts, LaplaceConfig::probit(), &probit);
    fit_laplace(sam, image, prompts, LaplaceConfig::paper(4), &paper);
    let third_config = LaplaceConfig {
        likelihood: LaplaceLikelihood::BernoulliPixel,
        structure: if full {
            LaplaceStructure::Full
        } else {
            LaplaceStructure::Diag
        },
        prior: LaplacePrior::Marglik(if full {
            MarglikPrior::Layerwise
        } else {
            MarglikPrior::PerParameter
        }),
        predictive: LaplacePredictive::Probit,
    };
    fit_laplace(sam, image, prompts, third_config, &third);
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
        {"kind": "laplace", "dir": probit},
        {"kind": "laplace", "dir": paper},
        {"kind": "laplace", "dir": third, "predictive": {"type": "paper_weight_space", "samples": 3}},
    ]);
    serde_json::from_value(json).expect("configs parse")
}

/// The maps of an estimate, for bitwise comparison.
pub fn all_maps(e: &Estimate<TestBackend>) -> Vec<Vec<f32>> {
    let mut out = vec![
        values(e.prob.clone()),
        values(e.logits.clone()),
        values(e.iou.clone()),
        values(e.maps.predictive_entropy.clone()),
    ];
    for m in [
        &e.maps.aleatoric,
        &e.maps.epistemic,
        &e.maps.std,
        &e.maps.log_variance,
    ]
    .into_iter()
    .flatten()
    {
        out.push(values(m.clone()));
    }
    out
}

/// Runs `estimator` twice with seed 7 and checks that the maps are bit-identical.
pub fn run_twice(
    sam: &Sam<TestBackend>,
    estimator: &dyn UncertaintyEstimator<TestBackend>,
    image: &EncodedImage<TestBackend>,
    prompts: &PromptBatch,
) -> Estimate<TestBackend> {
    let name = estimator.name();
    let a = estimator
        .estimate(sam, image, prompts, &mut rng(7))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let b = estimator
        .estimate(sam, image, prompts, &mut rng(7))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(all_maps(&a) == all_maps(&b), "{name}: seed 7 twice differs");
    a
}

#[test]
fn every_estimator_runs_on_the_tiny_fixture_and_only_tta_reencodes() {
    let (sam, image) = tiny();
    let dir = tempfile::tempdir().expect("tempdir");
    let prompts = boxes();
    let mut names = HashSet::new();
    for config in all_configs(&sam, &image, &prompts, dir.path(), true) {
        let estimator = config.build(&sam).expect("build");
        let name = estimator.name();
        let counter = CallCounter::new(&sam);
        let est = estimator
            .estimate(&counter, &image, &prompts, &mut rng(7))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_estimate(&name, &est, 2, 64);
        assert!(
            all_maps(&est) == all_maps(&run_twice(&sam, estimator.as_ref(), &image, &prompts)),
            "{name}: not reproducible"
        );
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
            EstimatorConfig::Laplace(_) => {
                // One plain pass; the posterior works on its features.
                assert_eq!(
                    (counter.decodes(), counter.decoded_rows()),
                    (1, 2),
                    "{name}"
                );
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
        "laplace_probit",
        "laplace_paper(s=4)",
        "laplace(bernoulli_pixel,full,prior=marglik_layerwise,paper_weight_space(s=3))",
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
    assert!(segmenter.model().img_size() == 256);
}
