//! Convolutions of the SAM parts written as single matrix products (the ndarray backend's
//! direct convolution is slow for SAM's large strided kernels): `k = stride` convolutions
//! (patch embedding, mask downscaling, 1x1), the 3x3 "same" convolution of the neck, and the
//! `k = stride = 2` transposed convolutions of the decoder. They read the weights of burn's
//! `Conv2d` / `ConvTranspose2d` modules, so checkpoint keys are unchanged, and they stay
//! differentiable.

use crate::host::HostReshape;
use burn::nn::Linear;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

/// `Linear` on the last axis with every leading axis flattened into one GEMM.
pub(crate) fn linear_flat<B: Backend, const D: usize>(
    layer: &Linear<B>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    let dims = x.dims();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let w = layer.weight.val(); // [in, out]
    let d_out = w.dims()[1];
    let mut y = crate::host::matmul(x.host_reshape([rows, d_in]), w);
    if let Some(b) = &layer.bias {
        y = crate::host::add_row_bias(y, b.val());
    }
    let mut out_dims = dims;
    out_dims[D - 1] = d_out;
    y.host_reshape(out_dims)
}

/// A convolution whose kernel equals its stride and has no padding (patchify), as one GEMM.
///
/// # Shapes
/// - x: `[n, c, h, w]` with `h`, `w` multiples of `k` -> `[n, out, h / k, w / k]`
pub(crate) fn conv_patchify<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let weight = conv.weight.val(); // [out, c, k, k]
    let [out, _, k, _] = weight.dims();
    let (gh, gw) = (h / k, w / k);
    let patches = if k == 1 {
        x.permute([0, 2, 3, 1]).host_reshape([n * h * w, c])
    } else {
        x.host_reshape([n, c, gh, k, gw, k])
            .permute([0, 2, 4, 1, 3, 5])
            .host_reshape([n * gh * gw, c * k * k])
    };
    let mut y = crate::host::matmul(patches, weight.host_reshape([out, c * k * k]).transpose()); // [n*gh*gw, out]
    if let Some(b) = &conv.bias {
        y = crate::host::add_row_bias(y, b.val());
    }
    y.host_reshape([n, gh, gw, out]).permute([0, 3, 1, 2])
}

/// A 3x3 convolution with padding 1 and stride 1, as one GEMM over the 9 shifted copies.
///
/// # Shapes
/// - x: `[n, c, h, w]` -> `[n, out, h, w]`
pub(crate) fn conv3x3_same<B: Backend>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let weight = conv.weight.val(); // [out, c, 3, 3]
    let out = weight.dims()[0];
    let xp = x.permute([0, 2, 3, 1]); // [n, h, w, c]
    let device = xp.device();
    let padded = Tensor::cat(
        vec![
            Tensor::zeros([n, 1, w, c], &device),
            xp,
            Tensor::zeros([n, 1, w, c], &device),
        ],
        1,
    );
    let padded = Tensor::cat(
        vec![
            Tensor::zeros([n, h + 2, 1, c], &device),
            padded,
            Tensor::zeros([n, h + 2, 1, c], &device),
        ],
        2,
    );
    let mut shifted = Vec::with_capacity(9);
    for dy in 0..3 {
        for dx in 0..3 {
            shifted.push(
                padded
                    .clone()
                    .slice([0..n, dy..dy + h, dx..dx + w, 0..c])
                    .unsqueeze_dim::<5>(3),
            );
        }
    }
    // [n, h, w, 9, c] -> columns ordered (ky, kx, c); the weight as [out, ky, kx, c].
    let cols = Tensor::cat(shifted, 3).host_reshape([n * h * w, 9 * c]);
    let wmat = weight
        .permute([0, 2, 3, 1])
        .host_reshape([out, 9 * c])
        .transpose();
    let mut y = crate::host::matmul(cols, wmat);
    if let Some(b) = &conv.bias {
        y = crate::host::add_row_bias(y, b.val());
    }
    y.host_reshape([n, h, w, out]).permute([0, 3, 1, 2])
}

/// A transposed convolution with `kernel = stride = 2` and no padding, as one GEMM.
///
/// The product is `Wᵀ · x` on the channels-first input (`[out·2·2, c] · [c, h·w]` per image),
/// so the input is read in place; the pixel shuffle and the bias add are then one pass into
/// the output image (`host_layout::pixel_shuffle_2x2` on the CPU backend; elsewhere burn's
/// permute and broadcast add). Same sums in the same order as the channels-last product:
/// bitwise the same output (docs/performance.md, "Decoder upscaling").
///
/// # Shapes
/// - x: `[n, c, h, w]` -> `[n, out, 2h, 2w]`
pub(crate) fn conv_transpose_2x2<B: Backend>(
    conv: &ConvTranspose2d<B>,
    x: Tensor<B, 4>,
) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let weight = conv.weight.val(); // [c, out, 2, 2]
    let out = weight.dims()[1];
    let wt = weight.host_reshape([c, out * 4]).transpose(); // [out*2*2, c]
    let y = if n == 1 {
        crate::host::matmul(wt, x.host_reshape([c, h * w])).unsqueeze::<3>()
    } else {
        crate::host::matmul_batched(wt.unsqueeze::<3>(), x.host_reshape([n, c, h * w]))
    }; // [n, out*2*2, h*w]
    let bias = conv.bias.as_ref().map(|b| b.val());
    if let Some(image) = crate::host_layout::pixel_shuffle_2x2(&y, bias.as_ref(), [n, out, h, w]) {
        return image;
    }
    let y = y
        .host_reshape([n, out, 2, 2, h, w])
        .permute([0, 1, 4, 2, 5, 3]); // [n, out, h, 2, w, 2]
    let y = match bias {
        Some(b) => y + b.host_reshape([1, out, 1, 1, 1, 1]),
        None => y,
    };
    y.host_reshape([n, out, 2 * h, 2 * w])
}
