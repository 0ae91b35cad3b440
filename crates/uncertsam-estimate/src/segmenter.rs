//! `Segmenter`: what an estimator may ask of the promptable model, plus `EncodedImage` (an
//! image with its cached embedding) and `CallCounter`, an instrumented wrapper for tests.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use image::RgbImage;
use uncertsam_sam::{Decoded, Mlp, NoNoise, NoiseHook, PromptBatch, Prompts, Sam, Sam2, SamError};

use uncertsam_sam::{AnySam, Embedding, SamModel};

/// What an estimator may ask of a promptable segmentation model of either family (SAM v1 /
/// MobileSAM, SAM 2). Implementors supply [`Segmenter::model`]; every other method dispatches
/// on it. Wrappers (such as [`CallCounter`]) override the encoder and decoder entry points.
///
/// Estimators must encode and decode only through `embed` and `decode_with_noise` (or
/// `decode`), so that wrappers see every pass; `model` gives read access to the weights for
/// estimators that reuse decoder layers (MC dropout, Laplace), add heads (the variance
/// network) or swap them (deep ensembles).
pub trait Segmenter<B: Backend> {
    /// The underlying model (weights and geometry).
    fn model(&self) -> SamModel<'_, B>;

    /// The SAM v1 / MobileSAM model, or `None` for SAM 2 (for code built on SAM v1's decoder
    /// layout only).
    fn sam(&self) -> Option<&Sam<B>> {
        match self.model() {
            SamModel::Sam(s) => Some(s),
            SamModel::Sam2(_) => None,
        }
    }

    /// The hypernetwork MLP of every mask token; token 0's last Linear is the Laplace layer.
    fn hypernetwork_mlps(&self) -> &[Mlp<B>] {
        self.model().hypernetwork_mlps()
    }

    /// Runs the image encoder (the family's resize and normalisation, then the encoder).
    fn embed(&self, image: &RgbImage) -> Embedding<B> {
        self.model().embed(image)
    }

    /// [`Segmenter::embed`] of several images (batched through the encoder where the
    /// family allows: [`SamModel::embed_many`]).
    fn embed_many(&self, images: &[RgbImage]) -> Vec<Embedding<B>> {
        self.model().embed_many(images)
    }

    /// One decoder pass for a batch of prompts, with `hook` at the decoder's noise sites.
    fn decode_with_noise(
        &self,
        embedding: &Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
        hook: &mut dyn NoiseHook<B>,
    ) -> Result<Decoded<B>, SamError> {
        self.model()
            .decode_with_noise(embedding, prompts, multimask, hook)
    }

    /// One deterministic decoder pass for a batch of prompts.
    fn decode(
        &self,
        embedding: &Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
    ) -> Result<Decoded<B>, SamError> {
        self.decode_with_noise(embedding, prompts, multimask, &mut NoNoise)
    }

    /// Turns original-image prompts into model-input prompts for `embedding`'s image.
    fn prompts(
        &self,
        batch: &PromptBatch,
        embedding: &Embedding<B>,
    ) -> Result<Prompts<B>, SamError> {
        self.model().prompts(batch, embedding)
    }

    /// Low-resolution maps `[b, m, 4E, 4E]` at the original image size `[b, m, h, w]`.
    fn postprocess(&self, low_res: Tensor<B, 4>, embedding: &Embedding<B>) -> Tensor<B, 4> {
        self.model().postprocess(low_res, embedding)
    }

    /// Low-resolution maps `[b, 4E, 4E]` (one per prompt row) at the original image size
    /// `[b, h, w]` ([`uncertsam_sam::frame::upsample_maps`]).
    fn upsample(&self, maps: Tensor<B, 3>, embedding: &Embedding<B>) -> Tensor<B, 3> {
        uncertsam_sam::frame::upsample_maps(maps, |x| self.postprocess(x, embedding))
    }
}

impl<B: Backend> Segmenter<B> for Sam<B> {
    fn model(&self) -> SamModel<'_, B> {
        SamModel::Sam(self)
    }
}

impl<B: Backend> Segmenter<B> for Sam2<B> {
    fn model(&self) -> SamModel<'_, B> {
        SamModel::Sam2(self)
    }
}

impl<B: Backend> Segmenter<B> for AnySam<B> {
    fn model(&self) -> SamModel<'_, B> {
        AnySam::model(self)
    }
}

/// An RGB image with its cached embedding: what every prompt on the image reuses.
#[derive(Clone, Debug)]
pub struct EncodedImage<B: Backend> {
    /// The original RGB image (test-time augmentation transforms and re-encodes it).
    pub image: RgbImage,
    /// The embedding of `image` by the model's encoder.
    pub embedding: Embedding<B>,
}

impl<B: Backend> EncodedImage<B> {
    /// Encodes `image` once with `model`.
    pub fn new(model: &dyn Segmenter<B>, image: RgbImage) -> Self {
        let embedding = model.embed(&image);
        Self { image, embedding }
    }
}

/// A [`Segmenter`] that counts encoder and decoder passes of the model it wraps.
///
/// The counts are how the tests prove that only test-time augmentation re-runs the encoder
/// and that sampling estimators batch their decoder passes.
pub struct CallCounter<'a, B: Backend> {
    inner: &'a dyn Segmenter<B>,
    embeds: AtomicUsize,
    decodes: AtomicUsize,
    decoded_rows: AtomicUsize,
}

impl<'a, B: Backend> CallCounter<'a, B> {
    /// Wraps `inner` with all counts at zero.
    pub fn new(inner: &'a dyn Segmenter<B>) -> Self {
        Self {
            inner,
            embeds: AtomicUsize::new(0),
            decodes: AtomicUsize::new(0),
            decoded_rows: AtomicUsize::new(0),
        }
    }

    /// Number of image-encoder passes so far.
    pub fn embeds(&self) -> usize {
        self.embeds.load(Ordering::Relaxed)
    }

    /// Number of decoder calls so far.
    pub fn decodes(&self) -> usize {
        self.decodes.load(Ordering::Relaxed)
    }

    /// Number of prompt rows decoded so far, over all decoder calls.
    pub fn decoded_rows(&self) -> usize {
        self.decoded_rows.load(Ordering::Relaxed)
    }
}

impl<B: Backend> Segmenter<B> for CallCounter<'_, B> {
    fn model(&self) -> SamModel<'_, B> {
        self.inner.model()
    }

    fn embed(&self, image: &RgbImage) -> Embedding<B> {
        self.embeds.fetch_add(1, Ordering::Relaxed);
        self.inner.embed(image)
    }

    fn embed_many(&self, images: &[RgbImage]) -> Vec<Embedding<B>> {
        self.embeds.fetch_add(images.len(), Ordering::Relaxed);
        self.inner.embed_many(images)
    }

    fn decode_with_noise(
        &self,
        embedding: &Embedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
        hook: &mut dyn NoiseHook<B>,
    ) -> Result<Decoded<B>, SamError> {
        self.decodes.fetch_add(1, Ordering::Relaxed);
        let rows = prompts.batch_size().unwrap_or(0);
        self.decoded_rows.fetch_add(rows, Ordering::Relaxed);
        self.inner
            .decode_with_noise(embedding, prompts, multimask, hook)
    }

    fn prompts(
        &self,
        batch: &PromptBatch,
        embedding: &Embedding<B>,
    ) -> Result<Prompts<B>, SamError> {
        self.inner.prompts(batch, embedding)
    }
}
