//! [`MaskInputs`]: the borrowed per-mask inputs every per-mask metric reads.

use crate::error::{MetricsError, Result, check_finite};

/// One mask's inputs, borrowed, all `height × width` and row-major.
///
/// `pred` and `gt` are binary masks where any nonzero byte is foreground (the paper's
/// `.bool()`). `prob` is the foreground probability p = σ(logit) and `unc` the uncertainty map u;
/// `std` is the optional per-pixel standard deviation of the sampled probabilities.
/// `iou_pred` is the model's own IoU-head prediction for the mask, used only by dataset-level
/// metrics.
#[derive(Debug, Clone, Copy)]
pub struct MaskInputs<'a> {
    /// Binary prediction P (nonzero = foreground), usually `logit > 0`.
    pub pred: &'a [u8],
    /// Binary ground truth G (nonzero = foreground).
    pub gt: &'a [u8],
    /// Foreground probability p, in [0, 1].
    pub prob: &'a [f32],
    /// Uncertainty u, any finite scale (entropy, variance, log-variance, ...).
    pub unc: &'a [f32],
    /// Optional per-pixel sample standard deviation (the paper's `std_map`).
    pub std: Option<&'a [f32]>,
    /// Optional IoU-head prediction of the mask (a mask-level confidence).
    pub iou_pred: Option<f64>,
    /// Mask height in pixels.
    pub height: usize,
    /// Mask width in pixels.
    pub width: usize,
}

impl<'a> MaskInputs<'a> {
    /// Inputs without a std map or IoU-head prediction.
    pub fn new(
        pred: &'a [u8],
        gt: &'a [u8],
        prob: &'a [f32],
        unc: &'a [f32],
        height: usize,
        width: usize,
    ) -> Self {
        Self {
            pred,
            gt,
            prob,
            unc,
            std: None,
            iou_pred: None,
            height,
            width,
        }
    }

    /// The same inputs with a std map.
    pub fn with_std(self, std: &'a [f32]) -> Self {
        Self {
            std: Some(std),
            ..self
        }
    }

    /// The same inputs with an IoU-head prediction.
    pub fn with_iou_pred(self, iou_pred: f64) -> Self {
        Self {
            iou_pred: Some(iou_pred),
            ..self
        }
    }

    /// Number of pixels, `height × width`.
    pub fn len(&self) -> usize {
        self.height.saturating_mul(self.width)
    }

    /// Whether the mask has no pixels (such inputs fail [`MaskInputs::validate`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks shapes and values.
    ///
    /// # Errors
    /// - [`MetricsError::UnsupportedSize`] when the mask has no pixels or at least 2^31.
    /// - [`MetricsError::ShapeMismatch`] when a map does not have `height × width` values.
    /// - [`MetricsError::NonFinite`] when `prob`, `unc`, `std` or `iou_pred` hold NaN or ±∞.
    /// - [`MetricsError::NotAProbability`] when `prob` leaves [0, 1].
    pub fn validate(&self) -> Result<()> {
        let (height, width) = (self.height, self.width);
        let expected = height
            .checked_mul(width)
            .filter(|&n| n > 0 && i32::try_from(n).is_ok())
            .ok_or(MetricsError::UnsupportedSize { height, width })?;
        let shape = |name: &'static str, len: usize| {
            if len == expected {
                Ok(())
            } else {
                Err(MetricsError::ShapeMismatch {
                    name,
                    len,
                    height,
                    width,
                    expected,
                })
            }
        };
        shape("pred", self.pred.len())?;
        shape("gt", self.gt.len())?;
        shape("prob", self.prob.len())?;
        shape("unc", self.unc.len())?;
        if let Some(std) = self.std {
            shape("std", std.len())?;
            if !all_finite(std) {
                check_finite("std", std)?;
            }
        }
        if !all_finite(self.unc) {
            check_finite("unc", self.unc)?;
        }
        if !all_probabilities(self.prob) {
            check_probabilities("prob", self.prob)?;
        }
        if let Some(v) = self.iou_pred.filter(|v| !v.is_finite()) {
            return Err(MetricsError::NonFinite {
                name: "iou_pred",
                index: 0,
                value: v,
            });
        }
        Ok(())
    }
}

/// Whether every value is finite: a branch-free scan (block by block, so that it vectorises)
/// for the common case; the caller finds the first bad value with [`check_finite`].
fn all_finite(values: &[f32]) -> bool {
    values
        .chunks(256)
        .all(|block| block.iter().fold(true, |ok, &v| ok & v.is_finite()))
}

/// Whether every value lies in [0, 1] (NaN does not), as [`all_finite`] scans.
fn all_probabilities(values: &[f32]) -> bool {
    values.chunks(256).all(|block| {
        block
            .iter()
            .fold(true, |ok, &v| ok & (0.0..=1.0).contains(&v))
    })
}

/// Checks that every value is a finite probability in [0, 1].
pub(crate) fn check_probabilities(name: &'static str, prob: &[f32]) -> Result<()> {
    check_finite(name, prob)?;
    match prob.iter().position(|&p| !(0.0..=1.0).contains(&p)) {
        None => Ok(()),
        Some(index) => Err(MetricsError::NotAProbability {
            name,
            index,
            value: f64::from(prob[index]),
        }),
    }
}
