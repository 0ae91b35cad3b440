//! Boundary IoU (Cheng et al. 2021) as HQ-SAM's `mask_to_boundary` / `boundary_iou` compute it.

use crate::error::{MetricsError, Result};
use crate::morphology::erode_box;

/// Boundary dilation radius d = max(1, round(ratio · sqrt(H² + W²))), with Python's
/// round-half-to-even (`int(round(x))`).
pub fn boundary_radius(height: usize, width: usize, ratio: f64) -> usize {
    let diag = ((height as f64).powi(2) + (width as f64).powi(2)).sqrt();
    ((ratio * diag).round_ties_even() as usize).max(1)
}

/// Inner boundary of a binary mask: B(M) = M − erode(pad₁(M), 3×3, d iterations), i.e. the
/// foreground pixels within Chebyshev distance d of background or of the image border.
///
/// `mask` must hold `height × width` values (checked by the callers).
pub(crate) fn mask_boundary(mask: &[u8], height: usize, width: usize, d: usize) -> Vec<u8> {
    let eroded = erode_box(mask, height, width, d);
    mask.iter()
        .zip(&eroded)
        .map(|(&m, &e)| u8::from(m != 0 && e == 0))
        .collect()
}

/// Boundary IoU = |B(G) ∧ B(P)| / |B(G) ∨ B(P)| with d = [`boundary_radius`]`(ratio)`.
///
/// There is no ε (as in HQ-SAM), so the result is NaN when both boundaries are empty, e.g.
/// for two empty masks.
///
/// # Errors
/// [`MetricsError::ShapeMismatch`] when a mask does not have `height × width` values.
pub fn boundary_iou(
    gt: &[u8],
    pred: &[u8],
    height: usize,
    width: usize,
    ratio: f64,
) -> Result<f64> {
    let expected = height
        .checked_mul(width)
        .ok_or(MetricsError::UnsupportedSize { height, width })?;
    for (name, len) in [("gt", gt.len()), ("pred", pred.len())] {
        if len != expected {
            return Err(MetricsError::ShapeMismatch {
                name,
                len,
                height,
                width,
                expected,
            });
        }
    }
    if expected == 0 {
        return Err(MetricsError::UnsupportedSize { height, width });
    }
    let d = boundary_radius(height, width, ratio);
    Ok(boundary_iou_unchecked(gt, pred, height, width, d))
}

pub(crate) fn boundary_iou_unchecked(
    gt: &[u8],
    pred: &[u8],
    height: usize,
    width: usize,
    d: usize,
) -> f64 {
    let bg = mask_boundary(gt, height, width, d);
    let bp = mask_boundary(pred, height, width, d);
    let (mut inter, mut union) = (0u64, 0u64);
    for (&g, &p) in bg.iter().zip(&bp) {
        inter += u64::from(g & p);
        union += u64::from(g | p);
    }
    inter as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_radius_rounds_half_to_even_like_python() {
        // 0.01 · 250 = 2.5 rounds to 2 in Python, and 0.01 · 150 = 1.5 rounds to 2.
        assert_eq!(boundary_radius(150, 200, 0.01), 2);
        assert_eq!(boundary_radius(90, 120, 0.01), 2);
        assert_eq!(boundary_radius(3, 4, 0.01), 1);
    }

    #[test]
    fn boundary_iou_of_two_empty_masks_is_nan() {
        let v = boundary_iou(&[0; 6], &[0; 6], 2, 3, 0.02).expect("valid shapes");
        assert!(v.is_nan());
    }

    #[test]
    fn boundary_iou_names_the_mask_with_the_wrong_length() {
        let e = boundary_iou(&[0; 6], &[0; 5], 2, 3, 0.02).unwrap_err();
        assert!(e.to_string().contains("pred has 5 values"), "{e}");
    }
}
