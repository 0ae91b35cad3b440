//! TinyViT's `Conv2d_BN` (a bias-free convolution `c` followed by an eval-mode BatchNorm `bn`)
//! and the channels-last convolutions MobileSAM needs: 1x1, dense `k x k` with stride and
//! padding (im2col + one GEMM), and depthwise 3x3 (a direct loop over rows on parallel threads).
//!
//! The BatchNorm is folded into the convolution, as `Conv2d_BN.fuse` does:
//! `w' = w * gamma / sqrt(var + eps)`, `b' = beta - mean * gamma / sqrt(var + eps)`. The fold
//! costs one pass over the weights, so it is recomputed at each forward and loading stays a
//! plain key-for-key copy of the official state dict (`num_batches_tracked` is ignored).

use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

use crate::host::HostReshape;
use crate::parallel::par_map;

/// BatchNorm2d in eval mode, with the official parameter and buffer names.
#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    /// Scale (gamma), `[c]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Shift (beta), `[c]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Running mean, `[c]`.
    pub running_mean: Param<Tensor<B, 1>>,
    /// Running variance, `[c]`.
    pub running_var: Param<Tensor<B, 1>>,
}

/// `Conv2d_BN`: convolution `c` (no bias) then BatchNorm `bn` (eps 1e-5).
#[derive(Module, Debug)]
pub struct Conv2dBn<B: Backend> {
    /// The convolution, `[out, in / groups, k, k]`.
    pub c: Conv2d<B>,
    /// The BatchNorm.
    pub bn: BatchNorm2d<B>,
    stride: usize,
    padding: usize,
    groups: usize,
}

/// PyTorch's BatchNorm2d default epsilon.
const BN_EPS: f64 = 1e-5;

impl<B: Backend> Conv2dBn<B> {
    /// A `Conv2d_BN(a, b, ks, stride, pad, groups)` with placeholder weights.
    pub fn new(
        [a, b]: [usize; 2],
        ks: usize,
        stride: usize,
        pad: usize,
        groups: usize,
        device: &B::Device,
    ) -> Self {
        let c = Conv2dConfig::new([a, b], [ks, ks])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_groups(groups)
            .with_bias(false)
            .init(device);
        let p = |v: f32| Param::from_tensor(Tensor::full([b], v, device));
        Self {
            c,
            bn: BatchNorm2d {
                weight: p(1.0),
                bias: p(0.0),
                running_mean: p(0.0),
                running_var: p(1.0),
            },
            stride,
            padding: pad,
            groups,
        }
    }

    /// The folded convolution: weight `[out, in / groups, k, k]` and bias `[out]`.
    pub fn folded(&self) -> (Tensor<B, 4>, Tensor<B, 1>) {
        let bn = &self.bn;
        let scale = bn.weight.val() / (bn.running_var.val() + BN_EPS).sqrt();
        let w = self.c.weight.val();
        let out = w.dims()[0];
        let wf = w * scale.clone().host_reshape([out, 1, 1, 1]);
        let bf = bn.bias.val() - bn.running_mean.val() * scale;
        (wf, bf)
    }

    /// Applies the folded convolution to a channels-last tensor.
    ///
    /// # Shapes
    /// - x: `[n, h, w, in]` -> `[n, (h + 2 pad - k) / stride + 1, ..., out]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let (w, b) = self.folded();
        let [out, in_g, k, _] = w.dims();
        if self.groups == 1 && k == 1 && self.stride == 1 {
            let [n, h, wd, c] = x.dims();
            let y = crate::host::matmul(
                x.host_reshape([n * h * wd, c]),
                w.host_reshape([out, in_g]).transpose(),
            );
            return crate::host::add_row_bias(y, b).host_reshape([n, h, wd, out]);
        }
        if self.groups == 1 {
            return conv_im2col(x, w, b, self.stride, self.padding);
        }
        depthwise(x, w, b, self.stride, self.padding)
    }
}

/// Output side of a convolution.
fn out_size(input: usize, k: usize, stride: usize, pad: usize) -> usize {
    (input + 2 * pad - k) / stride + 1
}

/// The values of `t`, row-major (the buffer is moved out, not copied; after `convert` the
/// element type is f32, so `into_vec` cannot fail). Flattened first: burn-ndarray copies a
/// rank-4 array out element by element (0.5 s for 16.7 M values), a rank-1 one at once.
fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    let n = t.shape().num_elements();
    t.host_reshape([n])
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default()
}

/// A dense `k x k` convolution (groups 1) as im2col and one GEMM.
///
/// # Shapes
/// - x: `[n, h, w, c]`, weight: `[out, c, k, k]`, bias: `[out]` -> `[n, oh, ow, out]`
pub(crate) fn conv_im2col<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Tensor<B, 1>,
    stride: usize,
    pad: usize,
) -> Tensor<B, 4> {
    let [n, h, w, c] = x.dims();
    let [out, _, k, _] = weight.dims();
    let device = x.device();
    let (oh, ow) = (out_size(h, k, stride, pad), out_size(w, k, stride, pad));
    let src = to_vec(x);
    let cols_per_row = k * k * c;
    let rows: Vec<usize> = (0..n * oh).collect();
    let blocks = par_map(rows, |r| {
        let (b, oy) = (r / oh, r % oh);
        let mut cols = vec![0f32; ow * cols_per_row];
        for ox in 0..ow {
            for ky in 0..k {
                let iy = (oy * stride + ky) as isize - pad as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                for kx in 0..k {
                    let ix = (ox * stride + kx) as isize - pad as isize;
                    if ix < 0 || ix >= w as isize {
                        continue;
                    }
                    let s = ((b * h + iy as usize) * w + ix as usize) * c;
                    let d = ox * cols_per_row + (ky * k + kx) * c;
                    cols[d..d + c].copy_from_slice(&src[s..s + c]);
                }
            }
        }
        cols
    });
    let cols: Vec<f32> = blocks.into_iter().flatten().collect();
    let cols =
        Tensor::<B, 2>::from_data(TensorData::new(cols, [n * oh * ow, cols_per_row]), &device);
    // Columns are ordered (ky, kx, c); the weight as [out, ky, kx, c].
    let wmat = weight
        .permute([0, 2, 3, 1])
        .host_reshape([out, cols_per_row])
        .transpose();
    crate::host::add_row_bias(crate::host::matmul(cols, wmat), bias).host_reshape([n, oh, ow, out])
}

/// A depthwise `k x k` convolution (groups = channels), one output row per task.
///
/// # Shapes
/// - x: `[n, h, w, c]`, weight: `[c, 1, k, k]`, bias: `[c]` -> `[n, oh, ow, c]`
fn depthwise<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Tensor<B, 1>,
    stride: usize,
    pad: usize,
) -> Tensor<B, 4> {
    let [n, h, w, c] = x.dims();
    let k = weight.dims()[2];
    let device = x.device();
    let (oh, ow) = (out_size(h, k, stride, pad), out_size(w, k, stride, pad));
    // Weights as [ky, kx, c] so the inner loop runs over contiguous channels.
    let wk = to_vec(weight.host_reshape([c, k * k]).transpose());
    let bv = to_vec(bias);
    let src = to_vec(x);
    let rows: Vec<usize> = (0..n * oh).collect();
    let blocks = par_map(rows, |r| {
        let (b, oy) = (r / oh, r % oh);
        let mut row = vec![0f32; ow * c];
        for ox in 0..ow {
            let acc = &mut row[ox * c..(ox + 1) * c];
            acc.copy_from_slice(&bv);
            for ky in 0..k {
                let iy = (oy * stride + ky) as isize - pad as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                for kx in 0..k {
                    let ix = (ox * stride + kx) as isize - pad as isize;
                    if ix < 0 || ix >= w as isize {
                        continue;
                    }
                    let s = ((b * h + iy as usize) * w + ix as usize) * c;
                    let wt = &wk[(ky * k + kx) * c..(ky * k + kx + 1) * c];
                    for ((a, &v), &g) in acc.iter_mut().zip(&src[s..s + c]).zip(wt) {
                        *a += v * g;
                    }
                }
            }
        }
        row
    });
    let out: Vec<f32> = blocks.into_iter().flatten().collect();
    Tensor::from_data(TensorData::new(out, [n, oh, ow, c]), &device)
}
