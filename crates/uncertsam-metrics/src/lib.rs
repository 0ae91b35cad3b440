//! Exact metrics for segmentation with uncertainty: the UncertSAM paper's per-mask columns
//! (segmentation, ROI, Boundary IoU, calibration, uncertainty–error correlation), the missing
//! ones (Spearman, NLL, error-detection AUROC / AP), and dataset-level summaries (means with
//! bootstrap intervals, mask-level correlations, risk–coverage / AURC / E-AURC, pooled ECE with
//! a reliability diagram).
//!
//! This crate owns metric definitions and their parity with the reference Python
//! (`fixtures/metrics/generate.py`: the paper's formulas, scikit-learn, scipy, torchmetrics).
//! It works on plain slices with f64 accumulation and must not depend on burn or any other
//! deep-learning framework, nor on another uncertsam crate, so it can be used alone.
//! Every pixel counts (no subsampling), and dataset-level pooling is streaming: memory does not
//! grow with the number of pixels.
//!
//! ```
//! use uncertsam_metrics::{BootstrapConfig, DatasetAccumulator, MaskInputs, mask_metrics};
//! let (pred, gt) = ([0u8, 1, 1, 0], [0u8, 1, 0, 0]);
//! let (prob, unc) = ([0.1f32, 0.9, 0.6, 0.2], [0.3f32, 0.2, 0.9, 0.4]);
//! let inputs = MaskInputs::new(&pred, &gt, &prob, &unc, 2, 2);
//! let m = mask_metrics(&inputs)?;
//! assert!((m.iou - 0.5).abs() < 1e-6);
//! assert_eq!(m.auroc, 1.0); // the one error pixel has the highest u
//!
//! let mut dataset = DatasetAccumulator::new();
//! dataset.update(&inputs)?;
//! let summary = dataset.finish(&BootstrapConfig::default())?;
//! println!("{}", summary.pooled.ece);
//! # Ok::<(), uncertsam_metrics::MetricsError>(())
//! ```
//!
//! Undefined values (an AUROC without error pixels, a Boundary IoU of two empty masks, ROI
//! means of an empty ROI) are NaN, never a panic; bad input (length mismatch, NaN, p ∉ [0, 1])
//! is a [`MetricsError`].

pub mod bootstrap;
pub mod boundary;
pub mod calibration;
pub mod dataset;
mod error;
mod inputs;
mod mask;
mod morphology;
mod radix;
pub mod ranking;
pub mod risk_coverage;
pub mod roi;
pub mod segmentation;
pub mod synthetic;
pub mod uncertainty;

pub use bootstrap::{BootstrapConfig, ConfidenceInterval};
pub use calibration::{CalibrationAccumulator, PooledCalibration, ReliabilityBin};
pub use dataset::{ColumnSummary, Correlation, DatasetAccumulator, DatasetMetrics};
pub use error::{MetricsError, Result};
pub use inputs::MaskInputs;
pub use mask::{MaskMetrics, mask_metrics, mask_metrics_with_calibration};
pub use risk_coverage::RiskCoverage;
pub use segmentation::{Confusion, SegmentationMetrics};
