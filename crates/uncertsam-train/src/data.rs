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

/// Where the corrective pass puts its clicks: the low-resolution grid of the first pass and
/// the two sizes that map a grid cell back to original-image pixels.
#[derive(Clone, Copy, Debug)]
pub struct ClickGrid {
    /// Logit grid `[h, w]` (`4E x 4E`).
    pub low: [usize; 2],
    /// The model's square input side.
    pub img_size: usize,
    /// The resized image inside the input, `[h, w]`.
    pub input_size: [usize; 2],
    /// The original image, `[h, w]`.
    pub original_size: [usize; 2],
}

impl ClickGrid {
    /// Original-image `(x, y)` of the centre of cell `(i, j)`, or `None` in the padding.
    fn centre(&self, i: usize, j: usize) -> Option<[f64; 2]> {
        let y = (i as f64 + 0.5) * self.img_size as f64 / self.low[0] as f64;
        let x = (j as f64 + 0.5) * self.img_size as f64 / self.low[1] as f64;
        (y < self.input_size[0] as f64 && x < self.input_size[1] as f64).then(|| {
            [
                x * self.original_size[1] as f64 / self.input_size[1] as f64,
                y * self.original_size[0] as f64 / self.input_size[0] as f64,
            ]
        })
    }
}

/// `n` corrective clicks for one mask, as SAM's interactive training places them: cells drawn
/// uniformly (with replacement) from the error region of the first pass (`logits > 0` against
/// `target > 1/2`, on the low-resolution grid, padding excluded), labelled 1 on a missed
/// foreground cell and 0 on a false positive. With no error cell the pool is the foreground,
/// then every cell of the image; a grid with no cell inside the image gets `n` padding points
/// (label -1), so every row of a call keeps one shape.
pub fn corrective_clicks(
    logits: &[f32],
    target: &[f32],
    grid: ClickGrid,
    n: usize,
    rng: &mut impl Rng,
) -> Vec<([f64; 2], i64)> {
    // (centre, foreground, wrong) of every cell inside the image.
    let cells: Vec<([f64; 2], bool, bool)> = (0..grid.low[0] * grid.low[1])
        .filter_map(|c| {
            let fg = target[c] > 0.5;
            grid.centre(c / grid.low[1], c % grid.low[1])
                .map(|xy| (xy, fg, (logits[c] > 0.0) != fg))
        })
        .collect();
    let errors: Vec<_> = cells.iter().filter(|c| c.2).collect();
    let pool = if errors.is_empty() {
        let fg: Vec<_> = cells.iter().filter(|c| c.1).collect();
        if fg.is_empty() {
            cells.iter().collect()
        } else {
            fg
        }
    } else {
        errors
    };
    if pool.is_empty() {
        return vec![([0.0, 0.0], -1); n];
    }
    (0..n)
        .map(|_| {
            let (xy, fg, _) = pool[rng.random_range(0..pool.len())];
            (*xy, i64::from(*fg))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// A 4 x 4 grid over an 8 x 8 input holding a 4 x 8 original image (input 4 x 8, the
    /// lower two grid rows are padding): cell (0, 1) is a missed foreground, (1, 2) a false
    /// positive, (2, 0) a false positive in the padding.
    #[test]
    fn clicks_land_on_errors_inside_the_image_with_their_labels() {
        let grid = ClickGrid {
            low: [4, 4],
            img_size: 8,
            input_size: [4, 8],
            original_size: [4, 8],
        };
        let mut target = vec![0f32; 16];
        let mut logits = vec![-1f32; 16];
        target[1] = 1.0; // missed
        logits[6] = 1.0; // false positive
        logits[8] = 1.0; // false positive in the padding
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let clicks = corrective_clicks(&logits, &target, grid, 200, &mut rng);
        assert_eq!(clicks.len(), 200);
        for (xy, label) in &clicks {
            assert!(
                (*xy == [3.0, 1.0] && *label == 1) || (*xy == [5.0, 3.0] && *label == 0),
                "{xy:?} {label}"
            );
        }
        assert!(clicks.iter().any(|c| c.1 == 1) && clicks.iter().any(|c| c.1 == 0));
        // No error left: clicks fall back to the foreground, positive.
        logits[1] = 1.0;
        logits[6] = -1.0;
        let clicks = corrective_clicks(&logits, &target, grid, 5, &mut rng);
        assert!(clicks.iter().all(|c| *c == ([3.0, 1.0], 1)), "{clicks:?}");
    }
}
