//! Host-side helpers around either model family: decode prompt rows to the single-mask
//! output, upsample maps to the original image, and rasterise a ground-truth mask into the
//! decoder's low-resolution frame.

use burn::prelude::*;
use uncertsam_resample::antialias_taps;
use uncertsam_sam::frame::{binary_iou as frame_iou, gt_on_low_res, to_host};
use uncertsam_sam::{Embedding, PromptBatch, PromptRow, Prompts, SamModel};

use crate::error::RefineError;
use crate::first_pass::rows;

/// SAM 2's mask prompts are clamped to this, as `SAM2ImagePredictor` clamps the low-resolution
/// logits it returns for the next call (a NO_OBJ mask at -1024 becomes -32).
pub const SAM2_MASK_PROMPT_CLAMP: f32 = 32.0;

/// The decoder's low-resolution mask size `[4E, 4E]`.
pub fn low_res<B: Backend>(model: SamModel<'_, B>) -> [usize; 2] {
    model.low_res_size()
}

/// Model-input prompts of `prompt_rows`; SAM 2's mask prompts are clamped to
/// [`SAM2_MASK_PROMPT_CLAMP`].
pub fn build_prompts<B: Backend>(
    model: SamModel<'_, B>,
    embedding: &Embedding<B>,
    mut prompt_rows: Vec<PromptRow>,
) -> Result<Prompts<B>, RefineError> {
    if model.is_sam2() {
        let c = SAM2_MASK_PROMPT_CLAMP;
        for m in prompt_rows.iter_mut().filter_map(|r| r.mask.as_mut()) {
            m.iter_mut().for_each(|x| *x = x.clamp(-c, c));
        }
    }
    Ok(model.prompts(&PromptBatch { rows: prompt_rows }, embedding)?)
}

/// Decodes `rows` without multimask and returns each row's low-resolution logits: token 0 for
/// SAM v1; SAM 2's chosen mask (dynamic multimask, NO_OBJ masking), as its first pass.
pub fn decode_rows<'a, B: Backend>(
    model: impl Into<SamModel<'a, B>>,
    embedding: &Embedding<B>,
    prompt_rows: Vec<PromptRow>,
) -> Result<Vec<Vec<f32>>, RefineError> {
    let model = model.into();
    let b = prompt_rows.len();
    let prompts = build_prompts(model, embedding, prompt_rows)?;
    let out = model.decode(embedding, &prompts, false)?;
    let [_, _, h, w] = out.low_res_logits.dims();
    rows(out.low_res_logits.reshape([b, h, w]), b)
}

/// A host batch of low-resolution maps as a `[b, h, w]` tensor.
pub fn to_tensor<B: Backend>(
    maps: &[Vec<f32>],
    [h, w]: [usize; 2],
    device: &B::Device,
) -> Tensor<B, 3> {
    let v: Vec<f32> = maps.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(v, [maps.len(), h, w]), device)
}

/// Upsamples one low-resolution map to the original image (the family's post-processing).
pub fn upsample<'a, B: Backend>(
    model: impl Into<SamModel<'a, B>>,
    embedding: &Embedding<B>,
    map: &[f32],
) -> Result<Vec<f32>, RefineError> {
    let model = model.into();
    let t = to_tensor::<B>(&[map.to_vec()], low_res(model), &model.device());
    Ok(to_host(model.upsample(t, embedding), "upsampled map")?)
}

/// The eps-clamped logit of a ground-truth mask in SAM's low-resolution frame
/// ([`uncertsam_sam::frame::gt_on_low_res`]: nearest at each low-res pixel's centre, background
/// in the padding and beyond a too-short `gt`).
pub fn gt_mask_logits(
    gt: &[bool],
    original: [usize; 2],
    input: [usize; 2],
    img_size: usize,
    side: [usize; 2],
    eps: f32,
) -> Vec<f32> {
    let hi = ((1.0 - eps) / eps).ln();
    let at = |i: usize| gt.get(i).copied().unwrap_or(false);
    gt_on_low_res(at, original, input, img_size, side)
        .into_iter()
        .map(|fg| if fg { hi } else { -hi })
        .collect()
}

/// SAM 2's ground-truth mask prompt: the {0, 1} mask (`original = [h, w]`, row-major; beyond a
/// too-short `gt` is background) downscaled to the low-resolution grid `side` by PyTorch's
/// antialiased bilinear resize, as `_forward_sam_heads` downscales a full-size mask input,
/// then `logit(clamp(fraction, eps, 1 - eps))`.
pub fn sam2_gt_mask_logits(
    gt: &[bool],
    original: [usize; 2],
    side: [usize; 2],
    eps: f32,
) -> Vec<f32> {
    let [h, w] = original;
    let (tx, ty) = (antialias_taps(w, side[1]), antialias_taps(h, side[0]));
    let at = |y: usize, x: usize| f32::from(u8::from(gt.get(y * w + x).copied().unwrap_or(false)));
    // Along the width, then along the height, as PyTorch separates the passes.
    let mut wide = vec![0f32; h * side[1]];
    for y in 0..h {
        for (ox, (x0, wt)) in tx.iter().enumerate() {
            wide[y * side[1] + ox] = wt.iter().enumerate().map(|(j, c)| c * at(y, x0 + j)).sum();
        }
    }
    let lo = eps;
    let hi = 1.0 - eps;
    let mut out = vec![0f32; side[0] * side[1]];
    for (oy, (y0, wt)) in ty.iter().enumerate() {
        for ox in 0..side[1] {
            let f: f32 = wt
                .iter()
                .enumerate()
                .map(|(j, c)| c * wide[(y0 + j) * side[1] + ox])
                .sum();
            let p = f.clamp(lo, hi);
            out[oy * side[1] + ox] = (p / (1.0 - p)).ln();
        }
    }
    out
}

/// The ground-truth mask prompt for `model` ([`gt_mask_logits`] for SAM v1,
/// [`sam2_gt_mask_logits`] for SAM 2).
pub fn gt_prompt_logits<B: Backend>(
    model: SamModel<'_, B>,
    embedding: &Embedding<B>,
    gt: &[bool],
    eps: f32,
) -> Vec<f32> {
    let side = low_res(model);
    match model {
        SamModel::Sam(s) => gt_mask_logits(
            gt,
            embedding.original_size,
            embedding.input_size,
            s.config().img_size,
            side,
            eps,
        ),
        SamModel::Sam2(_) => sam2_gt_mask_logits(gt, embedding.original_size, side, eps),
    }
}

/// IoU of two binary masks; 1 when both are empty ([`uncertsam_sam::frame::binary_iou`]).
pub fn binary_iou(a: &[bool], b: &[bool]) -> f32 {
    frame_iou(a.iter().copied().zip(b.iter().copied())) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gt_logits_follow_the_resized_image_and_pad_with_background() {
        // A 4 x 8 image (w = 8) resized to 16 x 32 inside a 32 x 32 input: 8 x 8 low-res frame,
        // the image fills the top 4 rows.
        let gt: Vec<bool> = (0..32).map(|i| i % 8 >= 4).collect();
        let l = gt_mask_logits(&gt, [4, 8], [16, 32], 32, [8, 8], 1e-3);
        let hi = (0.999f32 / 0.001).ln();
        for y in 0..8 {
            for x in 0..8 {
                let expected = if y < 4 && x >= 4 { hi } else { -hi };
                assert!((l[y * 8 + x] - expected).abs() < 1e-4, "({y}, {x})");
            }
        }
    }

    #[test]
    fn sam2_gt_logits_average_the_mask_over_each_low_res_pixel() {
        // An 8 x 8 mask whose left half is set, on a 4 x 4 grid: each low-res pixel covers 2 x 2
        // pixels (antialiased bilinear with a triangle of support 2 per axis).
        let gt: Vec<bool> = (0..64).map(|i| i % 8 < 4).collect();
        let eps = 1e-3;
        let l = sam2_gt_mask_logits(&gt, [8, 8], [4, 4], eps);
        let hi = ((1.0 - eps) / eps).ln();
        let frac = |l: f32| 1.0 / (1.0 + (-l).exp());
        for y in 0..4 {
            // Columns 0 and 3 lie inside one half; 1 and 2 straddle the edge.
            assert!((l[y * 4] - hi).abs() < 1e-3, "{l:?}");
            assert!((l[y * 4 + 3] + hi).abs() < 1e-3, "{l:?}");
            assert!(
                frac(l[y * 4 + 1]) > 0.5 && frac(l[y * 4 + 1]) < 1.0 - eps,
                "{l:?}"
            );
            assert!(
                (frac(l[y * 4 + 1]) + frac(l[y * 4 + 2]) - 1.0).abs() < 1e-5,
                "{l:?}"
            );
        }
        // The constant masks give the clamped logits exactly.
        assert!(
            sam2_gt_mask_logits(&[true; 64], [8, 8], [4, 4], eps)
                .iter()
                .all(|&x| (x - hi).abs() < 1e-3)
        );
    }
}
