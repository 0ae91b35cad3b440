//! The messages of the JSON API (`docs/serve.md`): request and response bodies and the error
//! every bad request gets (`{"error": "..."}` with a 4xx status). Shared by the handlers
//! (`api`), the model thread (`worker`), `datasets` and `render`; depends on none of them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uncertsam_sam::PromptRow;

/// An error answer: a status and the message the page shows.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }
    /// 422.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// One registered estimator and its options with their defaults.
#[derive(Clone, Debug, Serialize)]
pub struct EstimatorEntry {
    /// Name (`--estimators NAME`).
    pub name: String,
    /// What it is.
    pub about: String,
    /// Whether it samples (takes `samples`).
    pub sampled: bool,
    /// Options `key -> default`.
    pub options: std::collections::BTreeMap<String, String>,
}

/// `POST /api/predict` and `POST /api/suggest-click`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// Image id (`data:<dataset>/<split>/<index>` or an upload's id).
    pub image: String,
    /// `[x0, y0, x1, y1]` in image pixels.
    #[serde(rename = "box", default)]
    pub bbox: Option<[f64; 4]>,
    /// `[x, y, label]` points (label 1 positive, 0 negative).
    #[serde(default)]
    pub points: Vec<[f64; 3]>,
    /// Estimator name.
    pub estimator: String,
    /// Its options, `key=value,...` as after `:` in `--estimators` (e.g. `samples=8`).
    #[serde(default)]
    pub options: String,
    /// Seed (as `uncertsam predict --seed`).
    #[serde(default)]
    pub seed: u64,
    /// Also return the raw float32 logits and uncertainty (base64, little-endian).
    #[serde(default)]
    pub raw: bool,
    /// A refinement variant applied to the estimator's first pass (`GET /api/refinements`;
    /// as `uncertsam predict --refine`); the maps are then the refined mask and its entropy.
    #[serde(default)]
    pub refine: Option<String>,
}

impl PredictRequest {
    /// The estimator spec `name[:options]`.
    pub fn estimator_spec(&self) -> String {
        if self.options.trim().is_empty() {
            self.estimator.clone()
        } else {
            format!("{}:{}", self.estimator, self.options.trim())
        }
    }

    /// The prompt, checked against the image size `(width, height)`.
    pub fn prompt_row(&self, (w, h): (u32, u32)) -> Result<PromptRow, ApiError> {
        let mut points = Vec::new();
        for [x, y, label] in &self.points {
            if *label != 0.0 && *label != 1.0 {
                return Err(ApiError::bad_request("a point's label is 1 or 0"));
            }
            points.push(([*x, *y], *label as i64));
        }
        // The checks of `uncertsam predict` (finite, inside the image, a proper box).
        crate::user_prompts::prompt_row(self.bbox, &points, w, h)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

/// `POST /api/upload`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadResponse {
    /// The id to prompt it with.
    pub id: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// `POST /api/predict`: the maps as base64 PNGs (and raw floats with `raw`), the metrics when
/// the image has ground truth.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PredictResponse {
    /// The estimator's name.
    pub estimator: String,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Predicted IoU of the mask.
    pub predicted_iou: f32,
    /// The largest uncertainty (the top of the colour bar; its bottom is 0).
    pub uncertainty_max: f32,
    /// `predict`'s `mask.png` (base64).
    pub mask_png: String,
    /// `predict`'s `uncertainty.png` (base64).
    pub uncertainty_png: String,
    /// `predict`'s `overlay.png` (base64).
    pub overlay_png: String,
    /// Error map (white where the mask differs from the ground truth; base64 PNG).
    pub error_png: Option<String>,
    /// Per-mask metrics against the best-matching ground-truth mask (IoU, pearson, AUROC,
    /// ECE, ...; `uncertsam-metrics` names).
    pub metrics: Option<serde_json::Value>,
    /// Raw logits, `[height, width]` float32 little-endian, base64 (with `raw`).
    pub logits_f32: Option<String>,
    /// Raw uncertainty map, as `logits_f32` (with `raw`).
    pub uncertainty_f32: Option<String>,
    /// The refinement applied (its full name, e.g. `shrink_uncertain(...)`), if any.
    pub refined: Option<String>,
}

/// `GET /api/refinements`: a variant the page can apply to a prediction.
#[derive(Clone, Debug, Serialize)]
pub struct RefinementEntry {
    /// Name (`refine` in a predict request).
    pub name: &'static str,
    /// What it does.
    pub about: &'static str,
}

/// A click position.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuggestedClick {
    /// Column.
    pub x: usize,
    /// Row.
    pub y: usize,
    /// Positive (foreground) click.
    pub positive: bool,
}

/// `POST /api/suggest-click`: `null` when no pixel is uncertain.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuggestResponse {
    /// The click.
    pub click: Option<SuggestedClick>,
}
