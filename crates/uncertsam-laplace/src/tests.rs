//! Consistency oracles (laplace-torch's own test strategy) and properties.

use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

use crate::{
    DiagPrecision, FullPrecision, KronPrecision, LaplaceError, LastLayerLaplace, LayerShape,
    Likelihood, McOptions, PosteriorFactor, Precision, PriorPrecision,
};

/// A deterministic pseudo-random layer and examples from a seed.
struct Toy {
    shape: LayerShape,
    w: Vec<f32>,
    b: Vec<f32>,
    ex: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)>,
}

fn toy(seed: u64, d: usize, k: usize, n_pix: usize, n_ex: usize) -> Toy {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = |n: usize, s: f32| {
        (0..n)
            .map(|_| s * (rng.random::<f32>() * 2.0 - 1.0))
            .collect::<Vec<_>>()
    };
    let w = v(k * d, 0.8);
    let b = v(k, 0.5);
    let ex = (0..n_ex)
        .map(|_| {
            let h = v(d, 1.5);
            let e = v(k * n_pix, 1.0);
            let y = v(n_pix, 1.0)
                .into_iter()
                .map(|x| if x > 0.0 { 1.0 } else { 0.0 })
                .collect();
            (h, e, y)
        })
        .collect();
    Toy {
        shape: LayerShape::new(d, k).unwrap(),
        w,
        b,
        ex,
    }
}

fn fit<P: Precision>(
    t: &Toy,
    lik: Likelihood,
    range: std::ops::Range<usize>,
) -> LastLayerLaplace<P> {
    let mut la = LastLayerLaplace::<P>::new(t.shape, lik, &t.w, &t.b).unwrap();
    for (h, e, y) in &t.ex[range] {
        la.accumulate(h, e, Some(y)).unwrap();
    }
    la
}

fn close(a: &[f64], b: &[f64], rtol: f64) -> bool {
    let scale = b.iter().fold(1e-300f64, |m, x| m.max(x.abs()));
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= rtol * scale)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn diag_equals_the_diagonal_of_full(seed in 0u64..1000, softmax in any::<bool>()) {
        let t = toy(seed, 5, 3, 17, 4);
        let lik = if softmax { Likelihood::SoftmaxOverPixels } else { Likelihood::BernoulliPixel };
        let diag = fit::<DiagPrecision>(&t, lik, 0..4);
        let full = fit::<FullPrecision>(&t, lik, 0..4);
        prop_assert!(close(&diag.curvature().ggn_diagonal(), &full.curvature().ggn_diagonal(), 1e-13));
    }

    #[test]
    fn kron_matches_full_blocks_for_one_example(seed in 0u64..1000) {
        // KFAC's weight block B ⊗ A is exact for one example; the bias block is always exact;
        // the weight–bias cross blocks are 0 in KFAC.
        let t = toy(seed, 4, 3, 11, 1);
        let kron = fit::<KronPrecision>(&t, Likelihood::BernoulliPixel, 0..1).curvature().to_dense();
        let full = fit::<FullPrecision>(&t, Likelihood::BernoulliPixel, 0..1).curvature().to_dense();
        let (nw, p) = (t.shape.n_weight(), t.shape.n_params());
        for i in 0..p {
            for j in 0..p {
                let cross = (i < nw) != (j < nw);
                let expected = if cross { 0.0 } else { full[i * p + j] };
                prop_assert!((kron[i * p + j] - expected).abs() < 1e-12 * (1.0 + expected.abs()));
            }
        }
    }

    #[test]
    fn accumulating_a_then_b_equals_merging(seed in 0u64..1000, split in 1usize..5) {
        let t = toy(seed, 4, 2, 9, 5);
        fn check<P: Precision>(t: &Toy, split: usize) -> bool {
            let all = fit::<P>(t, Likelihood::BernoulliPixel, 0..5);
            let mut a = fit::<P>(t, Likelihood::BernoulliPixel, 0..split);
            let b = fit::<P>(t, Likelihood::BernoulliPixel, split..5);
            a.merge(&b).unwrap();
            close(&a.curvature().to_dense(), &all.curvature().to_dense(), 1e-13)
                && (a.loss() - all.loss()).abs() < 1e-12 * all.loss().abs().max(1.0)
                && a.n_examples() == all.n_examples()
        }
        prop_assert!(check::<DiagPrecision>(&t, split));
        prop_assert!(check::<KronPrecision>(&t, split));
        prop_assert!(check::<FullPrecision>(&t, split));
    }

    #[test]
    fn mc_maps_are_bounded(seed in 0u64..1000, prior in 0.01f64..10.0) {
        let t = toy(seed, 4, 3, 40, 3);
        let mut la = fit::<FullPrecision>(&t, Likelihood::BernoulliPixel, 0..3);
        la.set_prior(PriorPrecision::Scalar(prior)).unwrap();
        let post = la.posterior().unwrap();
        let (h, e, _) = &t.ex[0];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let maps = post.z_posterior(h).unwrap().mc(e, McOptions { samples: 50, entropy_eps: 0.0 }, &mut rng).unwrap();
        let ln2 = std::f32::consts::LN_2;
        for i in 0..maps.mean_prob.len() {
            prop_assert!(maps.predictive_entropy[i] <= ln2 + 1e-6);
            prop_assert!(maps.expected_entropy[i] <= maps.predictive_entropy[i] + 1e-6);
            prop_assert!(maps.mutual_information[i] >= 0.0);
            prop_assert!((0.0..=1.0).contains(&maps.mean_prob[i]));
            prop_assert!(maps.std[i] >= 0.0);
        }
    }
}

#[test]
fn probit_mean_is_within_mc_error_of_the_output_space_mc_mean_for_small_variance() {
    let t = toy(3, 6, 4, 64, 6);
    let mut la = fit::<KronPrecision>(&t, Likelihood::BernoulliPixel, 0..6);
    la.set_prior(PriorPrecision::Scalar(20.0)).unwrap();
    let post = la.posterior().unwrap();
    let (h, e, _) = &t.ex[0];
    let zp = post.z_posterior(h).unwrap();
    let probit = zp.probit(e).unwrap();
    let s = 20_000;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mc = zp
        .mc(
            e,
            McOptions {
                samples: s,
                entropy_eps: 0.0,
            },
            &mut rng,
        )
        .unwrap();
    for i in 0..probit.prob.len() {
        let v = f64::from(probit.logit_var[i]);
        assert!(v < 0.5, "variance {v} is not small");
        let se = f64::from(mc.std[i]) / (s as f64).sqrt();
        // MC error (5 standard errors) plus the probit approximation error, O(v²).
        let diff = (f64::from(probit.prob[i]) - f64::from(mc.mean_prob[i])).abs();
        assert!(
            diff < 5.0 * se + 0.02 * v * v + 1e-6,
            "pixel {i}: {diff} vs se {se}, v {v}"
        );
    }
}

fn moments(z: &[f64], k: usize) -> (Vec<f64>, Vec<f64>) {
    let s = (z.len() / k) as f64;
    let mut mean = vec![0.0; k];
    for zs in z.chunks_exact(k) {
        mean.iter_mut().zip(zs).for_each(|(m, x)| *m += x / s);
    }
    let mut cov = vec![0.0; k * k];
    for zs in z.chunks_exact(k) {
        for a in 0..k {
            for b in 0..k {
                cov[a * k + b] += (zs[a] - mean[a]) * (zs[b] - mean[b]) / (s - 1.0);
            }
        }
    }
    (mean, cov)
}

fn output_and_weight_space_agree<P: Precision>() {
    let t = toy(11, 5, 3, 30, 4);
    let mut la = fit::<P>(&t, Likelihood::BernoulliPixel, 0..4);
    la.set_prior(PriorPrecision::Scalar(0.5)).unwrap();
    let post = la.posterior().unwrap();
    let (h, _, _) = &t.ex[1];
    let zp = post.z_posterior(h).unwrap();
    let s = 40_000;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let z_out = zp.sample(s, &mut rng);
    let z_w = post.sample_z_weight_space(h, s, &mut rng).unwrap();
    let k = 3;
    for (name, z) in [("output", &z_out), ("weight", &z_w)] {
        let (mean, cov) = moments(z, k);
        for a in 0..k {
            let sd = zp.cov[a * k + a].sqrt();
            // Mean within 5 standard errors; variance within 5 standard errors (≈ σ² √(2/S)).
            assert!(
                (mean[a] - zp.mean[a]).abs() < 5.0 * sd / (s as f64).sqrt(),
                "{name} mean {a}"
            );
            for b in 0..k {
                let scale = (zp.cov[a * k + a] * zp.cov[b * k + b]).sqrt();
                let tol = 5.0 * scale * (2.0 / s as f64).sqrt();
                assert!(
                    (cov[a * k + b] - zp.cov[a * k + b]).abs() < tol,
                    "{name} cov {a}{b}"
                );
            }
        }
    }
}

#[test]
fn output_space_and_weight_space_samples_agree_in_distribution() {
    output_and_weight_space_agree::<DiagPrecision>();
    output_and_weight_space_agree::<KronPrecision>();
    output_and_weight_space_agree::<FullPrecision>();
}

#[test]
fn weight_space_samples_have_the_posterior_covariance() {
    // Checks every structure's sampler against its own covariance diagonal.
    fn check<P: Precision>() {
        let t = toy(2, 3, 2, 10, 3);
        let la = fit::<P>(&t, Likelihood::BernoulliPixel, 0..3);
        let post = la.posterior().unwrap();
        let var = post.factor().covariance_diagonal();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let s = 40_000;
        let mut acc = vec![0.0; var.len()];
        let mut off = vec![0.0; var.len()];
        for _ in 0..s {
            post.factor().sample_offset(&mut rng, &mut off);
            acc.iter_mut()
                .zip(&off)
                .for_each(|(a, o)| *a += o * o / s as f64);
        }
        for (a, v) in acc.iter().zip(&var) {
            assert!(
                (a - v).abs() < 5.0 * v * (2.0 / s as f64).sqrt(),
                "{a} vs {v}"
            );
        }
    }
    check::<DiagPrecision>();
    check::<KronPrecision>();
    check::<FullPrecision>();
}

#[test]
fn a_fixed_seed_gives_bit_identical_maps() {
    let t = toy(4, 4, 3, 700, 2);
    let la = fit::<FullPrecision>(&t, Likelihood::BernoulliPixel, 0..2);
    let post = la.posterior().unwrap();
    let (h, e, _) = &t.ex[0];
    let run = |seed| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a = post
            .z_posterior(h)
            .unwrap()
            .mc(e, McOptions::default(), &mut rng)
            .unwrap();
        let b = post
            .mc_weight_space(h, e, McOptions::default(), &mut rng)
            .unwrap();
        (a, b)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).0.mean_prob, run(8).0.mean_prob);
}

#[test]
fn diagonal_z_covariance_uses_the_closed_form() {
    // Spec §3.3: s_k = Σ_j h_j² σ²_{W,kj} + σ²_{b,k}; the probit variance is Σ_k s_k E_k(i)².
    let t = toy(8, 4, 3, 20, 3);
    let la = fit::<DiagPrecision>(&t, Likelihood::BernoulliPixel, 0..3);
    let post = la.posterior().unwrap();
    let (h, e, _) = &t.ex[2];
    let zp = post.z_posterior(h).unwrap();
    let var = post.factor().covariance_diagonal();
    let maps = zp.probit(e).unwrap();
    for i in 0..20 {
        let mut v = 0.0;
        for k in 0..3 {
            let s: f64 = (0..4)
                .map(|j| f64::from(h[j]).powi(2) * var[k * 4 + j])
                .sum::<f64>()
                + var[12 + k];
            v += s * f64::from(e[k * 20 + i]).powi(2);
        }
        assert!((f64::from(maps.logit_var[i]) - v).abs() < 1e-6 * v);
    }
}

#[test]
fn bad_shapes_are_errors_naming_both_shapes() {
    let t = toy(1, 4, 2, 8, 1);
    let mut la =
        LastLayerLaplace::<DiagPrecision>::new(t.shape, Likelihood::BernoulliPixel, &t.w, &t.b)
            .unwrap();
    let err = la.accumulate(&[0.0; 3], &t.ex[0].1, None).unwrap_err();
    assert!(matches!(err, LaplaceError::Shape { .. }));
    let msg = err.to_string();
    assert!(msg.contains("D = 4") && msg.contains("3 values"), "{msg}");
    let err = la
        .accumulate(&t.ex[0].0, &[0.0; 7], None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("K x N_pix = 2") && err.contains("7 values"),
        "{err}"
    );
    let err = la
        .accumulate(&t.ex[0].0, &t.ex[0].1, Some(&[1.0; 5]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("N_pix = 8") && err.contains("5 values"),
        "{err}"
    );
    let err = LastLayerLaplace::<DiagPrecision>::new(
        t.shape,
        Likelihood::BernoulliPixel,
        &t.w[1..],
        &t.b,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("K x D = 2 x 4") && err.contains("7 values"),
        "{err}"
    );
    assert!(matches!(
        la.accumulate(&[f32::NAN; 4], &t.ex[0].1, None),
        Err(LaplaceError::NonFinite("h"))
    ));
    // Marginal likelihood without targets is an error, not a silent wrong value.
    la.accumulate(&t.ex[0].0, &t.ex[0].1, None).unwrap();
    assert!(matches!(
        la.log_marginal_likelihood(&PriorPrecision::Scalar(1.0)),
        Err(LaplaceError::MissingTargets(1))
    ));
    let mut kron =
        LastLayerLaplace::<KronPrecision>::new(t.shape, Likelihood::BernoulliPixel, &t.w, &t.b)
            .unwrap();
    assert!(matches!(
        kron.set_prior(PriorPrecision::Diagonal(vec![1.0; 10])),
        Err(LaplaceError::UnsupportedPrior { .. })
    ));
    assert!(matches!(
        la.set_prior(PriorPrecision::Diagonal(vec![1.0; 3])),
        Err(LaplaceError::Shape { .. })
    ));
    assert!(matches!(
        la.set_prior(PriorPrecision::Scalar(-1.0)),
        Err(LaplaceError::InvalidPrior(_))
    ));
    let post = la.posterior().unwrap();
    let zp = post.z_posterior(&t.ex[0].0).unwrap();
    let mut out = vec![0.0f32; 3];
    assert!(matches!(
        zp.probit_into(&t.ex[0].1, &mut out, None, None),
        Err(LaplaceError::Shape { .. })
    ));
}
