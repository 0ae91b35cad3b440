//! Prompt geometry from a ground-truth mask: tight boxes, box jitter, point sampling and jitter.
//!
//! Boxes are `[x0, y0, x1, y1]` with inclusive pixel indices (the original code's
//! `[x_min, y_min, x_max, y_max]` over nonzero pixels); points are pixel indices `(x, y)`.
//! Every random draw comes from a caller-supplied `rng`, normally [`crate::SampleSeed::rng`].

use rand::Rng;
use rand::seq::index;

use crate::mask::Mask;
use crate::resize::resize_square;
use crate::seed::{SampleSeed, streams};

/// A box `[x0, y0, x1, y1]`, inclusive pixel indices.
pub type BoxXyxy = [f32; 4];

/// A point prompt in pixel coordinates with its label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabeledPoint {
    /// `(x, y)` in pixels.
    pub xy: (f32, f32),
    /// Foreground (SAM label 1) or background (label 0).
    pub positive: bool,
}

/// The tight box of a mask's foreground, or `None` for an empty mask.
pub fn tight_box(mask: &Mask) -> Option<BoxXyxy> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..mask.height() {
        let row = &mask.data()[y * mask.width()..(y + 1) * mask.width()];
        if let (Some(first), Some(last)) = (
            row.iter().position(|&v| v != 0),
            row.iter().rposition(|&v| v != 0),
        ) {
            x0 = x0.min(first);
            x1 = x1.max(last);
            y0 = y0.min(y);
            y1 = y;
        }
    }
    (x0 != usize::MAX).then_some([x0 as f32, y0 as f32, x1 as f32, y1 as f32])
}

/// The tight box of the mask after the square resize to `size` x `size` (SAM 2 eval's GT box,
/// in model coordinates). Use [`tight_box`] for the original-image box a SAM v1 predictor takes.
pub fn model_box(mask: &Mask, size: usize) -> Option<BoxXyxy> {
    tight_box(&resize_square(mask, size))
}

/// Jitters each box coordinate by `U(-1, 1) * min(0.1 * side, 20)` pixels (x by the box width,
/// y by its height), then clamps to an image of `width` x `height`.
///
/// The noise is at most a tenth of the side per corner, so the corners never cross.
pub fn jitter_box(b: BoxXyxy, width: usize, height: usize, rng: &mut impl Rng) -> BoxXyxy {
    let sx = (0.1 * (b[2] - b[0])).min(20.0);
    let sy = (0.1 * (b[3] - b[1])).min(20.0);
    let (xmax, ymax) = (
        width.saturating_sub(1) as f32,
        height.saturating_sub(1) as f32,
    );
    let mut out = b;
    for (i, v) in out.iter_mut().enumerate() {
        let (scale, hi) = if i % 2 == 0 { (sx, xmax) } else { (sy, ymax) };
        let noise: f32 = rng.random_range(-1.0..1.0);
        *v = (*v + noise * scale).clamp(0.0, hi);
    }
    out
}

/// Samples up to `positive` foreground and `negative` background pixels uniformly without
/// replacement (fewer when the mask has fewer), positives first.
pub fn sample_points(
    mask: &Mask,
    positive: usize,
    negative: usize,
    rng: &mut impl Rng,
) -> Vec<LabeledPoint> {
    let w = mask.width();
    let mut out = Vec::with_capacity(positive + negative);
    for (label, n) in [(true, positive), (false, negative)] {
        let pool: Vec<usize> = (0..mask.data().len())
            .filter(|&i| (mask.data()[i] != 0) == label)
            .collect();
        for k in index::sample(rng, pool.len(), n.min(pool.len())) {
            let p = pool[k];
            out.push(LabeledPoint {
                xy: ((p % w) as f32, (p / w) as f32),
                positive: label,
            });
        }
    }
    out
}

/// Moves each point by `U(-1, 1) * 20` pixels per coordinate, clamps it to the mask, and
/// re-reads its label from the mask at the rounded position.
pub fn jitter_points(
    points: &[LabeledPoint],
    mask: &Mask,
    rng: &mut impl Rng,
) -> Vec<LabeledPoint> {
    let (xmax, ymax) = (
        mask.width().saturating_sub(1) as f32,
        mask.height().saturating_sub(1) as f32,
    );
    points
        .iter()
        .map(|p| {
            let dx: f32 = rng.random_range(-1.0..1.0);
            let dy: f32 = rng.random_range(-1.0..1.0);
            let x = (p.xy.0 + 20.0 * dx).clamp(0.0, xmax);
            let y = (p.xy.1 + 20.0 * dy).clamp(0.0, ymax);
            LabeledPoint {
                xy: (x, y),
                positive: mask.get(x.round() as usize, y.round() as usize),
            }
        })
        .collect()
}

/// How many points to sample and the model's square input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromptConfig {
    /// Side of the square model input (1024 for SAM).
    pub model_size: usize,
    /// Positive points per mask (the original samples 8).
    pub positive_points: usize,
    /// Negative points per mask (the original samples none).
    pub negative_points: usize,
}

impl Default for PromptConfig {
    fn default() -> Self {
        Self {
            model_size: 1024,
            positive_points: 8,
            negative_points: 0,
        }
    }
}

/// The unperturbed prompts of one ground-truth mask.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskPrompts {
    /// Tight box in original-image pixels (what a SAM v1 predictor takes).
    pub box_original: BoxXyxy,
    /// Tight box of the square-resized mask, in model pixels (what SAM 2 eval uses).
    pub box_model: Option<BoxXyxy>,
    /// Points sampled from the original-resolution mask (stream [`streams::POINTS`]).
    pub points: Vec<LabeledPoint>,
}

impl MaskPrompts {
    /// Builds the prompts of a mask; `None` for an empty mask.
    pub fn new(mask: &Mask, config: &PromptConfig, seed: &SampleSeed<'_>) -> Option<Self> {
        let box_original = tight_box(mask)?;
        let mut rng = seed.rng(streams::POINTS);
        Some(Self {
            box_original,
            box_model: model_box(mask, config.model_size),
            points: sample_points(
                mask,
                config.positive_points,
                config.negative_points,
                &mut rng,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;
    use rand_chacha::ChaCha8Rng;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(5)
    }

    #[test]
    fn tight_box_uses_inclusive_pixel_indices() {
        let m = Mask::from_fn(10, 12, |x, y| (3..=7).contains(&x) && (2..=4).contains(&y));
        assert_eq!(tight_box(&m), Some([3.0, 2.0, 7.0, 4.0]));
        assert_eq!(tight_box(&Mask::zeros(4, 4)), None);
    }

    #[test]
    fn jittered_boxes_stay_within_a_tenth_of_the_side_and_the_image() {
        let mut r = rng();
        for _ in 0..200 {
            let b = jitter_box([10.0, 5.0, 50.0, 405.0], 60, 400, &mut r);
            assert!((b[0] - 10.0).abs() <= 4.0 && (b[2] - 50.0).abs() <= 4.0);
            assert!((b[1] - 5.0).abs() <= 20.0 && b[3] <= 399.0);
            assert!(b[0] <= b[2] && b[1] <= b[3]);
        }
    }

    #[test]
    fn sampled_points_are_distinct_and_carry_the_mask_label() {
        let m = Mask::from_fn(20, 20, |x, _| x < 5);
        let pts = sample_points(&m, 8, 4, &mut rng());
        assert_eq!(pts.len(), 12);
        for p in &pts {
            assert_eq!(m.get(p.xy.0 as usize, p.xy.1 as usize), p.positive);
        }
        let mut seen: Vec<_> = pts.iter().map(|p| (p.xy.0 as u32, p.xy.1 as u32)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 12);
    }

    #[test]
    fn sampling_more_points_than_pixels_returns_all_pixels() {
        let m = Mask::from_fn(3, 3, |x, y| x == 1 && y == 1);
        assert_eq!(sample_points(&m, 8, 0, &mut rng()).len(), 1);
    }

    #[test]
    fn jittered_points_re_read_their_label_from_the_mask() {
        let m = Mask::from_fn(50, 50, |x, _| x < 25);
        let pts = sample_points(&m, 8, 8, &mut rng());
        for p in jitter_points(&pts, &m, &mut rng()) {
            assert_eq!(
                m.get(p.xy.0.round() as usize, p.xy.1.round() as usize),
                p.positive
            );
            assert!(p.xy.0 <= 49.0 && p.xy.1 <= 49.0);
        }
    }

    #[test]
    fn prompts_depend_only_on_the_seed_tuple() {
        let m = Mask::from_fn(30, 40, |x, y| x > 10 && y > 5);
        let cfg = PromptConfig::default();
        let a = MaskPrompts::new(&m, &cfg, &SampleSeed::new(1, "ISTD", 3, 9));
        let b = MaskPrompts::new(&m, &cfg, &SampleSeed::new(1, "ISTD", 3, 9));
        let c = MaskPrompts::new(&m, &cfg, &SampleSeed::new(1, "ISTD", 3, 10));
        assert_eq!(a, b);
        assert_ne!(a.map(|p| p.points), c.map(|p| p.points));
    }
}
