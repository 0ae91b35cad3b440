//! Last-layer Laplace as a plugin: config JSON, fit through `Fit`, save and load through
//! `Persist` and `EstimatorConfig` with identical maps, named errors for bad directories and
//! for a posterior applied to another model, and the predictives' relations (the probit's
//! map is `H(p̄)` of its own mean; MC converges to the same mean as the weight-space MC).

use uncertsam_estimate::{
    EstimatorConfig, Fit, LaplaceConfig, LaplaceEstimator, LaplacePredictive, Persist,
    UncertaintyEstimator,
};
use uncertsam_laplace::PriorPrecision;
use uncertsam_sam::Sam;

use crate::estimators::all_maps;
use crate::{TestBackend, boxes, fit_sample, max_diff, rng, tiny, values};

fn fit(config: LaplaceConfig) -> LaplaceEstimator {
    let (sam, image) = tiny();
    let mut data = std::iter::repeat_n(fit_sample(&image, &boxes()), 2);
    config.fit(&sam, &mut data, &mut rng(0)).expect("fit")
}

#[test]
fn configs_parse_from_json_and_name_themselves() {
    let c: LaplaceConfig = serde_json::from_str(
        r#"{"likelihood": "softmax_over_pixels", "structure": "full",
            "prior": {"marglik": "per_parameter"},
            "predictive": {"type": "paper_weight_space", "samples": 5}}"#,
    )
    .expect("parse");
    assert_eq!(
        c.name(),
        "laplace(softmax_over_pixels,full,prior=marglik_per_parameter,paper_weight_space(s=5))"
    );
    let default: LaplaceConfig = serde_json::from_str("{}").expect("defaults");
    assert_eq!(default, LaplaceConfig::probit());
    assert_eq!(default.name(), "laplace_probit");
    let paper: LaplaceConfig = serde_json::from_str(
        r#"{"likelihood": "softmax_over_pixels", "structure": "diag", "prior": {"fixed": 1.0},
            "predictive": {"type": "mc", "samples": 10}}"#,
    )
    .expect("parse");
    assert_eq!(paper.name(), "laplace_paper(s=10)");
    let text = serde_json::to_string(&paper).expect("serialise");
    assert_eq!(
        serde_json::from_str::<LaplaceConfig>(&text).expect("back"),
        paper
    );
    // Settings uncertsam-laplace cannot honour are rejected before fitting.
    let kron_diag_prior: LaplaceConfig =
        serde_json::from_str(r#"{"prior": {"marglik": "per_parameter"}}"#).expect("parse");
    let err = kron_diag_prior
        .validate()
        .expect_err("kron + per-parameter");
    assert!(err.to_string().contains("per-parameter"), "{err}");
    let zero = LaplaceConfig {
        predictive: LaplacePredictive::Mc { samples: 0 },
        ..LaplaceConfig::probit()
    };
    assert!(zero.validate().is_err());
}

#[test]
fn a_fitted_posterior_saves_loads_and_predicts_bit_identically() {
    let (sam, image) = tiny();
    let fitted = fit(LaplaceConfig::probit());
    assert_eq!(fitted.n_examples(), 4, "two samples of two masks");
    // The marginal likelihood moved the prior away from laplace-torch's default 1.
    match fitted.prior() {
        PriorPrecision::Scalar(x) => assert!(x.is_finite() && *x > 0.0 && *x != 1.0, "{x}"),
        other => panic!("scalar prior expected, got {other:?}"),
    }
    let dir = tempfile::tempdir().expect("tempdir");
    Persist::<TestBackend>::save(&fitted, dir.path()).expect("save");
    let loaded = <LaplaceEstimator as Persist<TestBackend>>::load(dir.path(), &Default::default())
        .expect("load");
    assert_eq!(loaded.prior(), fitted.prior());
    let built = EstimatorConfig::Laplace(uncertsam_estimate::LaplaceFiles {
        dir: dir.path().to_path_buf(),
        predictive: None,
    })
    .build(&sam)
    .expect("build");
    let run = |e: &dyn UncertaintyEstimator<TestBackend>| {
        all_maps(
            &e.estimate(&sam, &image, &boxes(), &mut rng(3))
                .expect("estimate"),
        )
    };
    let a = run(&fitted);
    assert!(a == run(&loaded) && a == run(built.as_ref()));
    // The probit shrinks SAM's logits towards 0 (`μ / sqrt(1 + π v / 8)`) but never flips
    // their sign (up to f32 rounding of the f64 `μ` and the sigmoid / logit round trip).
    let plain = uncertsam_estimate::Entropy
        .estimate(&sam, &image, &boxes(), &mut rng(3))
        .expect("plain");
    let ours = fitted
        .estimate(&sam, &image, &boxes(), &mut rng(3))
        .expect("probit");
    for (p, q) in values(plain.logits).iter().zip(values(ours.logits)) {
        assert!(p * q >= 0.0 || p.abs() < 1e-3, "sign: {p} vs {q}");
        assert!(q.abs() <= 1.01 * p.abs() + 1e-3, "shrink: {p} vs {q}");
    }
    assert_eq!(values(plain.iou), values(ours.iou));
}

#[test]
fn mc_in_z_space_and_the_papers_weight_space_mc_agree_in_the_mean() {
    let (sam, image) = tiny();
    let fitted = fit(LaplaceConfig::paper(1));
    let mean = |p: LaplacePredictive| {
        let est = fitted.clone().with_predictive(p).expect("predictive");
        let e = est
            .estimate(&sam, &image, &boxes(), &mut rng(11))
            .expect("estimate");
        assert_eq!(e.samples, 2000);
        values(e.prob)
    };
    let z = mean(LaplacePredictive::Mc { samples: 2000 });
    let w = mean(LaplacePredictive::PaperWeightSpace { samples: 2000 });
    // Same distribution of z; the mean of 2000 probabilities has a standard error <= 0.011.
    assert!(max_diff(&z, &w) < 0.06, "{}", max_diff(&z, &w));
}

#[test]
fn bad_directories_and_other_models_give_named_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = LaplaceEstimator::open(dir.path()).expect_err("empty dir");
    assert!(err.to_string().contains("laplace_estimator.json"), "{err}");

    let fitted = fit(LaplaceConfig::probit());
    Persist::<TestBackend>::save(&fitted, dir.path()).expect("save");
    std::fs::remove_file(dir.path().join("laplace.safetensors")).expect("rm");
    let err = LaplaceEstimator::open(dir.path()).expect_err("no tensors");
    assert!(err.to_string().contains("laplace.safetensors"), "{err}");

    Persist::<TestBackend>::save(&fitted, dir.path()).expect("save");
    std::fs::write(
        dir.path().join("laplace_estimator.json"),
        r#"{"structure": "diag"}"#,
    )
    .expect("write");
    let err = LaplaceEstimator::open(dir.path()).expect_err("structure mismatch");
    assert!(err.to_string().contains("laplace.json"), "{err}");

    // A posterior fitted for the fixture model does not apply to another model.
    Persist::<TestBackend>::save(&fitted, dir.path()).expect("save");
    let (sam, _) = tiny();
    let other = Sam::<TestBackend>::new(sam.config(), &Default::default()).expect("other");
    let config = EstimatorConfig::Laplace(uncertsam_estimate::LaplaceFiles {
        dir: dir.path().to_path_buf(),
        predictive: None,
    });
    let err = config.build(&other).err().expect("other weights");
    assert!(err.to_string().contains("refit"), "{err}");
    assert!(config.build(&sam).is_ok());
}

#[test]
fn the_backend_probit_equals_uncertsam_laplaces_probit_on_the_same_features() {
    // The estimator computes `μ` and `v = E(i)ᵀ Σ_z E(i)` with backend matmuls in f32; the
    // reference is uncertsam-laplace's f64 `ZPosterior::probit` (laplace-torch parity fixtures)
    // on host copies of the same pass's features.
    let (sam, image) = tiny();
    for config in [
        LaplaceConfig::probit(),
        LaplaceConfig {
            structure: uncertsam_estimate::LaplaceStructure::Full,
            ..LaplaceConfig::probit()
        },
    ] {
        let fitted = fit(config);
        let pass = uncertsam_estimate::plain_pass(&sam, &image, &boxes()).expect("pass");
        let [b, d] = pass.output.token0_hidden.dims();
        let hs = values(pass.output.token0_hidden.clone());
        let es = values(pass.output.upscaled_embedding.clone());
        let per = es.len() / b;
        let ours = values(
            fitted
                .estimate_from_pass(pass, &mut rng(0))
                .expect("probit")
                .prob,
        );
        for i in 0..b {
            let zp = fitted.z_posterior(&hs[i * d..(i + 1) * d]).expect("z");
            let reference = zp.probit(&es[i * per..(i + 1) * per]).expect("probit").prob;
            let n = reference.len();
            let diff = max_diff(&ours[i * n..(i + 1) * n], &reference);
            assert!(diff < 1e-5, "{}: row {i} differs by {diff}", config.name());
        }
    }
}
