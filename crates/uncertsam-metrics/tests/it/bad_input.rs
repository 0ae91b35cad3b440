//! Degenerate and invalid inputs: documented errors or NaN, never a panic.

use uncertsam_metrics::{MaskInputs, MetricsError, mask_metrics};

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
