//! Training-free mask-prompt shrinking: uncertain pixels of the first pass's logits are pulled
//! toward 0 (SAM's "don't know") before the logits go back in as the mask prompt.

use serde::{Deserialize, Serialize};

use crate::clicks::UncertainThreshold;

/// How uncertain pixels of a logit map are shrunk toward 0.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule")]
pub enum ShrinkRule {
    /// `logit * clamp(1 - u / u_max, 0, 1)`: the most uncertain pixel goes to 0, a certain one
    /// keeps its logit.
    Scale {
        /// The normaliser; `None` uses each mask's own `max(u)`. A map with `u_max <= 0` passes
        /// through unchanged.
        u_max: Option<f32>,
    },
    /// `logit = 0` where `u` is above the threshold, unchanged elsewhere.
    Threshold {
        /// Which pixels are uncertain.
        threshold: UncertainThreshold,
    },
}

impl Default for ShrinkRule {
    fn default() -> Self {
        Self::Scale { u_max: None }
    }
}

impl ShrinkRule {
    /// Short form for result names, e.g. `scale(max)` or `zero(rel0.5)`.
    pub fn name(&self) -> String {
        match self {
            Self::Scale { u_max: None } => "scale(max)".into(),
            Self::Scale { u_max: Some(m) } => format!("scale({m})"),
            Self::Threshold { threshold } => format!("zero({})", threshold.name()),
        }
    }

    /// The shrunk logits of one mask; `logits` and `uncertainty` have the same length.
    /// With `u = 0` everywhere the logits come back bit-for-bit.
    pub fn apply(&self, logits: &[f32], uncertainty: &[f32]) -> Vec<f32> {
        match *self {
            Self::Scale { u_max } => {
                let m = u_max.unwrap_or_else(|| uncertainty.iter().copied().fold(0.0, f32::max));
                if m <= 0.0 || m.is_nan() {
                    return logits.to_vec();
                }
                logits
                    .iter()
                    .zip(uncertainty)
                    .map(|(&l, &u)| {
                        if u > 0.0 {
                            l * (1.0 - u / m).clamp(0.0, 1.0)
                        } else {
                            l
                        }
                    })
                    .collect()
            }
            Self::Threshold { threshold } => logits
                .iter()
                .zip(threshold.region(uncertainty))
                .map(|(&l, uncertain)| if uncertain { 0.0 } else { l })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rules() -> [ShrinkRule; 4] {
        [
            ShrinkRule::default(),
            ShrinkRule::Scale {
                u_max: Some(std::f32::consts::LN_2),
            },
            ShrinkRule::Threshold {
                threshold: UncertainThreshold::default(),
            },
            ShrinkRule::Threshold {
                threshold: UncertainThreshold::Absolute { value: 0.1 },
            },
        ]
    }

    proptest! {
        #[test]
        fn zero_uncertainty_passes_the_logits_through(l in prop::collection::vec(-50.0f32..50.0, 1..64)) {
            let u = vec![0.0; l.len()];
            for rule in rules() {
                prop_assert_eq!(rule.apply(&l, &u), l.clone());
            }
        }

        #[test]
        fn shrinking_keeps_the_sign_and_never_grows(
            pairs in prop::collection::vec((-50.0f32..50.0, 0.0f32..1.0), 1..64)
        ) {
            let (l, u): (Vec<f32>, Vec<f32>) = pairs.into_iter().unzip();
            for rule in rules() {
                for (a, b) in l.iter().zip(rule.apply(&l, &u)) {
                    prop_assert!(b.abs() <= a.abs() && a * b >= 0.0);
                }
            }
        }
    }

    #[test]
    fn the_most_uncertain_pixel_goes_to_zero() {
        let out = ShrinkRule::default().apply(&[4.0, -4.0, 2.0], &[0.0, 0.5, 1.0]);
        assert_eq!(out, vec![4.0, -2.0, 0.0]);
        let t = ShrinkRule::Threshold {
            threshold: UncertainThreshold::Absolute { value: 0.4 },
        };
        assert_eq!(
            t.apply(&[4.0, -4.0, 2.0], &[0.0, 0.5, 1.0]),
            vec![4.0, 0.0, 0.0]
        );
    }
}
