//! Test-time augmentation (spec §3.1): photometric jitter (torchvision hue, or the SAM 2
//! "in-domain" jitter) and horizontal flips with the inverse warp. The only estimator that
//! re-runs the image encoder: once per augmented view (the identity view reuses the cache).

use burn::prelude::*;
use image::RgbImage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use uncertsam_sam::{ImageEmbedding, PromptBatch, PromptRow};

use crate::decode::selected;
use crate::photometric::{adjust_hue, in_domain_jitter};
use crate::{EncodedImage, Estimate, EstimateError, Segmenter, UncertaintyEstimator};

/// The photometric part of each augmented view.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Photometric {
    /// No colour change (flip-only TTA).
    None,
    /// torchvision `adjust_hue` with a factor drawn from `U[-max_shift, max_shift]` per view
    /// (the paper: `max_shift = 0.5`).
    Hue {
        /// Largest hue factor, at most 0.5.
        max_shift: f32,
    },
    /// The SAM 2 training jitter of spec §3.1 (brightness / contrast / saturation, grayscale).
    InDomain,
}

/// Configuration of [`Tta`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TtaConfig {
    /// Photometric augmentation of every non-identity view.
    pub photometric: Photometric,
    /// Flip every other non-identity view horizontally (views 1, 3, ... of the augmented
    /// ones), or every view when `photometric` is `None`.
    #[serde(default)]
    pub hflip: bool,
    /// Number of views S, including the identity view when `include_identity` is set.
    pub samples: usize,
    /// Make view 0 the un-augmented image (its embedding is the cached one).
    #[serde(default)]
    pub include_identity: bool,
}

impl TtaConfig {
    /// The paper's setting: hue jitter in `[-0.5, 0.5]`, S = 10, no identity view.
    pub fn paper_hue() -> Self {
        Self {
            photometric: Photometric::Hue { max_shift: 0.5 },
            hflip: false,
            samples: 10,
            include_identity: false,
        }
    }
}

/// Test-time augmentation. Names: `tta(hue=0.5,s=10)`, `tta(in_domain,flip,s=10,identity)`.
#[derive(Clone, Debug)]
pub struct Tta {
    config: TtaConfig,
}

impl Tta {
    /// Validates `config`.
    pub fn new(config: TtaConfig) -> Result<Self, EstimateError> {
        if config.samples == 0 {
            return Err(EstimateError::config("tta", "samples must be at least 1"));
        }
        if let Photometric::Hue { max_shift } = config.photometric
            && !(0.0..=0.5).contains(&max_shift)
        {
            return Err(EstimateError::config(
                "tta",
                format!("hue max_shift must be in [0, 0.5], got {max_shift}"),
            ));
        }
        if config.photometric == Photometric::None && !config.hflip {
            return Err(EstimateError::config(
                "tta",
                "needs a photometric transform or hflip",
            ));
        }
        Ok(Self { config })
    }

    /// The photometric view and whether it is flipped, for augmented view `k` (0-based among
    /// the non-identity views).
    fn view(&self, image: &RgbImage, k: usize, rng: &mut ChaCha8Rng) -> (RgbImage, bool) {
        let c = &self.config;
        let flip = c.hflip && (c.photometric == Photometric::None || k % 2 == 1);
        let view = match c.photometric {
            Photometric::None => image.clone(),
            Photometric::Hue { max_shift } => {
                let factor = if max_shift > 0.0 {
                    rng.random_range(-max_shift..=max_shift)
                } else {
                    0.0
                };
                adjust_hue(image, factor)
            }
            Photometric::InDomain => in_domain_jitter(image, rng),
        };
        let view = if flip {
            image::imageops::flip_horizontal(&view)
        } else {
            view
        };
        (view, flip)
    }
}

impl<B: Backend> UncertaintyEstimator<B> for Tta {
    fn name(&self) -> String {
        let c = &self.config;
        let mut parts = Vec::new();
        match c.photometric {
            Photometric::None => {}
            Photometric::Hue { max_shift } => parts.push(format!("hue={max_shift}")),
            Photometric::InDomain => parts.push("in_domain".into()),
        }
        if c.hflip {
            parts.push("flip".into());
        }
        parts.push(format!("s={}", c.samples));
        if c.include_identity {
            parts.push("identity".into());
        }
        format!("tta({})", parts.join(","))
    }

    fn estimate(
        &self,
        model: &dyn Segmenter<B>,
        image: &EncodedImage<B>,
        prompts: &PromptBatch,
        rng: &mut ChaCha8Rng,
    ) -> Result<Estimate<B>, EstimateError> {
        let c = &self.config;
        if c.hflip && prompts.rows.iter().any(|r| r.mask.is_some()) {
            return Err(EstimateError::Unsupported {
                estimator: UncertaintyEstimator::<B>::name(self),
                what: "mask prompts with hflip".into(),
            });
        }
        // Draw every view first (the same stream as one at a time), then encode them in
        // batches.
        let identity = usize::from(c.include_identity);
        let (views, flips): (Vec<RgbImage>, Vec<bool>) = (0..c.samples - identity.min(c.samples))
            .map(|k| self.view(&image.image, k, rng))
            .unzip();
        let mut encoded = model.embed_many(&views).into_iter().zip(flips);
        let mut logits = Vec::with_capacity(c.samples);
        let mut ious = Vec::with_capacity(c.samples);
        for s in 0..c.samples {
            let (embedding, flipped) = if c.include_identity && s == 0 {
                (image.embedding.clone(), false)
            } else {
                encoded.next().ok_or_else(|| {
                    EstimateError::Input("an augmented view was not encoded".into())
                })?
            };
            let rows = if flipped {
                flip_prompts(prompts, &embedding)
            } else {
                prompts.clone()
            };
            let p = model.prompts(&rows, &embedding)?;
            let (l, iou) = selected(&model.decode(&embedding, &p, false)?);
            logits.push(if flipped {
                flip_low_res(l, &embedding)
            } else {
                l
            });
            ious.push(iou);
        }
        Ok(Estimate::from_samples(
            Tensor::stack(logits, 0),
            Tensor::stack(ious, 0),
        ))
    }
}

/// The horizontal flip in original-image pixels that matches the flip of the model input:
/// model column `x` maps to `input_w - 1 - x`, i.e. `x -> W - W / input_w - x`.
fn flip_x(x: f64, original_w: usize, input_w: usize) -> f64 {
    let w = original_w as f64;
    w - w / input_w.max(1) as f64 - x
}

/// The prompts of the horizontally flipped image (points and boxes mirrored).
pub fn flip_prompts<B: Backend>(
    prompts: &PromptBatch,
    embedding: &ImageEmbedding<B>,
) -> PromptBatch {
    let (w, input_w) = (embedding.original_size[1], embedding.input_size[1]);
    let rows = prompts
        .rows
        .iter()
        .map(|r| PromptRow {
            points: r
                .points
                .iter()
                .map(|([x, y], l)| ([flip_x(*x, w, input_w), *y], *l))
                .collect(),
            bbox: r
                .bbox
                .map(|[x0, y0, x1, y1]| [flip_x(x1, w, input_w), y0, flip_x(x0, w, input_w), y1]),
            mask: r.mask.clone(),
        })
        .collect();
    PromptBatch { rows }
}

/// Mirrors low-resolution maps `[n, 4E, 4E]` of the flipped image back onto the original:
/// low-res column `j` reads column `V - 1 - j`, `V = 4E * input_w / img_size` the width of
/// the valid (unpadded) region, with linear interpolation when `V` is fractional.
pub fn flip_low_res<B: Backend>(maps: Tensor<B, 3>, embedding: &ImageEmbedding<B>) -> Tensor<B, 3> {
    let [n, h, w] = maps.dims();
    // The padded model input is square with side img_size = input_w of a landscape image.
    let img_size = embedding.input_size[0].max(embedding.input_size[1]) as f64;
    let valid = w as f64 * embedding.input_size[1] as f64 / img_size;
    let mut m = vec![0f32; w * w]; // m[j, src]: output column j from source column src.
    for j in 0..w {
        let src = (valid - 1.0 - j as f64).clamp(0.0, (w - 1) as f64);
        let lo = src.floor() as usize;
        let frac = src - lo as f64;
        m[j * w + lo] += (1.0 - frac) as f32;
        if frac > 0.0 && lo + 1 < w {
            m[j * w + lo + 1] += frac as f32;
        }
    }
    let m = Tensor::<B, 2>::from_data(TensorData::new(m, [w, w]), &maps.device());
    maps.reshape([n * h, w])
        .matmul(m.transpose())
        .reshape([n, h, w])
}
