//! Degenerate and invalid inputs: documented errors or NaN, never a panic.

use uncertsam_metrics::ranking::{pearson, spearman_f64};
use uncertsam_metrics::risk_coverage::risk_coverage;
use uncertsam_metrics::{
    BootstrapConfig, CalibrationAccumulator, DatasetAccumulator, MaskInputs, MetricsError,
    mask_metrics,
};

type Owned = (Vec<u8>, Vec<u8>, Vec<f32>, Vec<f32>);

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32 / n as f32).collect()
}

fn square(m: &Owned) -> MaskInputs<'_> {
    MaskInputs::new(&m.0, &m.1, &m.2, &m.3, 6, 6)
}

#[test]
fn a_short_probability_map_is_an_error_naming_both_shapes() {
    let e = mask_metrics(&MaskInputs::new(
        &[0; 6], &[0; 6], &[0.5; 5], &[0.1; 6], 2, 3,
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "prob has 5 values but the mask is 2 × 3 = 6 pixels"
    );
}

#[test]
fn a_std_map_of_the_wrong_length_is_an_error() {
    let inputs = MaskInputs::new(&[0; 6], &[0; 6], &[0.5; 6], &[0.1; 6], 2, 3).with_std(&[0.0; 7]);
    assert!(matches!(
        mask_metrics(&inputs),
        Err(MetricsError::ShapeMismatch {
            name: "std",
            len: 7,
            ..
        })
    ));
}

#[test]
fn nan_in_the_uncertainty_is_an_error_with_its_index() {
    let mut unc = vec![0.1f32; 6];
    unc[4] = f32::NAN;
    let e = mask_metrics(&MaskInputs::new(&[0; 6], &[0; 6], &[0.5; 6], &unc, 2, 3)).unwrap_err();
    assert!(
        matches!(
            e,
            MetricsError::NonFinite {
                name: "unc",
                index: 4,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn probabilities_outside_the_unit_interval_are_an_error() {
    let e = mask_metrics(&MaskInputs::new(
        &[0; 2],
        &[0; 2],
        &[0.5, 1.5],
        &[0.1; 2],
        1,
        2,
    ))
    .unwrap_err();
    assert!(
        matches!(
            e,
            MetricsError::NotAProbability {
                name: "prob",
                index: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_mask_without_pixels_is_an_error() {
    let e = mask_metrics(&MaskInputs::new(&[], &[], &[], &[], 0, 5)).unwrap_err();
    assert!(matches!(
        e,
        MetricsError::UnsupportedSize {
            height: 0,
            width: 5
        }
    ));
}

#[test]
fn empty_ground_truth_gives_zero_iou_and_nan_roi_means() {
    let n = 30;
    let pred: Vec<u8> = (0..n).map(|i| u8::from(i % 7 == 0)).collect();
    let m = mask_metrics(&MaskInputs::new(
        &pred,
        &vec![0; n],
        &ramp(n),
        &ramp(n),
        5,
        6,
    ))
    .expect("valid");
    assert_eq!(m.iou, 0.0);
    assert!(
        m.mae_roi.is_nan() && m.sharp_roi.is_nan() && m.ece_roi.is_nan() && m.pearson_roi.is_nan()
    );
    assert!(m.auroc.is_finite());
}

#[test]
fn a_perfect_prediction_has_nan_error_detection_scores_and_boundary_iou_one() {
    let n = 64;
    let gt: Vec<u8> = (0..n)
        .map(|i| u8::from((i / 8) % 8 > 2 && i % 8 > 2))
        .collect();
    let m = mask_metrics(&MaskInputs::new(&gt, &gt, &ramp(n), &ramp(n), 8, 8)).expect("valid");
    assert!(m.auroc.is_nan() && m.aupr.is_nan());
    assert_eq!(m.biou_2, 1.0);
}

#[test]
fn constant_uncertainty_gives_zero_pearson_nan_spearman_and_half_auroc() {
    let n = 20;
    let pred: Vec<u8> = (0..n).map(|i| u8::from(i < 10)).collect();
    let gt: Vec<u8> = (0..n).map(|i| u8::from(i < 12)).collect();
    let m = mask_metrics(&MaskInputs::new(&pred, &gt, &ramp(n), &[0.2; 20], 4, 5)).expect("valid");
    assert_eq!(m.pearson, 0.0);
    assert!(m.spearman.is_nan());
    assert_eq!(m.auroc, 0.5);
    assert!(m.avg_sample_std.is_nan(), "no std map was given");
}

#[test]
fn slice_metrics_name_both_lengths_on_mismatch() {
    let e = pearson(&[1.0, 2.0], &[1.0]).unwrap_err();
    assert_eq!(e.to_string(), "x has 2 values but y has 1");
    assert!(spearman_f64(&[], &[]).is_err());
    assert!(risk_coverage(&[0.5], &[0.1, 0.2]).is_err());
    assert!(
        CalibrationAccumulator::new()
            .update_pixels(&[0.5], &[1, 0])
            .is_err()
    );
}

#[test]
fn an_empty_dataset_is_an_error_and_a_single_mask_has_nan_correlations() {
    let empty = DatasetAccumulator::new().finish(&BootstrapConfig::default());
    assert!(matches!(empty, Err(MetricsError::Empty { .. })));
    let mut acc = DatasetAccumulator::new();
    acc.update(&MaskInputs::new(
        &[1, 0],
        &[1, 1],
        &[0.7, 0.4],
        &[0.1, 0.8],
        1,
        2,
    ))
    .expect("valid");
    let d = acc.finish(&BootstrapConfig::default()).expect("one mask");
    assert!(d.unc_vs_iou.pearson.is_nan() && d.iou_pred_vs_iou.is_none());
    assert_eq!(d.risk_coverage_unc.eaurc, 0.0);
}

#[test]
fn merging_shards_equals_one_accumulator() {
    let masks: Vec<Owned> = (0..4)
        .map(|s| {
            let gt: Vec<u8> = (0..36).map(|i| u8::from((i + s) % 5 < 2)).collect();
            let pred: Vec<u8> = (0..36).map(|i| u8::from((i + 2 * s) % 4 < 2)).collect();
            let unc: Vec<f32> = (0..36)
                .map(|i| ((i * (s + 3)) % 11) as f32 / 11.0)
                .collect();
            (pred, gt, ramp(36), unc)
        })
        .collect();
    let mut whole = DatasetAccumulator::new();
    let (mut a, mut b) = (DatasetAccumulator::new(), DatasetAccumulator::new());
    for (k, m) in masks.iter().enumerate() {
        whole.update(&square(m)).expect("valid");
        let shard = if k < 2 { &mut a } else { &mut b };
        shard.update(&square(m)).expect("valid");
    }
    a.merge(&b);
    let config = BootstrapConfig::default();
    let (merged, one) = (
        a.finish(&config).expect("masks"),
        whole.finish(&config).expect("masks"),
    );
    // Pooled sums are added in a different order, so compare those to rounding.
    // NaN columns (no std map) compare unequal, so compare the printed values.
    assert_eq!(format!("{:?}", merged.means), format!("{:?}", one.means));
    assert_eq!(merged.risk_coverage_unc, one.risk_coverage_unc);
    assert!((merged.pooled.ece - one.pooled.ece).abs() < 1e-15);
    assert!((merged.pooled.nll - one.pooled.nll).abs() < 1e-12);
}
