//! The SAM 2 step loss: the same three decoder calls per step as SAM v1 ([`crate::train`]),
//! decoded as `SAM2Train` decodes in training and scored by SAM 2's own loss.
//!
//! - **Decoding**: `Sam2Heads::decode_train` (token 0 for a single mask, the three multimask
//!   tokens for one point, no dynamic multimask, NO_OBJ masking where the object score is
//!   `<= 0`), as `_forward_sam_heads` runs with the decoder in train mode.
//! - **Calls**: (1) the ground-truth box, (2) the box plus 0-2 corrective clicks on call 1's
//!   errors and / or call 1's detached logits, clamped to [-32, 32] as `SAM2Train`'s
//!   `_iter_correct_pt_sampling` clamps them, as the mask prompt, (3) 1-3 positive points,
//!   multimask for one point (the official `multimask_max_pt_num: 1`).
//! - **Loss**: `uncertsam_sam::sam2::loss::multi_step_loss` with the sam2.1 training weights
//!   (`Sam2LossConfig::default`: 20 focal + 1 dice + 1 L1 IoU on every output + 1 object-score
//!   BCE, the min-loss mask of a multimask call), the three calls as the three prediction steps
//!   of one frame (summed, as the official loss sums steps), against the low-resolution targets
//!   of [`crate::train::low_res_targets`]. The official loss is taken on the logits upsampled to
//!   the 1024-pixel input; here, as for SAM v1, it is taken on the 4E x 4E logits, 16x cheaper.
//! - **High-res warm-up** (from scratch only; the official models start from SA-1B weights, so
//!   the official recipe has none): `conv_s0` / `conv_s1` start at zero ([`crate::init`]) and,
//!   for the first [`HIGH_RES_WARMUP`] of the main stage, the high-res features are detached,
//!   so they stay zero and the decoder trains as SAM v1's. Trained with them from the first
//!   step, the tiny SAM 2 settles on segmenting every object of the image whatever the box
//!   (after 6000 steps: 26 % of its foreground inside the box, box IoU 0.21); at 128 px without
//!   them its loss drops from 3.28 to 1.99 between steps 1200 and 1800, as SAM v1's does, and
//!   with this warm-up it ends lower still (docs/performance.md, "The embedded SAM 2").

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use uncertsam_sam::sam2::loss::{Sam2Frame, Sam2LossConfig, Sam2Step, multi_step_loss};
use uncertsam_sam::{Embedding, PromptBatch, PromptRow, Prompts, Sam2, Sam2Decoded, Sam2Embedding};

use crate::data::{ClickGrid, TrainImage, box_prompts, corrective_clicks, point_prompts};
use crate::train::{cat_prompts, low_res_targets};

/// The default fraction of the main (from-scratch) stage trained with the high-res features
/// held at zero (`--high-res-warmup`). A quarter: the 256 px default breaks out in its second
/// and third epochs (of 13 then, mean loss 3.13 then 2.27), and when the features joined at half the
/// stage its loss fell from 1.56 to 1.16 in one epoch, so the earlier they join after the
/// break-out, the more steps the whole decoder trains.
pub const HIGH_RES_WARMUP: f64 = 0.25;

/// `SAM2Train` clamps the previous logits it feeds back as the mask prompt to this range.
const MASK_PROMPT_CLAMP: f32 = 32.0;

fn step<A: AutodiffBackend>(d: Sam2Decoded<A>) -> Sam2Step<A> {
    Sam2Step {
        masks: d.low_res_logits,
        ious: d.iou_predictions,
        object_score_logits: d.object_score_logits,
    }
}

/// The loss of one SAM 2 step on `items` (embedded as `embs`); see the module docs.
pub(crate) fn step_loss<A: AutodiffBackend>(
    model: &Sam2<A>,
    embs: &[Embedding<A>],
    items: &[&TrainImage],
    rng: &mut ChaCha8Rng,
    high_res_frozen: bool,
) -> anyhow::Result<Tensor<A, 1>> {
    let device = model.device();
    let side = model.config().low_res_side();
    let size = model.config().image_size;
    let low = [side, side];
    let k: usize = items.iter().map(|it| it.masks.len()).sum();
    let mut gt = Vec::with_capacity(k * side * side);
    let (mut rows, mut s0, mut s1) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_image = Vec::with_capacity(embs.len());
    for (emb, it) in embs.iter().zip(items) {
        gt.extend(low_res_targets(&it.masks, [size, size], size, low));
        let e = emb.sam2()?;
        let n = it.masks.len();
        rows.extend(std::iter::repeat_n(e.embeddings.clone(), n));
        s0.extend(std::iter::repeat_n(e.high_res_features[0].clone(), n));
        s1.extend(std::iter::repeat_n(e.high_res_features[1].clone(), n));
        per_image.push(e);
    }
    let gt_host = gt.clone();
    let targets = Tensor::<A, 3>::from_data(TensorData::new(gt, [k, side, side]), &device);
    let hold = |t: Tensor<A, 4>| if high_res_frozen { t.detach() } else { t };
    let joint = Sam2Embedding {
        embeddings: Tensor::cat(rows, 0),
        high_res_features: [hold(Tensor::cat(s0, 0)), hold(Tensor::cat(s1, 0))],
        original_size: per_image[0].original_size,
    };
    let heads = model.heads();
    let build = |batches: Vec<PromptBatch>| -> anyhow::Result<Prompts<A>> {
        let mut parts = Vec::with_capacity(batches.len());
        for (b, e) in batches.iter().zip(&per_image) {
            parts.push(b.build_sam2(model, e)?);
        }
        Ok(cat_prompts(parts))
    };

    // (1) Box prompts, token 0.
    let boxes: Vec<PromptBatch> = items.iter().map(|it| box_prompts(&it.masks, rng)).collect();
    let first = heads.decode_train(&joint, &build(boxes.clone())?, false)?;
    let first_host: Vec<f32> = first.low_res_logits.clone().detach().into_data().to_vec()?;

    // (2) Corrective call: the box, 0-2 clicks on call 1's errors, call 1's clamped logits as
    // mask prompt (always with no click, else with probability 1/2).
    let clicks = rng.random_range(0..=2usize);
    let with_mask = clicks == 0 || rng.random_bool(0.5);
    let cells = side * side;
    let mut fixes = Vec::with_capacity(items.len());
    let mut row = 0;
    for ((e, it), b) in per_image.iter().zip(items).zip(&boxes) {
        let grid = ClickGrid {
            low,
            img_size: size,
            input_size: [size, size],
            original_size: e.original_size,
        };
        let mut batch = PromptBatch::new();
        for r in &b.rows {
            let span = row * cells..(row + 1) * cells;
            let logits = &first_host[span.clone()];
            batch = batch.with_row(PromptRow {
                points: corrective_clicks(logits, &gt_host[span], grid, clicks, rng),
                bbox: r.bbox,
                mask: with_mask.then(|| {
                    logits
                        .iter()
                        .map(|v| v.clamp(-MASK_PROMPT_CLAMP, MASK_PROMPT_CLAMP))
                        .collect()
                }),
            });
            row += 1;
        }
        debug_assert_eq!(batch.rows.len(), it.masks.len());
        fixes.push(batch);
    }
    let fix = heads.decode_train(&joint, &build(fixes)?, false)?;

    // (3) Point prompts: multimask for one point.
    let smallest = items
        .iter()
        .flat_map(|it| it.masks.iter().map(uncertsam_data::Mask::area))
        .min()
        .unwrap_or(1)
        .max(1) as usize;
    let n = rng.random_range(1..=3usize).min(smallest);
    let points: Vec<PromptBatch> = items
        .iter()
        .map(|it| point_prompts(&it.masks, n, rng))
        .collect();
    let point = heads.decode_train(&joint, &build(points)?, n == 1)?;

    let frame = Sam2Frame {
        steps: vec![step(first), step(fix), step(point)],
        targets,
    };
    Ok(multi_step_loss(&[frame], &Sam2LossConfig::default()).core)
}
