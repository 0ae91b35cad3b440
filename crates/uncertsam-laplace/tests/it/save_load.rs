//! Save/load round trips and load errors.

use uncertsam_laplace::{
    DiagPrecision, FullPrecision, KronPrecision, LaplaceError, LastLayerLaplace, LayerShape,
    Likelihood, Precision, PriorPrecision,
};

fn fitted<P: Precision>(prior: PriorPrecision) -> LastLayerLaplace<P> {
    let shape = LayerShape::new(3, 2).unwrap();
    let w: Vec<f32> = (0..6).map(|i| 0.3 * i as f32 - 0.7).collect();
    let mut la =
        LastLayerLaplace::<P>::new(shape, Likelihood::BernoulliPixel, &w, &[0.1, -0.2]).unwrap();
    for n in 0..3 {
        let h: Vec<f32> = (0..3).map(|j| (n + j) as f32 * 0.4 - 0.5).collect();
        let e: Vec<f32> = (0..2 * 7)
            .map(|i| ((i * 5 + n) % 7) as f32 * 0.25 - 0.8)
            .collect();
        let y: Vec<f32> = (0..7).map(|i| ((i + n) % 2) as f32).collect();
        la.accumulate(&h, &e, Some(&y)).unwrap();
    }
    la.set_prior(prior).unwrap();
    la
}

fn round_trip<P: Precision>(prior: PriorPrecision) {
    let la = fitted::<P>(prior);
    let dir = tempfile::tempdir().unwrap();
    la.save(dir.path()).unwrap();
    let back = LastLayerLaplace::<P>::load(dir.path()).unwrap();
    assert_eq!(back.prior(), la.prior());
    assert_eq!(back.loss(), la.loss());
    assert_eq!(back.mean(), la.mean());
    assert_eq!(back.curvature().to_dense(), la.curvature().to_dense());
    assert_eq!(
        back.log_marginal_likelihood(back.prior()).unwrap(),
        la.log_marginal_likelihood(la.prior()).unwrap()
    );
}

#[test]
fn every_structure_round_trips_bit_exactly() {
    round_trip::<DiagPrecision>(PriorPrecision::Diagonal(
        (0..8).map(|i| 0.5 + i as f64).collect(),
    ));
    round_trip::<KronPrecision>(PriorPrecision::Layerwise {
        weight: 2.0,
        bias: 0.25,
    });
    round_trip::<FullPrecision>(PriorPrecision::Scalar(3.0));
}

#[test]
fn loading_as_another_structure_names_both() {
    let la = fitted::<DiagPrecision>(PriorPrecision::Scalar(1.0));
    let dir = tempfile::tempdir().unwrap();
    la.save(dir.path()).unwrap();
    let err = LastLayerLaplace::<KronPrecision>::load(dir.path()).unwrap_err();
    assert!(matches!(err, LaplaceError::Format { .. }));
    let msg = err.to_string();
    assert!(msg.contains("diag") && msg.contains("kron"), "{msg}");
}

#[test]
fn loading_a_missing_directory_is_an_io_error() {
    let err = LastLayerLaplace::<DiagPrecision>::load("/nonexistent/laplace").unwrap_err();
    assert!(matches!(err, LaplaceError::Io { .. }), "{err}");
    // The OS error is in the message, and not repeated by a chain printer (anyhow's `{:#}`).
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/laplace") && msg.contains("No such file"),
        "{msg}"
    );
    assert!(std::error::Error::source(&err).is_none(), "{msg}");
}
