//! The decoder's low-resolution frame and the image frame, once for every crate: host copies
//! of maps, upsampling `[b, 4E, 4E]` maps to the image (through a model's `postprocess`),
//! ground truth on the low-resolution grid, and the IoU of thresholded logits.
//!
//! Estimators, refinement, training and the benchmark call these instead of their own copies.

use burn::prelude::*;

use crate::SamError;

/// Copies a tensor to the host as f32, flattened (burn-ndarray copies rank-1 data at once but
/// higher ranks element by element). `what` names the tensor in the error.
pub fn to_host<B: Backend, const D: usize>(
    t: Tensor<B, D>,
    what: &str,
) -> Result<Vec<f32>, SamError> {
    let n = t.shape().num_elements();
    t.reshape([n])
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| SamError::Input(format!("{what}: {e:?}")))
}

/// Upsamples `[b, h, w]` maps with `postprocess` (a model's `[b, 1, h, w] -> [b, 1, H, W]`
/// post-processing) to `[b, H, W]`.
pub fn upsample_maps<B: Backend>(
    maps: Tensor<B, 3>,
    postprocess: impl FnOnce(Tensor<B, 4>) -> Tensor<B, 4>,
) -> Tensor<B, 3> {
    let [b, h, w] = maps.dims();
    let up = postprocess(maps.reshape([b, 1, h, w]));
    let [_, _, oh, ow] = up.dims();
    up.reshape([b, oh, ow])
}

/// A ground-truth mask (`original = [h, w]`, row-major) on the decoder's low-resolution grid
/// `side`: each low-res pixel takes the mask value (nearest) at its centre, mapped through the
/// longest-side resize (`input` = the resized size inside the `img_size` square) back to the
/// original image; the padding right of and below the resized image is background, as is any
/// pixel beyond a too-short `gt`.
pub fn gt_on_low_res(
    gt: impl Fn(usize) -> bool,
    original: [usize; 2],
    input: [usize; 2],
    img_size: usize,
    side: [usize; 2],
) -> Vec<bool> {
    let [oh, ow] = original;
    let sample = |i: usize, n: usize, input: usize, orig: usize| -> Option<usize> {
        // Centre of low-res pixel i in model-input pixels, then in original pixels.
        let c = (i as f64 + 0.5) * img_size as f64 / n as f64;
        (c < input as f64 && orig > 0)
            .then(|| ((c * orig as f64 / input as f64) as usize).min(orig - 1))
    };
    let mut out = vec![false; side[0] * side[1]];
    for y in 0..side[0] {
        let Some(sy) = sample(y, side[0], input[0], oh) else {
            continue;
        };
        for x in 0..side[1] {
            if let Some(sx) = sample(x, side[1], input[1], ow) {
                out[y * side[1] + x] = gt(sy * ow + sx);
            }
        }
    }
    out
}

/// IoU of two binary masks given as pairs `(prediction, truth)`; 1 when both are empty.
pub fn binary_iou(pairs: impl IntoIterator<Item = (bool, bool)>) -> f64 {
    let (mut inter, mut union) = (0u64, 0u64);
    for (p, g) in pairs {
        inter += u64::from(p && g);
        union += u64::from(p || g);
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// IoU of `logits > 0` with a 0 / 1 mask (`mask != 0`); 1 when both are empty.
pub fn logit_iou(logits: &[f32], mask: &[u8]) -> f64 {
    binary_iou(logits.iter().zip(mask).map(|(&l, &m)| (l > 0.0, m != 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gt_follows_the_resized_image_and_pads_with_background() {
        // A 4 x 8 image resized to 16 x 32 in a 32 square; the low-res grid is 8 x 8.
        let gt: Vec<bool> = (0..32).map(|i| i % 8 >= 4).collect();
        let low = gt_on_low_res(
            |i| gt.get(i).copied().unwrap_or(false),
            [4, 8],
            [16, 32],
            32,
            [8, 8],
        );
        for y in 0..8 {
            for x in 0..8 {
                // Rows 4.. are padding; columns 4.. are the mask's right half.
                assert_eq!(low[y * 8 + x], y < 4 && x >= 4, "({y}, {x})");
            }
        }
    }

    #[test]
    fn iou_counts_intersection_over_union() {
        assert_eq!(
            binary_iou([(true, true), (true, false), (false, false)]),
            0.5
        );
        assert_eq!(binary_iou([(false, false)]), 1.0);
        assert_eq!(logit_iou(&[1.0, -1.0, 0.5], &[1, 1, 0]), 1.0 / 3.0);
    }
}
