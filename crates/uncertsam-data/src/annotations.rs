//! `dataset.json`: the COCO-like annotations file of the UncertSAM layout.
//!
//! [`AnnotationsFile::read_lenient`] (what the loader uses) parses the file as JSON first and
//! then each annotation on its own: one annotation with a missing field or a wrong type costs
//! only that annotation (a [`BadAnnotation`]); only a file that is not JSON, or has no
//! `annotations` array, fails as a whole.

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

/// An annotation of the file that does not parse; the other annotations still load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadAnnotation {
    /// Position in the file's `annotations` array (0-based).
    pub index: usize,
    /// Its `id`, when that field itself is a valid id.
    pub id: Option<u64>,
    /// Its `image_id`, when that field itself is a valid id.
    pub image_id: Option<u64>,
    /// What is wrong (the parser's message: the missing field or the wrong type).
    pub reason: String,
}

/// The top level of the file, each annotation still unparsed.
#[derive(Deserialize)]
struct RawFile {
    annotations: Vec<serde_json::Value>,
}

impl AnnotationsFile {
    /// Parses an annotations file's bytes one annotation at a time: the annotations that parse,
    /// and one [`BadAnnotation`] per annotation that does not. Only bytes that are not JSON, or
    /// JSON without an `annotations` array, are an error (`path` is only used in it).
    pub fn parse_lenient(
        path: &Path,
        bytes: &[u8],
    ) -> Result<(Vec<Annotation>, Vec<BadAnnotation>), DataError> {
        let raw: RawFile = serde_json::from_slice(bytes).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            cause: source,
        })?;
        let mut good = Vec::with_capacity(raw.annotations.len());
        let mut bad = Vec::new();
        for (index, value) in raw.annotations.into_iter().enumerate() {
            let id = value.get("id").and_then(serde_json::Value::as_u64);
            let image_id = value.get("image_id").and_then(serde_json::Value::as_u64);
            match serde_json::from_value::<Annotation>(value) {
                Ok(a) => good.push(a),
                Err(e) => bad.push(BadAnnotation {
                    index,
                    id,
                    image_id,
                    reason: e.to_string(),
                }),
            }
        }
        Ok((good, bad))
    }

    /// Reads an annotations file with [`AnnotationsFile::parse_lenient`].
    pub fn read_lenient(path: &Path) -> Result<(Vec<Annotation>, Vec<BadAnnotation>), DataError> {
        Self::parse_lenient(path, &read_bytes(path)?)
    }

    /// Parses an annotations file's bytes; `path` is only used in the error.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, DataError> {
        serde_json::from_slice(bytes).map_err(|source| DataError::Json {
            path: path.to_path_buf(),
            cause: source,
        })
    }

    /// Reads and parses an annotations file; any bad annotation fails the whole file (see
    /// [`AnnotationsFile::read_lenient`]).
    pub fn read(path: &Path) -> Result<Self, DataError> {
        Self::parse(path, &read_bytes(path)?)
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    match std::fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::MissingAnnotations {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(DataError::io(path, e)),
    }
}

impl Annotation {
    /// Decodes the mask; `path` (the annotations file) is only used in errors.
    pub fn decode_mask(&self, path: &Path) -> Result<Mask, DataError> {
        let [h, w] = self.segmentation.size;
        let rle_error = |source| DataError::Rle {
            path: path.to_path_buf(),
            annotation_id: self.id,
            cause: source,
        };
        match &self.segmentation.counts {
            Counts::Base64(s) => decode_base64_counts(h, w, s)
                .map_err(|source| DataError::Base64 {
                    path: path.to_path_buf(),
                    annotation_id: self.id,
                    cause: source,
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
