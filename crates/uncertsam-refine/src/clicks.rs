//! Where a simulated annotator clicks: at the centre of the largest uncertain region, at the
//! centre of the largest error (the standard NoC oracle), or at a seeded random pixel. Works on
//! plain row-major grids at the original image resolution.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::geometry::{argmax, distance_transform, largest_component, region_centre};

/// Which rule places the next click.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// Centre of the largest connected high-uncertainty region; needs no ground truth to pick
    /// the location (the ground truth only labels the click).
    Uncertainty,
    /// The NoC oracle (RITM's click simulator): the pixel farthest from the boundary of the
    /// false-negative or false-positive area, whichever reaches farther (ties: negative).
    Error,
    /// A uniformly random pixel of the box prompt (the whole image without a box).
    Random,
}

/// The rule that makes a pixel "highly uncertain".
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum UncertainThreshold {
    /// `u > value`.
    Absolute {
        /// The threshold, in the units of the uncertainty map.
        value: f32,
    },
    /// `u > fraction * max(u)` over the image, so every non-zero map has a region.
    RelativeToMax {
        /// Fraction of the map's maximum, in `[0, 1)`.
        fraction: f32,
    },
}

impl Default for UncertainThreshold {
    fn default() -> Self {
        Self::RelativeToMax { fraction: 0.5 }
    }
}

impl UncertainThreshold {
    /// The pixels above the threshold.
    pub fn region(&self, uncertainty: &[f32]) -> Vec<bool> {
        let t = match *self {
            Self::Absolute { value } => value,
            Self::RelativeToMax { fraction } => {
                let max = uncertainty.iter().copied().fold(0.0f32, f32::max);
                if max <= 0.0 {
                    return vec![false; uncertainty.len()];
                }
                fraction * max
            }
        };
        uncertainty.iter().map(|&u| u > t).collect()
    }

    /// Short form for result names, e.g. `rel0.5`.
    pub fn name(&self) -> String {
        match self {
            Self::Absolute { value } => format!("abs{value}"),
            Self::RelativeToMax { fraction } => format!("rel{fraction}"),
        }
    }
}

/// One click in original-image pixels (`x` column, `y` row).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Click {
    /// Column.
    pub x: usize,
    /// Row.
    pub y: usize,
    /// Foreground (label 1) or background (label 0).
    pub positive: bool,
}

impl Click {
    /// A click at `[x, y]` labelled by the ground truth there: positive on the object
    /// (so positive on a false negative), negative off it (so negative on a false positive).
    pub fn labelled(at: [usize; 2], gt: &[bool], width: usize) -> Self {
        Self {
            x: at[0],
            y: at[1],
            positive: gt.get(at[1] * width + at[0]).copied().unwrap_or(false),
        }
    }

    /// The click as a SAM point prompt: pixel `(x, y)` and label 1 / 0.
    pub fn prompt(&self) -> ([f64; 2], i64) {
        ([self.x as f64, self.y as f64], i64::from(self.positive))
    }
}

/// The click at the centre of the largest connected region of `threshold` on `uncertainty`,
/// with that region (so a caller can mark it as used); `None` without an uncertain pixel.
pub fn uncertainty_click(
    uncertainty: &[f32],
    gt: &[bool],
    size: [usize; 2],
    threshold: &UncertainThreshold,
) -> Option<(Click, Vec<bool>)> {
    let region = largest_component(&threshold.region(uncertainty), size)?;
    let (at, _) = region_centre(&region, size)?;
    Some((Click::labelled(at, gt, size[1]), region))
}

/// RITM's NoC click: positive at the interior-most false-negative pixel if the false
/// negatives reach farther from their boundary than the false positives, else negative at the
/// interior-most false-positive pixel; `None` when the prediction is perfect.
pub fn error_click(pred: &[bool], gt: &[bool], size: [usize; 2]) -> Option<Click> {
    let fneg: Vec<bool> = pred.iter().zip(gt).map(|(&p, &g)| g && !p).collect();
    let fpos: Vec<bool> = pred.iter().zip(gt).map(|(&p, &g)| p && !g).collect();
    let dn = argmax(&distance_transform(&fneg, size));
    let dp = argmax(&distance_transform(&fpos, size));
    let (i, positive) = match (dn, dp) {
        (None, None) => return None,
        (Some((i, a)), Some((_, b))) if a > b => (i, true),
        (Some((i, _)), None) => (i, true),
        (_, Some((j, _))) => (j, false),
    };
    Some(Click {
        x: i % size[1],
        y: i / size[1],
        positive,
    })
}

/// A uniformly random pixel of `roi` (`x0, y0, x1, y1`, clamped to the image; the whole image
/// when `None` or empty), labelled by the ground truth.
pub fn random_click(
    gt: &[bool],
    [h, w]: [usize; 2],
    roi: Option<[f64; 4]>,
    rng: &mut impl Rng,
) -> Click {
    let clamp = |v: f64, n: usize| (v.max(0.0) as usize).min(n.saturating_sub(1));
    let (x0, y0, x1, y1) = match roi {
        Some([a, b, c, d]) => (clamp(a, w), clamp(b, h), clamp(c, w), clamp(d, h)),
        None => (0, 0, w.saturating_sub(1), h.saturating_sub(1)),
    };
    let (x0, x1) = if x1 >= x0 {
        (x0, x1)
    } else {
        (0, w.saturating_sub(1))
    };
    let (y0, y1) = if y1 >= y0 {
        (y0, y1)
    } else {
        (0, h.saturating_sub(1))
    };
    let at = [rng.random_range(x0..=x1), rng.random_range(y0..=y1)];
    Click::labelled(at, gt, w)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    const SIZE: [usize; 2] = [20, 30];

    fn rect(y: std::ops::Range<usize>, x: std::ops::Range<usize>) -> Vec<bool> {
        (0..SIZE[0] * SIZE[1])
            .map(|i| y.contains(&(i / SIZE[1])) && x.contains(&(i % SIZE[1])))
            .collect()
    }

    fn or(a: &[bool], b: &[bool]) -> Vec<bool> {
        a.iter().zip(b).map(|(x, y)| *x || *y).collect()
    }

    #[test]
    fn uncertainty_click_lands_at_the_centre_of_the_largest_uncertain_region() {
        // A small very uncertain blob and a large moderately uncertain one: area wins.
        let small = rect(1..4, 1..4);
        let large = rect(6..17, 12..23);
        let u: Vec<f32> = (0..600)
            .map(|i| {
                if small[i] {
                    1.0
                } else if large[i] {
                    0.6
                } else {
                    0.0
                }
            })
            .collect();
        // The object covers the large region: the click there is positive.
        let gt = rect(4..19, 10..26);
        let th = UncertainThreshold::default();
        let (c, region) = uncertainty_click(&u, &gt, SIZE, &th).expect("a region");
        assert_eq!((c.x, c.y, c.positive), (17, 11, true));
        assert_eq!(region, large);
        // Off the object, the same click is negative.
        let (c, _) = uncertainty_click(&u, &vec![false; 600], SIZE, &th).expect("a region");
        assert!(!c.positive);
        // A zero map has no region.
        assert!(uncertainty_click(&[0.0; 600], &gt, SIZE, &th).is_none());
        let abs = UncertainThreshold::Absolute { value: 0.8 };
        let (c, _) = uncertainty_click(&u, &gt, SIZE, &abs).expect("a region");
        assert_eq!((c.x, c.y), (2, 2));
    }

    #[test]
    fn error_click_is_positive_on_false_negatives_and_negative_on_false_positives() {
        let core = rect(5..15, 5..15);
        // False negative: the object extends into a wide band the prediction misses.
        let fneg_band = rect(5..16, 17..28);
        let gt = or(&core, &fneg_band);
        let c = error_click(&core, &gt, SIZE).expect("errors");
        assert_eq!((c.x, c.y, c.positive), (22, 10, true));
        // False positive: the prediction spills into the band, and a thin missed strip is smaller.
        let pred = or(&core, &fneg_band);
        let gt = or(&core, &rect(0..1, 0..30));
        let c = error_click(&pred, &gt, SIZE).expect("errors");
        assert_eq!((c.x, c.y, c.positive), (22, 10, false));
        assert_eq!(error_click(&gt, &gt, SIZE), None);
    }

    #[test]
    fn random_clicks_stay_in_the_box_and_repeat_with_the_seed() {
        let gt = rect(5..10, 5..10);
        let draw = |seed| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            (0..50)
                .map(|_| random_click(&gt, SIZE, Some([4.0, 3.0, 12.0, 9.0]), &mut rng))
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        for c in &a {
            assert!((4..=12).contains(&c.x) && (3..=9).contains(&c.y));
            assert_eq!(c.positive, gt[c.y * SIZE[1] + c.x]);
        }
    }
}
