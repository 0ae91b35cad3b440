//! Post-processing of the official `Sam.postprocess_masks`: bilinear (align_corners=False) to
//! `img_size`, crop to the resized input, bilinear to the original size. The two resizes and
//! the crop are fused into one pair of matrices (computed in f64), so the full-size
//! `img_size x img_size` intermediate is never built.

use burn::prelude::*;

use crate::host::HostReshape;
use crate::interp::linear_resize_matrix;

/// `M2 (orig <- input) x M1[..input] (img_size <- low_res)`, an `[orig, low]` matrix.
fn fused_matrix(low: usize, img_size: usize, input: usize, orig: usize) -> Vec<f32> {
    let m1 = linear_resize_matrix(low, img_size); // [img_size, low]
    let m2 = linear_resize_matrix(input, orig); // [orig, input]
    let mut out = vec![0f64; orig * low];
    for o in 0..orig {
        for i in 0..input {
            let a = m2[o * input + i] as f64;
            if a == 0.0 {
                continue;
            }
            for l in 0..low {
                out[o * low + l] += a * m1[i * low + l] as f64;
            }
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

/// Upscales low-resolution logits to the original image size.
///
/// # Shapes
/// - masks: `[b, m, 4E, 4E]` -> `[b, m, original_h, original_w]`
pub fn postprocess_masks<B: Backend>(
    masks: Tensor<B, 4>,
    img_size: usize,
    input_hw: [usize; 2],
    original_hw: [usize; 2],
) -> Tensor<B, 4> {
    let [b, m, lh, lw] = masks.dims();
    let device = masks.device();
    let [oh, ow] = original_hw;
    let mh = Tensor::<B, 2>::from_data(
        TensorData::new(fused_matrix(lh, img_size, input_hw[0], oh), [oh, lh]),
        &device,
    );
    let mw_t = Tensor::<B, 2>::from_data(
        TensorData::new(fused_matrix(lw, img_size, input_hw[1], ow), [ow, lw]),
        &device,
    )
    .transpose();
    let x = masks
        .host_reshape([b * m * lh, lw])
        .matmul(mw_t)
        .host_reshape([b * m, lh, ow]);
    mh.unsqueeze::<3>().matmul(x).host_reshape([b, m, oh, ow])
}
