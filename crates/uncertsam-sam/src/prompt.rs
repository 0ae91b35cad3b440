//! `PromptBatch`: prompts in original-image pixels, turned into model-input [`Prompts`] with the
//! official `ResizeLongestSide` coordinate transform.

use burn::prelude::*;

use crate::error::SamError;
use crate::preprocess::transform_point;
use crate::prompt_encoder::Prompts;
use crate::sam::{ImageEmbedding, Sam};
use crate::sam2::preprocess::sam2_transform_point;
use crate::sam2::sam2::{Sam2, Sam2Embedding};

/// One mask's prompt in original-image pixels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PromptRow {
    /// `(x, y)` points with labels (1 foreground, 0 background).
    pub points: Vec<([f64; 2], i64)>,
    /// `x0, y0, x1, y1` box.
    pub bbox: Option<[f64; 4]>,
    /// Low-resolution mask logits `4E x 4E`, row-major (a previous prediction).
    pub mask: Option<Vec<f32>>,
}

/// A batch of prompts, one row per mask; all rows must have the same structure (number of
/// points, box or not, mask or not) so that they decode in one pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PromptBatch {
    /// The rows.
    pub rows: Vec<PromptRow>,
}

impl PromptBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a row with one box.
    pub fn with_box(mut self, bbox: [f64; 4]) -> Self {
        self.rows.push(PromptRow {
            bbox: Some(bbox),
            ..Default::default()
        });
        self
    }

    /// Adds a row with points.
    pub fn with_points(mut self, points: Vec<([f64; 2], i64)>) -> Self {
        self.rows.push(PromptRow {
            points,
            ..Default::default()
        });
        self
    }

    /// Adds a row.
    pub fn with_row(mut self, row: PromptRow) -> Self {
        self.rows.push(row);
        self
    }

    /// Transforms into model-input coordinates for `sam` and the image of `embedding`.
    pub fn build<B: Backend>(
        &self,
        sam: &Sam<B>,
        embedding: &ImageEmbedding<B>,
    ) -> Result<Prompts<B>, SamError> {
        let long = sam.config().img_size;
        let orig = embedding.original_size;
        self.build_with(
            |p| transform_point(p, orig, long),
            sam.config().low_res_size(),
            &sam.device(),
        )
    }

    /// Transforms into SAM 2 model-input coordinates (`x / w * S`, `y / h * S`) for `sam` and
    /// the image of `embedding`.
    pub fn build_sam2<B: Backend>(
        &self,
        sam: &Sam2<B>,
        embedding: &Sam2Embedding<B>,
    ) -> Result<Prompts<B>, SamError> {
        let size = sam.config().image_size;
        let orig = embedding.original_size;
        let low = sam.config().low_res_side();
        self.build_with(
            |p| sam2_transform_point(p, orig, size),
            [low, low],
            &sam.device(),
        )
    }

    /// Builds the model-input tensors with `transform` for every point and box corner; mask
    /// prompts must be `low` in size.
    fn build_with<B: Backend>(
        &self,
        transform: impl Fn([f64; 2]) -> [f32; 2],
        low: [usize; 2],
        device: &B::Device,
    ) -> Result<Prompts<B>, SamError> {
        let first = self
            .rows
            .first()
            .ok_or_else(|| SamError::Input("empty prompt batch".into()))?;
        let shape = |r: &PromptRow| {
            (
                r.points.len(),
                r.bbox.is_some(),
                r.mask.as_ref().map(Vec::len),
            )
        };
        if let Some(i) = self.rows.iter().position(|r| shape(r) != shape(first)) {
            return Err(SamError::Input(format!(
                "prompt row {i} has (points, box, mask len) {:?}, row 0 has {:?}",
                shape(&self.rows[i]),
                shape(first)
            )));
        }
        let (b, n) = (self.rows.len(), first.points.len());
        let points = (n > 0).then(|| {
            let coords: Vec<f32> = self
                .rows
                .iter()
                .flat_map(|r| r.points.iter().flat_map(|(p, _)| transform(*p)))
                .collect();
            let labels: Vec<i64> = self
                .rows
                .iter()
                .flat_map(|r| r.points.iter().map(|(_, l)| *l))
                .collect();
            (
                Tensor::<B, 3>::from_data(TensorData::new(coords, [b, n, 2]), device),
                Tensor::<B, 2, Int>::from_data(TensorData::new(labels, [b, n]), device),
            )
        });
        let boxes = first.bbox.map(|_| {
            let v: Vec<f32> = self
                .rows
                .iter()
                .flat_map(|r| {
                    let [x0, y0, x1, y1] = r.bbox.unwrap_or_default();
                    let [a, b] = transform([x0, y0]);
                    let [c, d] = transform([x1, y1]);
                    [a, b, c, d]
                })
                .collect();
            Tensor::<B, 2>::from_data(TensorData::new(v, [b, 4]), device)
        });
        let masks = match first.mask.as_ref().map(Vec::len) {
            Some(len) if len != low[0] * low[1] => {
                return Err(SamError::Input(format!(
                    "mask prompt has {len} values, expected {}x{}",
                    low[0], low[1]
                )));
            }
            Some(_) => {
                let v: Vec<f32> = self
                    .rows
                    .iter()
                    .flat_map(|r| r.mask.clone().unwrap_or_default())
                    .collect();
                Some(Tensor::<B, 4>::from_data(
                    TensorData::new(v, [b, 1, low[0], low[1]]),
                    device,
                ))
            }
            None => None,
        };
        Ok(Prompts {
            points,
            boxes,
            masks,
        })
    }
}
