//! Property tests of the metric definitions.

use proptest::prelude::*;
use uncertsam_metrics::bootstrap::bootstrap_mean_ci;
use uncertsam_metrics::calibration::binary_ece;
use uncertsam_metrics::ranking::{auroc, spearman};
use uncertsam_metrics::{BootstrapConfig, Confusion};

/// Scores drawn from few levels, so that ties are common.
fn tied_scores(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec((0u8..12).prop_map(|k| f32::from(k) / 4.0 - 1.0), n)
}

proptest! {
    #[test]
    fn iou_is_symmetric_and_in_the_unit_interval(
        pair in (1usize..200).prop_flat_map(|n| (prop::collection::vec(0u8..2, n), prop::collection::vec(0u8..2, n)))
    ) {
        let a = Confusion::from_masks(&pair.0, &pair.1).expect("same length").iou();
        let b = Confusion::from_masks(&pair.1, &pair.0).expect("same length").iou();
        prop_assert_eq!(a, b);
        prop_assert!((0.0..=1.0).contains(&a));
    }

    #[test]
    fn auroc_and_spearman_ignore_strictly_increasing_transforms(
        data in (2usize..120).prop_flat_map(|n| (tied_scores(n), prop::collection::vec(any::<bool>(), n), tied_scores(n)))
    ) {
        let (u, labels, e) = data;
        // exp(3u) + 7 is strictly increasing and keeps distinct f32 levels distinct here.
        let t: Vec<f32> = u.iter().map(|&x| (3.0 * x).exp() + 7.0).collect();
        let (a, b) = (auroc(&u, &labels).expect("valid"), auroc(&t, &labels).expect("valid"));
        prop_assert!(a == b || (a.is_nan() && b.is_nan()), "{} vs {}", a, b);
        let (r, s) = (spearman(&u, &e).expect("valid"), spearman(&t, &e).expect("valid"));
        prop_assert!(r == s || (r.is_nan() && s.is_nan()), "{} vs {}", r, s);
    }

    #[test]
    fn a_perfect_separator_has_auroc_one(
        neg in prop::collection::vec(-5.0f32..0.0, 1..50),
        pos in prop::collection::vec(0.5f32..5.0, 1..50),
    ) {
        let scores: Vec<f32> = neg.iter().chain(&pos).copied().collect();
        let labels: Vec<bool> = neg.iter().map(|_| false).chain(pos.iter().map(|_| true)).collect();
        prop_assert_eq!(auroc(&scores, &labels).expect("valid"), 1.0);
    }

    #[test]
    fn perfectly_calibrated_bins_have_zero_ece(
        per_bin in prop::collection::vec((1usize..6, 0usize..6), 10)
    ) {
        // Bin k holds 10·m pixels at p = (k + 0.5) / 10 (exact in f32 to 1e-7), of which a
        // fraction p is foreground: 10·m·p = m(k + 0.5) needs m even.
        let (mut prob, mut gt) = (Vec::new(), Vec::new());
        for (k, &(half_m, _)) in per_bin.iter().enumerate() {
            let m = 2 * half_m;
            let n = 10 * m;
            let positives = m * (2 * k + 1) / 2;
            for i in 0..n {
                prob.push((k as f32 + 0.5) / 10.0);
                gt.push(u8::from(i < positives));
            }
        }
        let ece = binary_ece(&prob, &gt).expect("valid");
        prop_assert!(ece < 1e-7, "{}", ece);
    }

    #[test]
    fn the_bootstrap_is_a_pure_function_of_its_seed(
        values in prop::collection::vec(-10.0f64..10.0, 1..40),
        seed in any::<u64>(),
    ) {
        let config = BootstrapConfig { resamples: 200, level: 0.9, seed };
        let a = bootstrap_mean_ci(&[&values], &config).expect("valid");
        let b = bootstrap_mean_ci(&[&values], &config).expect("valid");
        prop_assert_eq!(&a, &b);
        let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        // A resample mean is sum/k in f64, which can leave [min, max] by the summation's rounding
        // error (three copies of 6.5589.. average to one ulp above it): bound it by k * eps * max|v|.
        let slack = values.len() as f64 * f64::EPSILON * lo.abs().max(hi.abs());
        prop_assert!(lo - slack <= a[0].low && a[0].low <= a[0].high && a[0].high <= hi + slack);
    }
}

#[test]
fn the_mean_of_equal_values_can_round_one_ulp_above_them() {
    // The case proptest found: the interval is numpy's, and numpy rounds the same way.
    let x = 6.558900062294919f64;
    assert!((x + x + x) / 3.0 > x);
    let config = BootstrapConfig {
        resamples: 200,
        level: 0.9,
        seed: 13073126814927306771,
    };
    let ci = bootstrap_mean_ci(&[&[0.0, 0.0, x]], &config).expect("valid");
    assert!(
        ci[0].low >= 0.0 && ci[0].high <= x + 3.0 * f64::EPSILON * x,
        "{:?}",
        ci[0]
    );
}
