//! The Hiera trunk of SAM 2 (`sam2/modeling/backbones/hieradet.py`): a 7x7 / stride-4 patch
//! embedding, a bicubically resized background position embedding plus a tiled window
//! embedding, and multi-scale blocks with mask-unit windowed (or global) attention whose first
//! block per stage max-pools the queries by 2.
//!
//! Official quirks kept: a block's window is chosen *before* the stage counter advances, so
//! the q-pool block opening a stage partitions with the previous stage's window, then
//! unpartitions with half of it; the shortcut of a widening block is `pool(proj(norm1(x)))`.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, PaddingConfig2d};
use burn::prelude::*;

use crate::attention::chunked_attention;
use crate::common::{Mlp, linear};
use crate::conv::linear_flat;
use crate::conv_bn::conv_im2col;
use crate::host::{HostReshape, gelu, layer_norm};
use crate::image_encoder::{window_partition, window_unpartition};
use crate::sam2::config::HieraConfig;

/// The epsilon of the blocks' LayerNorms.
const LN_EPS: f64 = 1e-6;

/// Target size of one chunk of attention logits (see `attention::chunked_attention`).
const ATTN_CHUNK_BYTES: usize = 32 << 20;

/// `patch_embed.proj`: `Conv2d(3, embed_dim, 7, stride 4, padding 3)`.
#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    /// The convolution.
    pub proj: Conv2d<B>,
}

/// Multi-head attention whose queries may be max-pooled by 2.
#[derive(Module, Debug)]
pub struct MultiScaleAttention<B: Backend> {
    /// Joint projection, `dim -> 3 dim_out`.
    pub qkv: Linear<B>,
    /// Output projection.
    pub proj: Linear<B>,
    num_heads: usize,
    q_pool: bool,
}

/// One Hiera block.
#[derive(Module, Debug)]
pub struct MultiScaleBlock<B: Backend> {
    /// Pre-attention LayerNorm (eps 1e-6).
    pub norm1: LayerNorm<B>,
    /// Attention.
    pub attn: MultiScaleAttention<B>,
    /// Pre-MLP LayerNorm (eps 1e-6).
    pub norm2: LayerNorm<B>,
    /// GELU MLP (`mlp.layers.0`, `mlp.layers.1`).
    pub mlp: Mlp<B>,
    /// Shortcut projection of a block that widens (`dim != dim_out`).
    pub proj: Option<Linear<B>>,
    window_size: usize,
    q_stride: usize,
}

/// The Hiera trunk.
#[derive(Module, Debug)]
pub struct Hiera<B: Backend> {
    /// Patch embedding.
    pub patch_embed: PatchEmbed<B>,
    /// Background position embedding, `[1, C, bh, bw]`.
    pub pos_embed: Param<Tensor<B, 4>>,
    /// Window position embedding, `[1, C, w0, w0]`, tiled over the grid.
    pub pos_embed_window: Param<Tensor<B, 4>>,
    /// The blocks.
    pub blocks: Vec<MultiScaleBlock<B>>,
    stage_ends: Vec<usize>,
}

impl<B: Backend> Hiera<B> {
    /// A trunk of geometry `c` with placeholder weights.
    pub fn new(c: &HieraConfig, device: &B::Device) -> Self {
        let stage_ends: Vec<usize> = c
            .stages
            .iter()
            .scan(0, |s, &d| {
                *s += d;
                Some(*s - 1)
            })
            .collect();
        let q_pool_blocks: Vec<usize> = stage_ends[..stage_ends.len() - 1]
            .iter()
            .map(|e| e + 1)
            .take(c.q_pool)
            .collect();
        let (mut dim, mut heads, mut stage) = (c.embed_dim, c.num_heads, 1);
        let depth: usize = c.stages.iter().sum();
        let mut blocks = Vec::with_capacity(depth);
        for i in 0..depth {
            let mut dim_out = dim;
            let mut window = c.window_spec[stage - 1];
            if c.global_att_blocks.contains(&i) {
                window = 0;
            }
            if i > 0 && stage_ends.contains(&(i - 1)) {
                dim_out = (dim as f64 * c.dim_mul) as usize;
                heads = (heads as f64 * c.head_mul) as usize;
                stage += 1;
            }
            let ln = |d: usize| LayerNormConfig::new(d).with_epsilon(LN_EPS).init(device);
            blocks.push(MultiScaleBlock {
                norm1: ln(dim),
                attn: MultiScaleAttention {
                    qkv: linear(dim, 3 * dim_out, true, device),
                    proj: linear(dim_out, dim_out, true, device),
                    num_heads: heads,
                    q_pool: q_pool_blocks.contains(&i),
                },
                norm2: ln(dim_out),
                mlp: Mlp::new(dim_out, 4 * dim_out, dim_out, 2, device),
                proj: (dim != dim_out).then(|| linear(dim, dim_out, true, device)),
                window_size: window,
                q_stride: if q_pool_blocks.contains(&i) {
                    c.q_stride[0]
                } else {
                    0
                },
            });
            dim = dim_out;
        }
        let [bh, bw] = c.window_pos_embed_bkg_spatial_size;
        let w0 = c.window_spec[0];
        Self {
            patch_embed: PatchEmbed {
                proj: Conv2dConfig::new([3, c.embed_dim], [7, 7])
                    .with_stride([4, 4])
                    .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                    .init(device),
            },
            pos_embed: Param::from_tensor(Tensor::zeros([1, c.embed_dim, bh, bw], device)),
            pos_embed_window: Param::from_tensor(Tensor::zeros([1, c.embed_dim, w0, w0], device)),
            blocks,
            stage_ends,
        }
    }

    /// The features at the end of every stage, finest first.
    ///
    /// # Shapes
    /// - x: `[n, 3, S, S]` -> `[n, S / 4, S / 4, C]`, `[n, S / 8, S / 8, 2C]`, ... (channels last)
    pub fn forward(&self, x: Tensor<B, 4>) -> Vec<Tensor<B, 4>> {
        let p = &self.patch_embed.proj;
        let bias = p
            .bias
            .as_ref()
            .map(|b| b.val())
            .unwrap_or_else(|| Tensor::zeros([p.weight.dims()[0]], &x.device()));
        let mut x = conv_im2col(x.permute([0, 2, 3, 1]), p.weight.val(), bias, 4, 3);
        let [_, h, w, _] = x.dims();
        x = x + self.get_pos_embed([h, w]);
        let mut outputs = Vec::with_capacity(self.stage_ends.len());
        for (i, blk) in self.blocks.iter().enumerate() {
            x = blk.forward(x);
            if self.stage_ends.contains(&i) {
                outputs.push(x.clone());
            }
        }
        outputs
    }

    /// `_get_pos_embed`: bicubic resize of `pos_embed` plus the tiled window embedding.
    ///
    /// # Shapes
    /// -> `[1, h, w, C]`
    pub fn get_pos_embed(&self, [h, w]: [usize; 2]) -> Tensor<B, 4> {
        let pe = self.pos_embed.val();
        let [_, c, bh, bw] = pe.dims();
        let device = pe.device();
        let mh = Tensor::<B, 2>::from_data(
            TensorData::new(cubic_resize_matrix(bh, h), [h, bh]),
            &device,
        );
        let mw = Tensor::<B, 2>::from_data(
            TensorData::new(cubic_resize_matrix(bw, w), [w, bw]),
            &device,
        );
        // [c, bh, bw] -> [c, h, w]: rows then columns.
        let x = mh.unsqueeze::<3>().matmul(pe.host_reshape([c, bh, bw]));
        let x = x.matmul(mw.transpose().unsqueeze::<3>());
        let win = self.pos_embed_window.val();
        let ws = win.dims()[2];
        let tiled = win
            .host_reshape([c, 1, ws, 1, ws])
            .repeat(&[1, h / ws, 1, w / ws, 1])
            .host_reshape([c, h, w]);
        (x + tiled).permute([1, 2, 0]).unsqueeze()
    }
}

/// The `[out, in]` matrix of PyTorch's 1-D bicubic resize (`mode="bicubic"`,
/// align_corners=False, A = -0.75, borders clamped).
pub fn cubic_resize_matrix(input: usize, output: usize) -> Vec<f32> {
    const A: f64 = -0.75;
    let cc1 = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let cc2 = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    let mut m = vec![0f64; input * output];
    let scale = input as f32 / output as f32;
    for d in 0..output {
        let real = scale * (d as f32 + 0.5) - 0.5;
        let i0 = real.floor();
        let t = (real - i0) as f64;
        let coeffs = [cc2(t + 1.0), cc1(t), cc1(1.0 - t), cc2(2.0 - t)];
        for (k, c) in coeffs.into_iter().enumerate() {
            let idx = (i0 as i64 - 1 + k as i64).clamp(0, input as i64 - 1) as usize;
            m[d * input + idx] += c;
        }
    }
    m.into_iter().map(|v| v as f32).collect()
}

impl<B: Backend> MultiScaleBlock<B> {
    /// # Shapes
    /// - x: `[n, h, w, dim]` -> `[n, h / s, w / s, dim_out]` (`s` = 2 for a q-pool block)
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x_in = x;
        let x = layer_norm(&self.norm1, x_in.clone(), LN_EPS);
        let shortcut = match &self.proj {
            Some(p) => {
                let s = linear_flat(p, x.clone());
                if self.q_stride > 0 { max_pool2(s) } else { s }
            }
            None => x_in,
        };
        let [_, h, w, _] = x.dims();
        let out = if self.window_size > 0 {
            let ws = self.window_size;
            let (windows, _) = window_partition(x, ws);
            let attn = self.attn.forward(windows);
            let (ws, [h, w]) = match ws.checked_div(self.q_stride) {
                Some(pooled) => {
                    let [_, sh, sw, _] = shortcut.dims();
                    (pooled, [sh, sw])
                }
                None => (ws, [h, w]),
            };
            let pad = |v: usize| v + (ws - v % ws) % ws;
            window_unpartition(attn, ws, [pad(h), pad(w)], [h, w])
        } else {
            self.attn.forward(x)
        };
        let x = shortcut + out;
        let y = linear_flat(
            &self.mlp.layers[0],
            layer_norm(&self.norm2, x.clone(), LN_EPS),
        );
        x + linear_flat(&self.mlp.layers[1], gelu(y))
    }
}

impl<B: Backend> MultiScaleAttention<B> {
    /// # Shapes
    /// - x: `[b, h, w, dim]` -> `[b, h', w', dim_out]` (`h' = h / 2` with q-pooling)
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, w, _] = x.dims();
        let heads = self.num_heads;
        let qkv = linear_flat(&self.qkv, x);
        let dim_out = qkv.dims()[3] / 3;
        let hd = dim_out / heads;
        // One copy into [3, b * heads, h * w, hd]; q, k and v are then contiguous slices.
        let bh = b * heads;
        let qkv = qkv
            .host_reshape([b, h * w, 3, heads, hd])
            .permute([2, 0, 3, 1, 4])
            .host_reshape([3, bh, h * w, hd]);
        let part = |i: usize| qkv.clone().narrow(0, i, 1).host_reshape([bh, h * w, hd]);
        let (mut q, k, v) = (part(0), part(1), part(2));
        let (mut qh, mut qw) = (h, w);
        if self.q_pool {
            // Max-pooling acts per channel, so pooling each head's slice equals pooling the
            // `[b, h, w, dim_out]` queries.
            let pooled = max_pool2(q.host_reshape([bh, h, w, hd]));
            [_, qh, qw, _] = pooled.dims();
            q = pooled.host_reshape([bh, qh * qw, hd]);
        }
        // Keys transposed once into standard layout ([bh * hd, hw] forces the copy).
        let kt = k
            .swap_dims(1, 2)
            .host_reshape([bh * hd, h * w])
            .host_reshape([bh, hd, h * w]);
        let scale = (hd as f64).powf(-0.5);
        let x = chunked_attention(q, kt, v, scale, ATTN_CHUNK_BYTES)
            .host_reshape([b, heads, qh, qw, hd])
            .permute([0, 2, 3, 1, 4])
            .host_reshape([b, qh, qw, dim_out]);
        linear_flat(&self.proj, x)
    }
}

/// `MaxPool2d(2, 2)` (floor mode) over the spatial axes of a channels-last tensor: the
/// element-wise maximum of the four strided views of each 2 x 2 cell (exact, as pooling is).
fn max_pool2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, h, w, c] = x.dims();
    let (oh, ow) = (h / 2, w / 2);
    let x = if h % 2 == 1 || w % 2 == 1 {
        x.slice([0..n, 0..2 * oh, 0..2 * ow, 0..c])
    } else {
        x
    };
    // [n, oh, 2 (row in cell), ow, 2 * c (column in cell, channel)].
    let x = x.host_reshape([n, oh, 2, ow, 2 * c]);
    let view = |dy: usize, dx: usize| x.clone().narrow(2, dy, 1).narrow(4, dx * c, c);
    let top = view(0, 0).max_pair(view(0, 1));
    let bottom = view(1, 0).max_pair(view(1, 1));
    top.max_pair(bottom).host_reshape([n, oh, ow, c])
}
