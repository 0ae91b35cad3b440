//! `Segmenter`: what an estimator may ask of the promptable model, plus `EncodedImage` (an
//! image with its cached embedding) and `CallCounter`, an instrumented wrapper for tests.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::prelude::*;
use image::RgbImage;
use uncertsam_sam::{
    Decoded, ImageEmbedding, NoNoise, NoiseHook, PromptBatch, Prompts, Sam, SamError,
};

/// What an estimator may ask of a promptable segmentation model. Implemented by [`Sam`];
/// wrappers (such as [`CallCounter`]) override the encoder and decoder entry points.
///
/// Estimators must encode and decode only through `embed` and `decode_with_noise` (or
/// `decode`), so that wrappers see every pass; `sam` gives read access to the weights for
/// estimators that add heads (the variance network) or transform prompts.
pub trait Segmenter<B: Backend> {
    /// The underlying model (weights and geometry).
    fn sam(&self) -> &Sam<B>;

    /// Runs the image encoder (resize, normalise, pad, ViT).
    fn embed(&self, image: &RgbImage) -> ImageEmbedding<B> {
        self.sam().embed(image)
    }

    /// One decoder pass for a batch of prompts, with `hook` at the decoder's noise sites.
    fn decode_with_noise(
        &self,
        embedding: &ImageEmbedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
        hook: &mut dyn NoiseHook<B>,
    ) -> Result<Decoded<B>, SamError> {
        self.sam()
            .decode_with_noise(embedding, prompts, multimask, hook)
    }

    /// One deterministic decoder pass for a batch of prompts.
    fn decode(
        &self,
        embedding: &ImageEmbedding<B>,
        prompts: &Prompts<B>,
        multimask: bool,
    ) -> Result<Decoded<B>, SamError> {
        self.decode_with_noise(embedding, prompts, multimask, &mut NoNoise)
    }

    /// Turns original-image prompts into model-input prompts for `embedding`'s image.
    fn prompts(
        &self,
        batch: &PromptBatch,
        embedding: &ImageEmbedding<B>,
    ) -> Result<Prompts<B>, SamError> {
        batch.build(self.sam(), embedding)
    }
}

impl<B: Backend> Segmenter<B> for Sam<B> {
    fn sam(&self) -> &Sam<B> {
        self
    }
}

/// An RGB image with its cached embedding: what every prompt on the image reuses.
#[derive(Clone, Debug)]
pub struct EncodedImage<B: Backend> {
    /// The original RGB image (test-time augmentation transforms and re-encodes it).
    pub image: RgbImage,
    /// The embedding of `image` by the model's encoder.
    pub embedding: ImageEmbedding<B>,
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
    fn sam(&self) -> &Sam<B> {
        self.inner.sam()
    }

    fn embed(&self, image: &RgbImage) -> ImageEmbedding<B> {
        self.embeds.fetch_add(1, Ordering::Relaxed);
        self.inner.embed(image)
    }

    fn decode_with_noise(
        &self,
        embedding: &ImageEmbedding<B>,
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
        embedding: &ImageEmbedding<B>,
    ) -> Result<Prompts<B>, SamError> {
        self.inner.prompts(batch, embedding)
    }
}
