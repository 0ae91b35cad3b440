//! The JSON API (`docs/serve.md`) and the page: routes, request validation, and the errors
//! every bad request gets (`{"error": "..."}` with a 4xx status, which the page shows).

use std::sync::Arc;
use std::sync::mpsc::Sender;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use uncertsam_sam::PromptRow;

use super::datasets::{Catalog, DatasetEntry, ImageRef};
use super::worker::Job;
use super::{MAX_PIXELS, MAX_UPLOAD_BYTES};
use crate::registry::Entry;

/// What the handlers share: the model thread's inbox, the datasets and the estimators.
#[derive(Clone)]
pub struct AppState {
    jobs: Sender<Job>,
    catalog: Arc<Catalog>,
    estimators: Arc<Vec<EstimatorEntry>>,
}

impl AppState {
    /// The state of a server whose model thread reads `jobs`.
    pub fn new(jobs: Sender<Job>, catalog: Catalog, entries: Vec<Entry>) -> Self {
        let estimators = entries
            .into_iter()
            .map(|e| EstimatorEntry {
                options: e.config.options().into_iter().collect(),
                name: e.name,
                about: e.about,
                sampled: e.sampled,
            })
            .collect();
        Self {
            jobs,
            catalog: Arc::new(catalog),
            estimators: Arc::new(estimators),
        }
    }
}

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

/// The router of the page and the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html", include_str!("assets/index.html")) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript", include_str!("assets/app.js")) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css", include_str!("assets/style.css")) }),
        )
        .route("/api/estimators", get(estimators))
        .route("/api/datasets", get(datasets))
        .route("/api/images", get(images))
        .route("/api/image", get(image_png))
        .route("/api/upload", post(upload))
        .route("/api/predict", post(predict))
        .route("/api/suggest-click", post(suggest))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .with_state(state)
}

fn asset(mime: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, mime)], body).into_response()
}

async fn ask<T>(
    state: &AppState,
    job: impl FnOnce(oneshot::Sender<Result<T, ApiError>>) -> Job,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    state
        .jobs
        .send(job(tx))
        .map_err(|_| ApiError::internal("the model thread has stopped"))?;
    rx.await
        .map_err(|_| ApiError::internal("the model thread dropped the request"))?
}

async fn estimators(State(state): State<AppState>) -> Json<Vec<EstimatorEntry>> {
    Json(state.estimators.as_ref().clone())
}

async fn datasets(State(state): State<AppState>) -> Json<Vec<DatasetEntry>> {
    Json(state.catalog.datasets.clone())
}

/// `GET /api/images?dataset=&split=`.
#[derive(Deserialize)]
struct ImagesQuery {
    dataset: String,
    split: String,
}

#[derive(Serialize)]
struct ImageEntry {
    id: String,
    index: usize,
}

async fn images(
    State(state): State<AppState>,
    query: Result<Query<ImagesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<ImageEntry>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let split = state
        .catalog
        .datasets
        .iter()
        .find(|d| d.name == q.dataset)
        .and_then(|d| d.splits.iter().find(|s| s.name == q.split))
        .ok_or_else(|| ApiError::not_found(format!("no split {}/{}", q.dataset, q.split)))?;
    Ok(Json(
        (0..split.images)
            .map(|index| ImageEntry {
                id: ImageRef {
                    dataset: q.dataset.clone(),
                    split: q.split.clone(),
                    index,
                }
                .id(),
                index,
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct ImageQuery {
    id: String,
}

async fn image_png(
    State(state): State<AppState>,
    query: Result<Query<ImageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let png = ask(&state, |tx| Job::ImagePng(q.id, tx)).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn upload(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<UploadResponse>, ApiError> {
    let image = decode_upload(&body)?;
    Ok(Json(ask(&state, |tx| Job::Upload(image, tx)).await?))
}

/// A PNG or JPEG upload decoded to RGB, within the size limit.
fn decode_upload(bytes: &[u8]) -> Result<image::RgbImage, ApiError> {
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, image::ImageFormat::Png | image::ImageFormat::Jpeg))
        .ok_or_else(|| ApiError::bad_request("the upload is not a PNG or JPEG image"))?;
    let reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| ApiError::bad_request(format!("the upload is not a readable image: {e}")))?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ApiError::too_large(format!(
            "the image is {w}x{h}; at most {MAX_PIXELS} pixels (4096x4096) are accepted"
        )));
    }
    uncertsam_data::decode_rgb(std::path::Path::new("upload"), bytes)
        .map_err(|e| ApiError::bad_request(format!("the upload is not a readable image: {e}")))
}

async fn predict(
    State(state): State<AppState>,
    body: Result<Json<PredictRequest>, JsonRejection>,
) -> Result<Json<PredictResponse>, ApiError> {
    let req = checked(&state, body)?;
    Ok(Json(ask(&state, |tx| Job::Predict(req, tx)).await?))
}

async fn suggest(
    State(state): State<AppState>,
    body: Result<Json<PredictRequest>, JsonRejection>,
) -> Result<Json<SuggestResponse>, ApiError> {
    let req = checked(&state, body)?;
    Ok(Json(ask(&state, |tx| Job::Suggest(req, tx)).await?))
}

/// The request, with a known estimator; 400 for malformed JSON or an unknown name.
fn checked(
    state: &AppState,
    body: Result<Json<PredictRequest>, JsonRejection>,
) -> Result<PredictRequest, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if !state.estimators.iter().any(|e| e.name == req.estimator) {
        let names: Vec<&str> = state.estimators.iter().map(|e| e.name.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "unknown estimator `{}`; available: {}",
            req.estimator,
            names.join(", ")
        )));
    }
    Ok(req)
}
