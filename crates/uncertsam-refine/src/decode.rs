//! Host-side helpers around `Sam`: decode prompt rows to token-0 logits, upsample maps to the
//! original image, and rasterise a ground-truth mask into SAM's low-resolution frame.

use burn::prelude::*;
use uncertsam_sam::frame::{binary_iou as frame_iou, gt_on_low_res, to_host};
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

/// Upsamples one low-resolution map to the original image (`Sam::upsample`, bilinear).
pub fn upsample<B: Backend>(
    sam: &Sam<B>,
    embedding: &ImageEmbedding<B>,
    map: &[f32],
) -> Result<Vec<f32>, RefineError> {
    let side = low_res(sam);
    let t = to_tensor::<B>(&[map.to_vec()], side, &sam.device());
    Ok(to_host(sam.upsample(t, embedding), "upsampled map")?)
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
}
