//! `dataset.json`: the COCO-like annotations file of the UncertSAM layout.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::mask::Mask;
use crate::rle::{Rle, decode_base64_counts};

/// The whole annotations file: `{"annotations": [...]}`; other top-level keys are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnotationsFile {
    /// One entry per instance mask.
    pub annotations: Vec<Annotation>,
}

/// One instance mask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Mask id.
    pub id: u64,
    /// Id of the image, equal to its file stem.
    pub image_id: u64,
    /// The RLE mask.
    pub segmentation: Segmentation,
    /// Foreground area; masks with `area <= 0` are skipped. When absent, the decoded mask's
    /// area decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<f64>,
    /// Optional quality score of the annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain_iou: Option<f64>,
}

/// A COCO RLE segmentation: `{"size": [H, W], "counts": ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    /// `[height, width]`.
    pub size: [usize; 2],
    /// The runs.
    pub counts: Counts,
}

/// The `counts` field in either of its two forms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Counts {
    /// Base64 of the compressed RLE string (what UncertSAM stores).
    Base64(String),
    /// Plain COCO uncompressed runs, column-major, background first.
    Runs(Vec<u32>),
}

impl AnnotationsFile {
    /// Parses an annotations file's bytes; `path` is only used in the error.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, DataError> {
        serde_json::from_slice(bytes).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads and parses an annotations file.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::MissingAnnotations {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(DataError::io(path, e)),
        };
        Self::parse(path, &bytes)
    }
}

impl Annotation {
    /// Decodes the mask; `path` (the annotations file) is only used in errors.
    pub fn decode_mask(&self, path: &Path) -> Result<Mask, DataError> {
        let [h, w] = self.segmentation.size;
        let rle_error = |source| DataError::Rle {
            path: path.to_path_buf(),
            annotation_id: self.id,
            source,
        };
        match &self.segmentation.counts {
            Counts::Base64(s) => decode_base64_counts(h, w, s)
                .map_err(|source| DataError::Base64 {
                    path: path.to_path_buf(),
                    annotation_id: self.id,
                    source,
                })?
                .map_err(rle_error),
            Counts::Runs(counts) => Rle {
                height: h,
                width: w,
                counts: counts.clone(),
            }
            .decode()
            .map_err(rle_error),
        }
    }
}
