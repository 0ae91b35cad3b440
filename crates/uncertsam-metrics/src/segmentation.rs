//! Segmentation quality from a confusion matrix: the paper's `calc_accuracy_metrics` columns.

use serde::Serialize;

/// The paper's ε, added to every denominator except Boundary IoU's (`src/metrics.py`).
pub const EPS: f64 = 1e-6;

/// Pixel counts of a binary prediction against a binary ground truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// P ∧ G.
    pub tp: u64,
    /// P ∧ ¬G.
    pub fp: u64,
    /// ¬P ∧ G.
    pub fn_: u64,
    /// ¬P ∧ ¬G.
    pub tn: u64,
}

impl Confusion {
    /// Counts two binary masks (nonzero = foreground); `None` if their lengths differ.
    pub fn from_masks(pred: &[u8], gt: &[u8]) -> Option<Self> {
        (pred.len() == gt.len()).then(|| {
            let mut c = Self::default();
            for (&p, &g) in pred.iter().zip(gt) {
                c.add(p != 0, g != 0);
            }
            c
        })
    }

    /// Adds one pixel.
    #[inline]
    pub fn add(&mut self, pred: bool, gt: bool) {
        match (pred, gt) {
            (true, true) => self.tp += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    /// Number of pixels counted.
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.fn_ + self.tn
    }

    /// IoU = |P∧G| / (|P∨G| + ε). 0 when both masks are empty.
    pub fn iou(&self) -> f64 {
        self.tp as f64 / ((self.tp + self.fp + self.fn_) as f64 + EPS)
    }

    /// Dice = 2|P∧G| / (|P| + |G| + ε).
    pub fn dice(&self) -> f64 {
        2.0 * self.tp as f64 / ((2 * self.tp + self.fp + self.fn_) as f64 + EPS)
    }

    /// MAE = mean |G − P| = (FP + FN) / N, without ε: NaN when no pixel was counted.
    pub fn mae(&self) -> f64 {
        (self.fp + self.fn_) as f64 / self.total() as f64
    }

    /// BER = ½ (FP / (TN + FP + ε) + FN / (TP + FN + ε)).
    pub fn ber(&self) -> f64 {
        0.5 * (self.fp as f64 / ((self.tn + self.fp) as f64 + EPS)
            + self.fn_ as f64 / ((self.tp + self.fn_) as f64 + EPS))
    }

    /// Accuracy = (TP + TN) / (N + ε).
    pub fn accuracy(&self) -> f64 {
        (self.tp + self.tn) as f64 / (self.total() as f64 + EPS)
    }

    /// Precision = TP / (TP + FP + ε).
    pub fn precision(&self) -> f64 {
        self.tp as f64 / ((self.tp + self.fp) as f64 + EPS)
    }

    /// Recall = TP / (TP + FN + ε).
    pub fn recall(&self) -> f64 {
        self.tp as f64 / ((self.tp + self.fn_) as f64 + EPS)
    }

    /// F1 = 2 · prec · rec / (prec + rec + ε), with ε-regularised prec and rec (the paper's
    /// `weighted_f_measure` with β = 1).
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        2.0 * p * r / (p + r + EPS)
    }

    /// All eight segmentation columns.
    pub fn metrics(&self) -> SegmentationMetrics {
        SegmentationMetrics {
            iou: self.iou(),
            dice: self.dice(),
            mae: self.mae(),
            ber: self.ber(),
            acc: self.accuracy(),
            prec: self.precision(),
            rec: self.recall(),
            f1: self.f1(),
        }
    }
}

/// The paper's eight segmentation columns for one pixel set (see [`Confusion`] for formulas).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SegmentationMetrics {
    /// IoU = |P∧G| / (|P∨G| + ε).
    pub iou: f64,
    /// Dice = 2|P∧G| / (|P| + |G| + ε).
    pub dice: f64,
    /// MAE = (FP + FN) / N.
    pub mae: f64,
    /// BER = ½ (FP / (TN + FP + ε) + FN / (TP + FN + ε)).
    pub ber: f64,
    /// Accuracy = (TP + TN) / (N + ε).
    pub acc: f64,
    /// Precision = TP / (TP + FP + ε).
    pub prec: f64,
    /// Recall = TP / (TP + FN + ε).
    pub rec: f64,
    /// F1 = 2 · prec · rec / (prec + rec + ε).
    pub f1: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_prediction_and_empty_ground_truth_give_zero_iou_not_nan() {
        let c = Confusion::from_masks(&[0, 0], &[0, 0]).expect("same length");
        assert_eq!(c.iou(), 0.0);
        assert_eq!(c.ber(), 0.0);
        assert!((c.accuracy() - 2.0 / (2.0 + EPS)).abs() < 1e-15);
    }

    #[test]
    fn confusion_of_masks_with_different_lengths_is_none() {
        assert!(Confusion::from_masks(&[0, 1], &[1]).is_none());
    }
}
