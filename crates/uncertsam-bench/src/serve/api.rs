//! The JSON API (`docs/serve.md`) and the page: routes, request validation, and the errors
//! every bad request gets (`{"error": "..."}` with a 4xx status, which the page shows).

use std::sync::Arc;
use std::sync::mpsc::Sender;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::datasets::{Catalog, DatasetEntry, ImageRef};
pub use super::messages::*;
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
        .route("/api/refinements", get(refinements))
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

async fn refinements() -> Json<Vec<RefinementEntry>> {
    let entries = crate::refine_one::SINGLE_VARIANTS
        .iter()
        .map(|&(name, about)| RefinementEntry { name, about })
        .collect();
    Json(entries)
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
