//! The model thread: the model, the estimators built so far, the images (dataset images and
//! uploads) and the bounded LRU of their embeddings. It answers one [`Job`] at a time; a
//! panic in a job becomes a 500 answer, and the thread keeps serving.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::Receiver;

use anyhow::Result;
use burn::prelude::*;
use image::RgbImage;
use tokio::sync::oneshot;
use uncertsam_estimate::{AnySam, EncodedImage, UncertaintyEstimator};
use uncertsam_refine::Refiner;

use super::datasets::ImageRef;
use super::messages::{ApiError, PredictRequest, PredictResponse, SuggestResponse, UploadResponse};
use super::{EMBEDDING_CACHE, MAX_UPLOADS, render};
use uncertsam_sam::frame::binary_iou;

use crate::args::BenchArgs;
use crate::predict::{Prediction, build_estimator, estimate_encoded};
use crate::registry::{ExternalEstimators, Registry};

/// One request for the model thread, with where its answer goes.
pub enum Job {
    /// Store an uploaded image.
    Upload(RgbImage, oneshot::Sender<Result<UploadResponse, ApiError>>),
    /// An image (dataset or upload) as PNG bytes.
    ImagePng(String, oneshot::Sender<Result<Vec<u8>, ApiError>>),
    /// Run an estimator on a prompt.
    Predict(
        PredictRequest,
        oneshot::Sender<Result<PredictResponse, ApiError>>,
    ),
    /// Where the uncertainty-guided click refinement would click next.
    Suggest(
        PredictRequest,
        oneshot::Sender<Result<SuggestResponse, ApiError>>,
    ),
}

/// An image the page can prompt: pixels and the ground-truth masks when it has any.
struct Stored {
    image: RgbImage,
    gt: Vec<Vec<bool>>,
}

/// The state of the model thread.
pub struct Worker<'a, B: Backend, E: ExternalEstimators> {
    sam: AnySam<B>,
    bench: &'a BenchArgs,
    registry: &'a Registry<'a, E>,
    estimators: HashMap<String, Box<dyn UncertaintyEstimator<B>>>,
    refiners: HashMap<(String, String), Refiner<B>>,
    uploads: VecDeque<(String, Stored)>,
    uploaded: usize,
    embeddings: VecDeque<(String, EncodedImage<B>)>,
}

impl<'a, B: Backend, E: ExternalEstimators> Worker<'a, B, E> {
    /// Loads the model of `bench`.
    pub fn new(
        bench: &'a BenchArgs,
        registry: &'a Registry<'a, E>,
        device: &B::Device,
    ) -> Result<Self> {
        let (sam, _) = crate::inputs::load_model::<B>(bench, device)?;
        Ok(Self {
            sam,
            bench,
            registry,
            estimators: HashMap::new(),
            refiners: HashMap::new(),
            uploads: VecDeque::new(),
            uploaded: 0,
            embeddings: VecDeque::new(),
        })
    }

    /// Answers jobs until every sender is gone.
    pub fn run(&mut self, inbox: &Receiver<Job>) {
        while let Ok(job) = inbox.recv() {
            match job {
                Job::Upload(image, reply) => {
                    let _ = reply.send(Ok(self.upload(image)));
                }
                Job::ImagePng(id, reply) => {
                    let _ = reply.send(self.guard(|w| render::png(&w.stored(&id)?.image)));
                }
                Job::Predict(req, reply) => {
                    let _ = reply.send(self.guard(|w| w.predict(&req)));
                }
                Job::Suggest(req, reply) => {
                    let _ = reply.send(self.guard(|w| w.suggest(&req)));
                }
            }
        }
    }

    fn guard<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        std::panic::catch_unwind(AssertUnwindSafe(|| f(self))).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(ApiError::internal(format!(
                "the model thread panicked: {what}"
            )))
        })
    }

    fn upload(&mut self, image: RgbImage) -> UploadResponse {
        self.uploaded += 1;
        let id = format!("upload:{}", self.uploaded);
        let (width, height) = image.dimensions();
        self.uploads.push_back((
            id.clone(),
            Stored {
                image,
                gt: Vec::new(),
            },
        ));
        if self.uploads.len() > MAX_UPLOADS {
            self.uploads.pop_front();
        }
        UploadResponse { id, width, height }
    }

    fn stored(&self, id: &str) -> Result<Stored, ApiError> {
        if let Some((_, s)) = self.uploads.iter().find(|(k, _)| k == id) {
            return Ok(Stored {
                image: s.image.clone(),
                gt: s.gt.clone(),
            });
        }
        let image_ref = ImageRef::parse(id)?;
        let sample = image_ref.load(&self.bench.data)?;
        let gt = sample
            .masks
            .iter()
            .map(|m| m.mask.data().iter().map(|&v| v != 0).collect())
            .collect();
        Ok(Stored {
            image: sample.image,
            gt,
        })
    }

    /// The embedding of image `id`, encoded once and kept in the LRU.
    fn encoded(&mut self, id: &str, image: RgbImage) -> &EncodedImage<B> {
        if let Some(i) = self.embeddings.iter().position(|(k, _)| k == id) {
            let hit = self.embeddings.remove(i).expect("index from position");
            self.embeddings.push_back(hit);
        } else {
            let encoded = EncodedImage::new(&self.sam, image);
            self.embeddings.push_back((id.to_string(), encoded));
            if self.embeddings.len() > EMBEDDING_CACHE {
                self.embeddings.pop_front();
            }
        }
        &self.embeddings.back().expect("just pushed").1
    }

    fn estimator(&mut self, spec: &str) -> Result<&dyn UncertaintyEstimator<B>, ApiError> {
        if !self.estimators.contains_key(spec) {
            let built = build_estimator(self.registry, &self.sam, self.bench, spec)
                .map_err(|e| ApiError::bad_request(format!("estimator `{spec}`: {e:#}")))?;
            self.estimators.insert(spec.to_string(), built);
        }
        Ok(self.estimators[spec].as_ref())
    }

    /// The refiner of `variant` driven by `driver`, built once.
    fn refiner(&mut self, variant: &str, driver: &str) -> Result<(), ApiError> {
        let key = (variant.to_string(), driver.to_string());
        if !self.refiners.contains_key(&key) {
            let built = crate::refine_one::refiner(variant, driver, &self.sam, self.bench)
                .map_err(|e| ApiError::unprocessable(format!("refinement: {e:#}")))?;
            self.refiners.insert(key, built);
        }
        Ok(())
    }

    fn run_prediction(
        &mut self,
        req: &PredictRequest,
    ) -> Result<(Prediction, Stored, Option<String>), ApiError> {
        let stored = self.stored(&req.image)?;
        let row = req.prompt_row(stored.image.dimensions())?;
        let spec = req.estimator_spec();
        self.estimator(&spec)?;
        let refine = req
            .refine
            .as_deref()
            .filter(|v| !v.is_empty() && *v != "none");
        if let Some(variant) = refine {
            self.refiner(variant, &req.estimator)?;
        }
        self.encoded(&req.image, stored.image.clone());
        let encoded = &self.embeddings.back().expect("encoded just above").1;
        let estimator = self.estimators[&spec].as_ref();
        let internal = |e: anyhow::Error| ApiError::internal(format!("{e:#}"));
        let estimate =
            estimate_encoded(&self.sam, estimator, encoded, &row, req.seed).map_err(internal)?;
        let Some(variant) = refine else {
            let p = Prediction::from_estimate(&self.sam, encoded, estimate).map_err(internal)?;
            return Ok((p, stored, None));
        };
        let refiner = &self.refiners[&(variant.to_string(), req.estimator.clone())];
        // The oracle's ground truth is the mask the unrefined prediction overlaps best.
        let first =
            Prediction::from_estimate(&self.sam, encoded, estimate.clone()).map_err(internal)?;
        let gt = best_gt(&stored.gt, &first.mask());
        let (logits, unc) = crate::refine_one::refine_estimate(
            refiner, &self.sam, encoded, &row, &estimate, gt, req.seed,
        )
        .map_err(|e| ApiError::unprocessable(format!("refinement: {e:#}")))?;
        let p = Prediction::from_low_res(&self.sam, encoded, logits, unc, None, estimate.iou)
            .map_err(internal)?;
        Ok((p, stored, Some(refiner.name())))
    }

    fn predict(&mut self, req: &PredictRequest) -> Result<PredictResponse, ApiError> {
        let (p, stored, refined) = self.run_prediction(req)?;
        let gt = best_gt(&stored.gt, &p.mask());
        render::response(req, &stored.image, &p, gt, refined.as_deref())
    }

    fn suggest(&mut self, req: &PredictRequest) -> Result<SuggestResponse, ApiError> {
        let (p, stored, _) = self.run_prediction(req)?;
        let pred = p.mask();
        let gt = best_gt(&stored.gt, &pred);
        // Without ground truth the suggested click flips the current prediction there.
        let labels: Vec<bool> = match gt {
            Some(g) => g.to_vec(),
            None => pred.iter().map(|&m| !m).collect(),
        };
        let size = [p.height as usize, p.width as usize];
        let threshold = uncertsam_refine::UncertainThreshold::default();
        let click = uncertsam_refine::uncertainty_click(&p.uncertainty, &labels, size, &threshold)
            .map(|(c, _)| c);
        Ok(SuggestResponse {
            click: click.map(|c| super::messages::SuggestedClick {
                x: c.x,
                y: c.y,
                positive: c.positive,
            }),
        })
    }
}

/// The ground-truth mask overlapping `pred` best (by IoU), if the image has any.
fn best_gt<'g>(gt: &'g [Vec<bool>], pred: &[bool]) -> Option<&'g [bool]> {
    // Loaded ground-truth masks are never empty, so the both-empty case of `binary_iou` does
    // not arise.
    let iou = |g: &[bool]| binary_iou(g.iter().copied().zip(pred.iter().copied()));
    gt.iter()
        .map(|g| (iou(g), g))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, g)| g.as_slice())
}
