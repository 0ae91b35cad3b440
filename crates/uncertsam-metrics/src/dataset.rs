//! Dataset-level metrics: means over masks with bootstrap intervals, mask-level correlations,
//! risk–coverage, and pooled pixel calibration.

use serde::Serialize;

use crate::bootstrap::{BootstrapConfig, ConfidenceInterval, bootstrap_mean_ci, nan_mean};
use crate::calibration::{CalibrationAccumulator, PooledCalibration};
use crate::error::{MetricsError, Result};
use crate::inputs::MaskInputs;
use crate::mask::{MaskMetrics, compute};
use crate::ranking::{pearson, spearman_f64};
use crate::risk_coverage::{RiskCoverage, risk_coverage};

/// Collects one dataset's masks.
///
/// Memory is one [`MaskMetrics`] row per mask plus a fixed-size pooled
/// [`CalibrationAccumulator`]; no pixel is kept.
#[derive(Debug, Clone, Default)]
pub struct DatasetAccumulator {
    rows: Vec<MaskMetrics>,
    iou_preds: Vec<Option<f64>>,
    pooled: CalibrationAccumulator,
}

/// The mean of one column over masks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ColumnSummary {
    /// The paper's column name ([`MaskMetrics::COLUMNS`]).
    pub column: &'static str,
    /// Mean over masks whose value is not NaN (pandas' `mean`).
    pub mean: f64,
    /// Number of masks with a value.
    pub count: usize,
    /// Percentile-bootstrap interval of the mean.
    pub ci: ConfidenceInterval,
}

/// Pearson's r and Spearman's ρ of a mask-level score against IoU (NaN when either is
/// constant, e.g. with a single mask).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Correlation {
    /// Pearson's r (scipy's `pearsonr`, no ε).
    pub pearson: f64,
    /// Spearman's ρ (average ranks).
    pub spearman: f64,
}

/// Everything [`DatasetAccumulator::finish`] reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetMetrics {
    /// Number of masks.
    pub n_masks: usize,
    /// Mean of every [`MaskMetrics`] column, in [`MaskMetrics::COLUMNS`] order.
    pub means: Vec<ColumnSummary>,
    /// Per-mask mean u (`sharp`) against IoU; a good u correlates negatively.
    pub unc_vs_iou: Correlation,
    /// IoU-head prediction against IoU, when every mask has one.
    pub iou_pred_vs_iou: Option<Correlation>,
    /// Risk 1 − IoU against confidence −mean u.
    pub risk_coverage_unc: RiskCoverage,
    /// Risk 1 − IoU against confidence = IoU-head prediction, when every mask has one.
    pub risk_coverage_iou_pred: Option<RiskCoverage>,
    /// ECE (with reliability bins), Brier and NLL over all pixels of all masks.
    pub pooled: PooledCalibration,
    /// The bootstrap used for the intervals.
    pub bootstrap: BootstrapConfig,
}

impl DatasetAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Computes one mask's metrics, records them and pools its pixels.
    ///
    /// # Errors
    /// As [`crate::mask_metrics`]; nothing is recorded on error.
    pub fn update(&mut self, inputs: &MaskInputs<'_>) -> Result<MaskMetrics> {
        let (metrics, cal) = compute(inputs)?;
        self.rows.push(metrics);
        self.iou_preds.push(inputs.iou_pred);
        self.pooled.merge(&cal);
        Ok(metrics)
    }

    /// Adds a mask whose metrics and calibration were computed earlier (see
    /// [`crate::mask_metrics_with_calibration`]); equivalent to the `update` that produced them.
    pub fn push(
        &mut self,
        metrics: MaskMetrics,
        iou_pred: Option<f64>,
        calibration: &CalibrationAccumulator,
    ) {
        self.rows.push(metrics);
        self.iou_preds.push(iou_pred);
        self.pooled.merge(calibration);
    }

    /// Appends another accumulator's masks after this one's. The bootstrap depends on the
    /// order of masks, so merge shards in a fixed order for reproducible intervals.
    pub fn merge(&mut self, other: &Self) {
        self.rows.extend_from_slice(&other.rows);
        self.iou_preds.extend_from_slice(&other.iou_preds);
        self.pooled.merge(&other.pooled);
    }

    /// The recorded per-mask rows, in update order.
    pub fn rows(&self) -> &[MaskMetrics] {
        &self.rows
    }

    /// Number of masks recorded.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no mask was recorded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Dataset-level metrics.
    ///
    /// # Errors
    /// [`MetricsError::Empty`] without masks; [`MetricsError::InvalidConfig`] for a bad
    /// bootstrap config.
    pub fn finish(&self, bootstrap: &BootstrapConfig) -> Result<DatasetMetrics> {
        if self.rows.is_empty() {
            return Err(MetricsError::Empty {
                name: "dataset (no mask was added)",
            });
        }
        let columns: Vec<Vec<f64>> = (0..MaskMetrics::COLUMNS.len())
            .map(|c| self.rows.iter().map(|r| r.values()[c]).collect())
            .collect();
        let views: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let cis = bootstrap_mean_ci(&views, bootstrap)?;
        let means = MaskMetrics::COLUMNS
            .iter()
            .zip(&columns)
            .zip(cis)
            .map(|((&column, values), ci)| {
                let (mean, count) = nan_mean(values);
                ColumnSummary {
                    column,
                    mean,
                    count,
                    ci,
                }
            })
            .collect();

        let iou: Vec<f64> = self.rows.iter().map(|r| r.iou).collect();
        let risk: Vec<f64> = iou.iter().map(|v| 1.0 - v).collect();
        let unc: Vec<f64> = self.rows.iter().map(|r| r.sharp).collect();
        let neg_unc: Vec<f64> = unc.iter().map(|v| -v).collect();
        let iou_pred: Option<Vec<f64>> = self.iou_preds.iter().copied().collect();
        let correlation = |x: &[f64]| -> Result<Correlation> {
            Ok(Correlation {
                pearson: pearson(x, &iou)?,
                spearman: spearman_f64(x, &iou)?,
            })
        };
        Ok(DatasetMetrics {
            n_masks: self.rows.len(),
            means,
            unc_vs_iou: correlation(&unc)?,
            iou_pred_vs_iou: iou_pred.as_deref().map(correlation).transpose()?,
            risk_coverage_unc: risk_coverage(&neg_unc, &risk)?,
            risk_coverage_iou_pred: iou_pred
                .as_deref()
                .map(|c| risk_coverage(c, &risk))
                .transpose()?,
            pooled: self.pooled.finish(),
            bootstrap: *bootstrap,
        })
    }
}
