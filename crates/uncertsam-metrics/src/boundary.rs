//! Boundary IoU (Cheng et al. 2021) as HQ-SAM's `mask_to_boundary` / `boundary_iou` compute it.

use crate::error::{MetricsError, Result};
use crate::morphology::{ColumnWindow, erode_rows};

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
#[cfg(test)]
pub(crate) fn mask_boundary(mask: &[u8], height: usize, width: usize, d: usize) -> Vec<u8> {
    let eroded = crate::morphology::erode_box(mask, height, width, d);
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

/// [`boundary_iou`] with radius `d`, for inputs already validated.
///
/// Both erosions slide down the image together ([`ColumnWindow`]), and each row's boundary
/// pixels are counted as soon as they are known: B(M) = M ∧ ¬erode(M) is never stored.
pub(crate) fn boundary_iou_unchecked(
    gt: &[u8],
    pred: &[u8],
    height: usize,
    width: usize,
    d: usize,
) -> f64 {
    let (rows_g, rows_p) = (
        erode_rows(gt, height, width, d),
        erode_rows(pred, height, width, d),
    );
    let mut window_g = ColumnWindow::new(&rows_g, height, width, d);
    let mut window_p = ColumnWindow::new(&rows_p, height, width, d);
    let (mut inter, mut union) = (0u64, 0u64);
    for (g, p) in gt.chunks_exact(width).zip(pred.chunks_exact(width)) {
        let full = window_g.full();
        let (cg, cp) = (window_g.counts(), window_p.counts());
        let (mut i, mut u) = (0u32, 0u32);
        for (((&g, &p), &cg), &cp) in g.iter().zip(p).zip(cg).zip(cp) {
            let bg = (g != 0) & (cg != full);
            let bp = (p != 0) & (cp != full);
            i += u32::from(bg & bp);
            u += u32::from(bg | bp);
        }
        inter += u64::from(i);
        union += u64::from(u);
        window_g.advance();
        window_p.advance();
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
    fn streamed_boundary_iou_counts_the_stored_boundaries() {
        let (h, w) = (23, 31);
        let mut s = 7u64;
        let mut mask = || -> Vec<u8> {
            (0..h * w)
                .map(|k| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let (i, j) = ((k / w) as i64 - 11, (k % w) as i64 - 15);
                    u8::from(i * i + j * j < 80 || (s >> 60) == 0)
                })
                .collect()
        };
        let (g, p) = (mask(), mask());
        for d in 0..6 {
            let (bg, bp) = (mask_boundary(&g, h, w, d), mask_boundary(&p, h, w, d));
            let inter = bg.iter().zip(&bp).filter(|&(&a, &b)| a & b != 0).count();
            let union = bg.iter().zip(&bp).filter(|&(&a, &b)| a | b != 0).count();
            let expected = inter as f64 / union as f64;
            let got = boundary_iou_unchecked(&g, &p, h, w, d);
            assert_eq!(
                got.to_bits(),
                expected.to_bits(),
                "d = {d}: {got} vs {expected}"
            );
        }
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
