//! Training data in memory: the clean train split, flips, and the prompt mix.

use std::path::Path;

use anyhow::Context as _;
use image::RgbImage;
use rand::Rng;
use uncertsam_data::{Mask, SampleSource, UncertSamSplit, prompts};
use uncertsam_sam::PromptBatch;

/// One training image with its non-empty instance masks.
#[derive(Clone, Debug)]
pub struct TrainImage {
    /// RGB image.
    pub image: RgbImage,
    /// Instance masks at the image's resolution.
    pub masks: Vec<Mask>,
}

/// Loads up to `limit` images of `<root>/<dataset>/<split>`; unreadable samples are skipped
/// with a warning, and an empty result is an error.
pub fn load_split(
    root: &Path,
    dataset: &str,
    split: &str,
    limit: Option<usize>,
) -> anyhow::Result<Vec<TrainImage>> {
    let source = UncertSamSplit::open(root, dataset, split)
        .with_context(|| format!("opening {dataset}/{split} under {}", root.display()))?;
    let mut out = Vec::new();
    for sample in source.samples() {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        match sample {
            Ok(s) => {
                let masks: Vec<Mask> = s
                    .masks
                    .into_iter()
                    .map(|m| m.mask)
                    .filter(|m| !m.is_empty())
                    .collect();
                if !masks.is_empty() {
                    out.push(TrainImage {
                        image: s.image,
                        masks,
                    });
                }
            }
            Err(e) => eprintln!("warning: skipping a sample of {dataset}/{split}: {e}"),
        }
    }
    anyhow::ensure!(
        !out.is_empty(),
        "{dataset}/{split} under {} has no usable samples",
        root.display()
    );
    Ok(out)
}

/// A flip of the image plane: bit 0 mirrors left-right, bit 1 upside-down.
pub type Flip = u8;

/// Number of distinct flips.
pub const FLIPS: Flip = 4;

/// The image and masks under `flip`.
pub fn flipped(item: &TrainImage, flip: Flip) -> TrainImage {
    let mut image = item.image.clone();
    if flip & 1 != 0 {
        image = image::imageops::flip_horizontal(&image);
    }
    if flip & 2 != 0 {
        image = image::imageops::flip_vertical(&image);
    }
    let masks = item
        .masks
        .iter()
        .map(|m| {
            let (h, w) = (m.height(), m.width());
            Mask::from_fn(h, w, |x, y| {
                let sx = if flip & 1 != 0 { w - 1 - x } else { x };
                let sy = if flip & 2 != 0 { h - 1 - y } else { y };
                m.get(sx, sy)
            })
        })
        .collect();
    TrainImage { image, masks }
}

/// Box prompts for every mask: the tight ground-truth box, jittered
/// (`prompts::jitter_box`) with probability 1/2.
pub fn box_prompts(masks: &[Mask], rng: &mut impl Rng) -> PromptBatch {
    let mut batch = PromptBatch::new();
    for m in masks {
        let tight = prompts::tight_box(m).unwrap_or([0.0; 4]);
        let b = if rng.random_bool(0.5) {
            prompts::jitter_box(tight, m.width(), m.height(), rng)
        } else {
            tight
        };
        batch = batch.with_box(b.map(f64::from));
    }
    batch
}

/// `n` positive points per mask (the caller draws `n` in 1..=3 once per step, since all rows
/// of one decoder call share a structure, and caps it by the smallest mask's area).
pub fn point_prompts(masks: &[Mask], n: usize, rng: &mut impl Rng) -> PromptBatch {
    let mut batch = PromptBatch::new();
    for m in masks {
        let pts = prompts::sample_points(m, n, 0, rng)
            .into_iter()
            .map(|p| ([f64::from(p.xy.0), f64::from(p.xy.1)], 1))
            .collect();
        batch = batch.with_points(pts);
    }
    batch
}
