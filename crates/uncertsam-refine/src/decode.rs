//! Host-side helpers around `Sam`: decode prompt rows to token-0 logits, upsample maps to the
//! original image, and rasterise a ground-truth mask into SAM's low-resolution frame.

use burn::prelude::*;
use uncertsam_sam::{ImageEmbedding, PromptBatch, PromptRow, Sam};

use crate::error::RefineError;
use crate::first_pass::rows;

/// SAM's low-resolution mask size `[4E, 4E]`.
pub fn low_res(sam: &Sam<impl Backend>) -> [usize; 2] {
    sam.config().low_res_size()
}

/// Decodes `rows` (single-mask output, token 0) and returns each row's low-resolution logits.
pub fn decode_rows<B: Backend>(
    sam: &Sam<B>,
    embedding: &ImageEmbedding<B>,
    prompt_rows: Vec<PromptRow>,
) -> Result<Vec<Vec<f32>>, RefineError> {
    let b = prompt_rows.len();
    let prompts = PromptBatch { rows: prompt_rows }.build(sam, embedding)?;
    let out = sam.decode(embedding, &prompts, false)?;
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

/// Upsamples one low-resolution map to the original image (`Sam::postprocess`, bilinear).
pub fn upsample<B: Backend>(
    sam: &Sam<B>,
    embedding: &ImageEmbedding<B>,
    map: &[f32],
) -> Result<Vec<f32>, RefineError> {
    let side = low_res(sam);
    let t = to_tensor::<B>(&[map.to_vec()], side, &sam.device()).reshape([1, 1, side[0], side[1]]);
    let [h, w] = embedding.original_size;
    let up = sam.postprocess(t, embedding).reshape([1, h, w]);
    Ok(rows(up, 1)?.remove(0))
}

/// The eps-clamped logit of a ground-truth mask in SAM's low-resolution frame: each low-res
/// pixel takes the mask value (nearest) at its centre mapped back to the original image;
/// the padding right of and below the resized image is background (as is any pixel beyond a
/// too-short `gt`).
pub fn gt_mask_logits(
    gt: &[bool],
    original: [usize; 2],
    input: [usize; 2],
    img_size: usize,
    side: [usize; 2],
    eps: f32,
) -> Vec<f32> {
    let hi = ((1.0 - eps) / eps).ln();
    let [oh, ow] = original;
    let sample = |i: usize, n: usize, input: usize, orig: usize| -> Option<usize> {
        // Centre of low-res pixel i in model-input pixels, then in original pixels.
        let c = (i as f64 + 0.5) * img_size as f64 / n as f64;
        (c < input as f64).then(|| ((c * orig as f64 / input as f64) as usize).min(orig - 1))
    };
    let mut out = vec![-hi; side[0] * side[1]];
    for y in 0..side[0] {
        let Some(sy) = sample(y, side[0], input[0], oh) else {
            continue;
        };
        for x in 0..side[1] {
            if let Some(sx) = sample(x, side[1], input[1], ow)
                && gt.get(sy * ow + sx).copied().unwrap_or(false)
            {
                out[y * side[1] + x] = hi;
            }
        }
    }
    out
}

/// IoU of two binary masks; 1 when both are empty.
pub fn binary_iou(a: &[bool], b: &[bool]) -> f32 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        inter += usize::from(x && y);
        union += usize::from(x || y);
    }
    if union == 0 {
        1.0
    } else {
        inter as f32 / union as f32
    }
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
}
