//! Per-image result files (`<out>/parts/<dataset>/<image_id>.json`), written atomically.
//!
//! A part holds everything the final tables need from one image: every estimator's per-mask
//! metric rows and its pooled-calibration state, and the refinement rows. A run that is killed leaves only whole parts;
//! `--resume` skips images whose part exists, so no row is lost or duplicated, and the final
//! tables are rebuilt from the parts in a fixed order, byte for byte as an uninterrupted run.
//!
//! Every part type lives here (estimator rows, refinement rows); this module depends on no
//! other module of the crate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use uncertsam_metrics::{CalibrationAccumulator, MaskMetrics};

/// One mask refined by one variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefineRow {
    /// Annotation id of the mask.
    pub mask_id: u64,
    /// IoU of the driving estimator's first pass (as its own row's IoU column).
    pub unrefined_iou: f64,
    /// IoU after refinement (after the last click for click variants).
    pub refined_iou: f64,
    /// Refinement passes run (clicks placed, for click variants).
    pub passes: usize,
    /// Click variants: IoU after 0, 1, ..., k clicks (0 is the first pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click_ious: Option<Vec<f64>>,
    /// Click variants: clicks to reach IoU 0.85 (k if never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noc85: Option<usize>,
    /// Click variants: clicks to reach IoU 0.90 (k if never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noc90: Option<usize>,
}

/// One variant on one image, driven by one estimator's first pass.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefinePart {
    /// The driving estimator's table name.
    pub driver: String,
    /// The variant's name (`RefineConfig::name`).
    pub variant: String,
    /// Rows of the masks refined, in mask order.
    pub rows: Vec<RefineRow>,
    /// Masks that failed, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// One mask's metrics under one estimator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Annotation id of the mask.
    pub mask_id: u64,
    /// The model's IoU estimate.
    pub iou_pred: Option<f64>,
    /// [`MaskMetrics::values`], NaN stored as `null`.
    pub values: Vec<Option<f64>>,
}

impl Row {
    /// A row from computed metrics.
    pub fn new(mask_id: u64, iou_pred: Option<f64>, m: &MaskMetrics) -> Self {
        Self {
            mask_id,
            iou_pred,
            values: m
                .values()
                .iter()
                .map(|v| (!v.is_nan()).then_some(*v))
                .collect(),
        }
    }

    /// The metrics back (null -> NaN).
    pub fn metrics(&self) -> MaskMetrics {
        let mut v = [f64::NAN; 32];
        for (dst, src) in v.iter_mut().zip(&self.values) {
            *dst = src.unwrap_or(f64::NAN);
        }
        MaskMetrics::from_values(v)
    }
}

/// One estimator's results on one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EstimatorPart {
    /// Estimator name.
    pub name: String,
    /// Rows in mask order.
    pub rows: Vec<Row>,
    /// Pooled calibration over the image's masks.
    pub calibration: CalibrationAccumulator,
}

/// Everything from one image, or why it was skipped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Dataset name.
    pub dataset: String,
    /// Position of the image in the split (the shard key).
    pub index: usize,
    /// Image id (None when the sample could not be read).
    pub image_id: Option<u64>,
    /// Per-estimator results (empty for a bad sample).
    pub estimators: Vec<EstimatorPart>,
    /// Refinement rows, per driving estimator and variant (absent when none ran).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refinement: Vec<RefinePart>,
    /// Why the sample was skipped, naming the file.
    pub error: Option<String>,
    /// How many masks the sample asked for (its annotations), evaluated or not; `None` when
    /// the source cannot say (parts written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masks_requested: Option<usize>,
}

/// The file of the image at `index` of `dataset`.
pub fn part_path(out: &Path, dataset: &str, index: usize) -> PathBuf {
    out.join("parts")
        .join(dataset)
        .join(format!("{index:08}.json"))
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(uncertsam_data::atomic::write(path, bytes)?)
}

/// Writes a part atomically.
pub fn write_part(out: &Path, part: &Part) -> Result<()> {
    let bytes = serde_json::to_vec(part)?;
    write_atomic(&part_path(out, &part.dataset, part.index), &bytes)
}

/// Reads every part under `<out>/parts`, ordered by dataset then index.
pub fn read_parts(out: &Path) -> Result<Vec<Part>> {
    let root = out.join("parts");
    let mut files = Vec::new();
    if root.exists() {
        for ds in std::fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))? {
            let ds = ds?.path();
            if !ds.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&ds)? {
                let f = f?.path();
                if f.extension().is_some_and(|e| e == "json") {
                    files.push(f);
                }
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", f.display()))
        })
        .collect()
}
