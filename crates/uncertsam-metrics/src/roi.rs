//! The paper's region of interest: the ground truth dilated by a box (`get_dilated_roi`).

use crate::error::{MetricsError, Result};
use crate::morphology::dilate_box;

/// Ratio of the image diagonal used for the ROI dilation radius.
pub const ROI_RATIO: f64 = 0.02;

/// ROI dilation radius d = ⌈0.02 · sqrt(H² + W²)⌉ (in f64, as Python's `math.ceil`).
pub fn roi_radius(height: usize, width: usize) -> usize {
    let diag = ((height as f64).powi(2) + (width as f64).powi(2)).sqrt();
    (diag * ROI_RATIO).ceil() as usize
}

/// The ROI mask: `gt` (nonzero = foreground) dilated by a (2d+1)² box with
/// d = [`roi_radius`], zero-padded. Empty ground truth gives an empty ROI.
///
/// # Errors
/// [`MetricsError::ShapeMismatch`] when `gt` does not hold `height × width` values, and
/// [`MetricsError::UnsupportedSize`] for an empty mask.
pub fn dilated_roi(gt: &[u8], height: usize, width: usize) -> Result<Vec<u8>> {
    let expected = height.checked_mul(width).filter(|&n| n > 0);
    let expected = expected.ok_or(MetricsError::UnsupportedSize { height, width })?;
    if gt.len() != expected {
        return Err(MetricsError::ShapeMismatch {
            name: "gt",
            len: gt.len(),
            height,
            width,
            expected,
        });
    }
    Ok(dilated_roi_unchecked(gt, height, width))
}

/// [`dilated_roi`] for inputs already validated.
pub(crate) fn dilated_roi_unchecked(gt: &[u8], height: usize, width: usize) -> Vec<u8> {
    dilate_box(gt, height, width, roi_radius(height, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_radius_of_a_1024_square_is_29() {
        assert_eq!(roi_radius(1024, 1024), 29);
        assert_eq!(roi_radius(1, 1), 1);
    }
}
