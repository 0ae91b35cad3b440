//! MobileSAM's TinyViT image encoder (`mobile_sam/modeling/tiny_vit_sam.py`): a convolutional
//! patch embedding, a first stage of MBConv blocks, windowed-attention stages with LeViT-style
//! attention biases and a depthwise "local" convolution, PatchMerging between stages, and SAM's
//! 256-channel neck.
//!
//! Official quirks kept: PatchMerging has stride 1 when its `out_dim` is 320, 448 or 576 (so the
//! last two stages share the 64 x 64 grid); the last stage is read as a `[B, 64, 64, C]` grid
//! (the input must be 1024); attention biases are gathered through `attention_bias_idxs`, built
//! here exactly as the official offset dictionary; windows are zero-padded *before* the
//! attention's LayerNorm, so padded tokens take part as keys. The classification head
//! (`head`, `norm_head`) is never used and its checkpoint keys are ignored.

use burn::module::{Module, Param};
use burn::nn::conv::Conv2dConfig;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, PaddingConfig2d};
use burn::prelude::*;

use crate::common::{LayerNorm2d, linear};
use crate::config::TinyVitConfig;
use crate::conv::{conv_patchify, conv3x3_same, linear_flat};
use crate::conv_bn::Conv2dBn;
use crate::host::{HostReshape, layer_norm, matmul_batched, softmax_last};
use crate::image_encoder::Neck;

/// `patch_embed.seq`: `Conv2d_BN(3, d / 2, 3, 2, 1)`, GELU, `Conv2d_BN(d / 2, d, 3, 2, 1)`.
#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    /// The two convolutions (`seq.0`, `seq.2`; the GELU `seq.1` has no weights).
    pub seq: Vec<Conv2dBn<B>>,
}

/// Inverted-residual block of the first stage.
#[derive(Module, Debug)]
pub struct MBConv<B: Backend> {
    /// 1x1 expansion.
    pub conv1: Conv2dBn<B>,
    /// Depthwise 3x3.
    pub conv2: Conv2dBn<B>,
    /// 1x1 projection.
    pub conv3: Conv2dBn<B>,
}

/// Downsampling between stages: 1x1, depthwise 3x3 (stride 2, or 1 for out_dim 320/448/576), 1x1.
#[derive(Module, Debug)]
pub struct PatchMerging<B: Backend> {
    /// 1x1 to `out_dim`.
    pub conv1: Conv2dBn<B>,
    /// Depthwise 3x3.
    pub conv2: Conv2dBn<B>,
    /// 1x1.
    pub conv3: Conv2dBn<B>,
}

/// Windowed multi-head attention with learned per-offset biases.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Pre-attention LayerNorm.
    pub norm: LayerNorm<B>,
    /// Per-head `[q, k, v]` projection, `dim -> heads * (2 key_dim + d)`.
    pub qkv: Linear<B>,
    /// Output projection.
    pub proj: Linear<B>,
    /// One bias per head and distinct `(|dy|, |dx|)` offset, `[heads, offsets]`.
    pub attention_biases: Param<Tensor<B, 2>>,
    num_heads: usize,
    window: usize,
}

/// TinyViT's MLP: LayerNorm, fc1, GELU, fc2.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Pre-MLP LayerNorm.
    pub norm: LayerNorm<B>,
    /// First projection.
    pub fc1: Linear<B>,
    /// Second projection.
    pub fc2: Linear<B>,
}

/// Attention block: windowed attention, depthwise local convolution, MLP.
#[derive(Module, Debug)]
pub struct TinyViTBlock<B: Backend> {
    /// Windowed attention (its LayerNorm inside).
    pub attn: Attention<B>,
    /// Depthwise 3x3 between attention and MLP.
    pub local_conv: Conv2dBn<B>,
    /// MLP (its LayerNorm inside).
    pub mlp: Mlp<B>,
}

/// One stage: MBConv blocks (`ConvLayer`, stage 0) or attention blocks (`BasicLayer`).
#[derive(Module, Debug)]
pub enum Layer<B: Backend> {
    /// `ConvLayer`.
    Conv(ConvLayer<B>),
    /// `BasicLayer`.
    Basic(BasicLayer<B>),
}

/// Stage 0.
#[derive(Module, Debug)]
pub struct ConvLayer<B: Backend> {
    /// MBConv blocks.
    pub blocks: Vec<MBConv<B>>,
    /// Downsampling to the next stage.
    pub downsample: Option<PatchMerging<B>>,
}

/// An attention stage.
#[derive(Module, Debug)]
pub struct BasicLayer<B: Backend> {
    /// Attention blocks.
    pub blocks: Vec<TinyViTBlock<B>>,
    /// Downsampling to the next stage (none for the last one).
    pub downsample: Option<PatchMerging<B>>,
}

/// The TinyViT image encoder with SAM's neck.
#[derive(Module, Debug)]
pub struct TinyViT<B: Backend> {
    /// Convolutional patch embedding (stride 4).
    pub patch_embed: PatchEmbed<B>,
    /// The stages.
    pub layers: Vec<Layer<B>>,
    /// 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d to 256 channels (`neck.0..3`).
    pub neck: Neck<B>,
}

impl<B: Backend> TinyViT<B> {
    /// An encoder of the geometry `c` with placeholder weights; `out_chans` is the neck width.
    pub fn new(c: &TinyVitConfig, out_chans: usize, device: &B::Device) -> Self {
        let d = &c.embed_dims;
        let n = c.embed_dims.len();
        let merging = |i: usize| {
            (i + 1 < n).then(|| {
                let (dim, out) = (d[i], d[i + 1]);
                let stride = if matches!(out, 320 | 448 | 576) { 1 } else { 2 };
                PatchMerging {
                    conv1: Conv2dBn::new([dim, out], 1, 1, 0, 1, device),
                    conv2: Conv2dBn::new([out, out], 3, stride, 1, out, device),
                    conv3: Conv2dBn::new([out, out], 1, 1, 0, 1, device),
                }
            })
        };
        let layers = (0..n)
            .map(|i| {
                let dim = d[i];
                if i == 0 {
                    let hidden = (dim as f64 * c.mbconv_expand_ratio) as usize;
                    Layer::Conv(ConvLayer {
                        blocks: (0..c.depths[i])
                            .map(|_| MBConv {
                                conv1: Conv2dBn::new([dim, hidden], 1, 1, 0, 1, device),
                                conv2: Conv2dBn::new([hidden, hidden], 3, 1, 1, hidden, device),
                                conv3: Conv2dBn::new([hidden, dim], 1, 1, 0, 1, device),
                            })
                            .collect(),
                        downsample: merging(i),
                    })
                } else {
                    let heads = c.num_heads[i];
                    let ws = c.window_sizes[i];
                    let hidden = (dim as f64 * c.mlp_ratio) as usize;
                    let ks = c.local_conv_size;
                    Layer::Basic(BasicLayer {
                        blocks: (0..c.depths[i])
                            .map(|_| TinyViTBlock {
                                attn: Attention {
                                    norm: LayerNormConfig::new(dim)
                                        .with_epsilon(LN_EPS)
                                        .init(device),
                                    qkv: linear(dim, 3 * dim, true, device),
                                    proj: linear(dim, dim, true, device),
                                    attention_biases: Param::from_tensor(Tensor::zeros(
                                        [heads, offsets(ws).1],
                                        device,
                                    )),
                                    num_heads: heads,
                                    window: ws,
                                },
                                local_conv: Conv2dBn::new([dim, dim], ks, 1, ks / 2, dim, device),
                                mlp: Mlp {
                                    norm: LayerNormConfig::new(dim)
                                        .with_epsilon(LN_EPS)
                                        .init(device),
                                    fc1: linear(dim, hidden, true, device),
                                    fc2: linear(hidden, dim, true, device),
                                },
                            })
                            .collect(),
                        downsample: merging(i),
                    })
                }
            })
            .collect();
        let last = d[n - 1];
        Self {
            patch_embed: PatchEmbed {
                seq: vec![
                    Conv2dBn::new([3, d[0] / 2], 3, 2, 1, 1, device),
                    Conv2dBn::new([d[0] / 2, d[0]], 3, 2, 1, 1, device),
                ],
            },
            layers,
            neck: Neck {
                conv1: Conv2dConfig::new([last, out_chans], [1, 1])
                    .with_bias(false)
                    .init(device),
                ln1: LayerNorm2d::new(out_chans, 1e-6, device),
                conv2: Conv2dConfig::new([out_chans, out_chans], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false)
                    .init(device),
                ln2: LayerNorm2d::new(out_chans, 1e-6, device),
            },
        }
    }

    /// Encodes a normalised, padded 1024 x 1024 image batch.
    ///
    /// # Shapes
    /// - x: `[n, 3, 1024, 1024]` -> `[n, 256, 64, 64]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = x.permute([0, 2, 3, 1]); // channels last: [n, h, w, 3]
        for (i, conv) in self.patch_embed.seq.iter().enumerate() {
            x = conv.forward(x);
            if i == 0 {
                x = gelu(x);
            }
        }
        for layer in &self.layers {
            x = layer.forward(x);
        }
        let x = x.permute([0, 3, 1, 2]);
        let x = self.neck.ln1.forward(conv_patchify(&self.neck.conv1, x));
        self.neck.ln2.forward(conv3x3_same(&self.neck.conv2, x))
    }
}

impl<B: Backend> Layer<B> {
    /// # Shapes
    /// - x: `[n, h, w, dim]` -> `[n, h', w', next_dim]`
    pub fn forward(&self, mut x: Tensor<B, 4>) -> Tensor<B, 4> {
        let downsample = match self {
            Layer::Conv(l) => {
                for b in &l.blocks {
                    x = b.forward(x);
                }
                &l.downsample
            }
            Layer::Basic(l) => {
                for b in &l.blocks {
                    x = b.forward(x);
                }
                &l.downsample
            }
        };
        match downsample {
            Some(m) => m.forward(x),
            None => x,
        }
    }
}

impl<B: Backend> MBConv<B> {
    /// # Shapes
    /// - x: `[n, h, w, c]` -> `[n, h, w, c]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let h = gelu(self.conv1.forward(x.clone()));
        let h = gelu(self.conv2.forward(h));
        gelu(self.conv3.forward(h) + x)
    }
}

impl<B: Backend> PatchMerging<B> {
    /// # Shapes
    /// - x: `[n, h, w, dim]` -> `[n, h / s, w / s, out_dim]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = gelu(self.conv1.forward(x));
        let x = gelu(self.conv2.forward(x));
        self.conv3.forward(x)
    }
}

impl<B: Backend> TinyViTBlock<B> {
    /// # Shapes
    /// - x: `[n, h, w, dim]` -> `[n, h, w, dim]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, h, w, c] = x.dims();
        let ws = self.attn.window;
        let attn = if h == ws && w == ws {
            self.attn
                .forward(x.clone().host_reshape([n, h * w, c]))
                .host_reshape([n, h, w, c])
        } else {
            let (ph, pw) = ((ws - h % ws) % ws, (ws - w % ws) % ws);
            let padded = pad_hw(x.clone(), ph, pw);
            let (nh, nw) = ((h + ph) / ws, (w + pw) / ws);
            let windows = padded
                .host_reshape([n, nh, ws, nw, ws, c])
                .swap_dims(2, 3)
                .host_reshape([n * nh * nw, ws * ws, c]);
            let out = self
                .attn
                .forward(windows)
                .host_reshape([n, nh, nw, ws, ws, c])
                .swap_dims(2, 3)
                .host_reshape([n, h + ph, w + pw, c]);
            if ph > 0 || pw > 0 {
                out.slice([0..n, 0..h, 0..w, 0..c])
            } else {
                out
            }
        };
        let x = self.local_conv.forward(x + attn);
        x.clone() + self.mlp.forward(x)
    }
}

impl<B: Backend> Mlp<B> {
    /// # Shapes
    /// - x: `[..., dim]` -> `[..., dim]`
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let x = linear_flat(&self.fc1, layer_norm(&self.norm, x, LN_EPS));
        linear_flat(&self.fc2, gelu(x))
    }
}

impl<B: Backend> Attention<B> {
    /// The gathered biases `attention_biases[:, attention_bias_idxs]`.
    ///
    /// # Shapes
    /// -> `[heads, N, N]`, `N = window^2`
    pub fn bias(&self) -> Tensor<B, 3> {
        let (idxs, _) = offsets(self.window);
        let n = self.window * self.window;
        let device = self.attention_biases.val().device();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idxs, [n * n]), &device);
        self.attention_biases
            .val()
            .select(1, idx)
            .host_reshape([self.num_heads, n, n])
    }

    /// # Shapes
    /// - x: `[b, N, dim]` -> `[b, N, dim]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, n, dim] = x.dims();
        let heads = self.num_heads;
        let kd = dim / heads;
        let qkv = linear_flat(&self.qkv, layer_norm(&self.norm, x, LN_EPS))
            .host_reshape([b, n, heads, 3 * kd])
            .swap_dims(1, 2); // [b, heads, N, 3 kd]
        let q = qkv.clone().narrow(3, 0, kd);
        let k = qkv.clone().narrow(3, kd, kd);
        let v = qkv.narrow(3, 2 * kd, kd);
        let scale = (kd as f64).powf(-0.5);
        let attn = matmul_batched(q, k.swap_dims(2, 3)) * scale + self.bias().unsqueeze::<4>();
        let x = matmul_batched(softmax_last(attn, None), v)
            .swap_dims(1, 2)
            .host_reshape([b, n, dim]);
        linear_flat(&self.proj, x)
    }
}

/// Zero-pads `[n, h, w, c]` at the bottom and right (`F.pad(x, (0, 0, 0, pw, 0, ph))`).
fn pad_hw<B: Backend>(x: Tensor<B, 4>, ph: usize, pw: usize) -> Tensor<B, 4> {
    let [n, h, w, c] = x.dims();
    let device = x.device();
    let mut x = x;
    if ph > 0 {
        x = Tensor::cat(vec![x, Tensor::zeros([n, ph, w, c], &device)], 1);
    }
    if pw > 0 {
        x = Tensor::cat(vec![x, Tensor::zeros([n, h + ph, pw, c], &device)], 2);
    }
    x
}

/// `attention_bias_idxs` (row-major `[N, N]`) and the number of distinct offsets, numbered in
/// order of first appearance over `itertools.product(range(ws), range(ws))` pairs.
fn offsets(ws: usize) -> (Vec<i64>, usize) {
    let points: Vec<(usize, usize)> = (0..ws).flat_map(|y| (0..ws).map(move |x| (y, x))).collect();
    let mut ids = std::collections::HashMap::new();
    let mut idxs = Vec::with_capacity(points.len() * points.len());
    for p1 in &points {
        for p2 in &points {
            let off = (p1.0.abs_diff(p2.0), p1.1.abs_diff(p2.1));
            let next = ids.len() as i64;
            idxs.push(*ids.entry(off).or_insert(next));
        }
    }
    (idxs, ids.len())
}

/// GELU (erf form), fused and threaded on the CPU backend (`host::gelu`).
fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    crate::host::gelu(x)
}

/// The epsilon of the blocks' LayerNorms (PyTorch's default).
const LN_EPS: f64 = 1e-5;
