//! The ViT image encoder of SAM v1 (`segment_anything/modeling/image_encoder.py`): patch
//! embedding, absolute positions, windowed and global attention with decomposed relative
//! positions, and the convolutional neck.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, PaddingConfig2d};
use burn::prelude::*;

use crate::common::{LayerNorm2d, MlpBlock, linear};
use crate::config::SamConfig;
use crate::conv::{conv_patchify, conv3x3_same, linear_flat};
use crate::host::{HostReshape, layer_norm, matmul_batched, softmax_last};
use crate::interp::linear_resize_matrix;
use crate::parallel::{par_map, threads};

/// Target size of one chunk of attention logits (see `Attention::forward`).
const ATTN_CHUNK_BYTES: usize = 32 << 20;

/// Patch embedding: a strided convolution (`patch_embed.proj`).
#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    /// `Conv2d(in_chans, embed_dim, k = s = patch_size)`.
    pub proj: Conv2d<B>,
}

/// Multi-head self-attention with optional decomposed relative positions.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Joint query/key/value projection, `dim -> 3 dim`.
    pub qkv: Linear<B>,
    /// Output projection.
    pub proj: Linear<B>,
    /// Relative position table along height, `[2 h - 1, head_dim]` (any length is resized).
    pub rel_pos_h: Option<Param<Tensor<B, 2>>>,
    /// Relative position table along width, `[2 w - 1, head_dim]`.
    pub rel_pos_w: Option<Param<Tensor<B, 2>>>,
    num_heads: usize,
}

/// One transformer block; `window_size == 0` means global attention.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Pre-attention LayerNorm.
    pub norm1: LayerNorm<B>,
    /// Attention.
    pub attn: Attention<B>,
    /// Pre-MLP LayerNorm.
    pub norm2: LayerNorm<B>,
    /// GELU MLP.
    pub mlp: MlpBlock<B>,
    window_size: usize,
    /// The epsilon of both LayerNorms.
    ln_eps: f64,
}

/// The neck: 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d (`neck.0..3`).
#[derive(Module, Debug)]
pub struct Neck<B: Backend> {
    /// `neck.0`: 1x1 convolution without bias.
    pub conv1: Conv2d<B>,
    /// `neck.1`.
    pub ln1: LayerNorm2d<B>,
    /// `neck.2`: 3x3 convolution without bias.
    pub conv2: Conv2d<B>,
    /// `neck.3`.
    pub ln2: LayerNorm2d<B>,
}

/// The SAM v1 ViT image encoder.
#[derive(Module, Debug)]
pub struct ImageEncoderViT<B: Backend> {
    /// Patch embedding.
    pub patch_embed: PatchEmbed<B>,
    /// Absolute positions, `[1, grid, grid, embed_dim]`.
    pub pos_embed: Param<Tensor<B, 4>>,
    /// Transformer blocks.
    pub blocks: Vec<Block<B>>,
    /// Output neck.
    pub neck: Neck<B>,
}

impl<B: Backend> ImageEncoderViT<B> {
    /// An encoder with zero-initialised weights for the geometry of `c` (load weights next).
    pub fn new(c: &SamConfig, device: &B::Device) -> Self {
        let dim = c.encoder_embed_dim;
        let grid = c.img_size / c.patch_size;
        let head_dim = dim / c.encoder_num_heads;
        let blocks = (0..c.encoder_depth)
            .map(|i| {
                let window = if c.encoder_global_attn_indexes.contains(&i) {
                    0
                } else {
                    c.encoder_window_size
                };
                let side = if window == 0 { grid } else { window };
                let rel =
                    |n: usize| Param::from_tensor(Tensor::zeros([2 * n - 1, head_dim], device));
                Block {
                    norm1: LayerNormConfig::new(dim)
                        .with_epsilon(c.encoder_layernorm_eps)
                        .init(device),
                    attn: Attention {
                        qkv: linear(dim, 3 * dim, c.encoder_qkv_bias, device),
                        proj: linear(dim, dim, true, device),
                        rel_pos_h: c.encoder_use_rel_pos.then(|| rel(side)),
                        rel_pos_w: c.encoder_use_rel_pos.then(|| rel(side)),
                        num_heads: c.encoder_num_heads,
                    },
                    norm2: LayerNormConfig::new(dim)
                        .with_epsilon(c.encoder_layernorm_eps)
                        .init(device),
                    mlp: MlpBlock::new(
                        dim,
                        (dim as f64 * c.encoder_mlp_ratio) as usize,
                        true,
                        device,
                    ),
                    window_size: window,
                    ln_eps: c.encoder_layernorm_eps,
                }
            })
            .collect();
        let out = c.prompt_embed_dim;
        Self {
            patch_embed: PatchEmbed {
                proj: Conv2dConfig::new([c.in_chans, dim], [c.patch_size, c.patch_size])
                    .with_stride([c.patch_size, c.patch_size])
                    .init(device),
            },
            pos_embed: Param::from_tensor(Tensor::zeros([1, grid, grid, dim], device)),
            blocks,
            neck: Neck {
                conv1: Conv2dConfig::new([dim, out], [1, 1])
                    .with_bias(false)
                    .init(device),
                ln1: LayerNorm2d::new(out, c.encoder_layernorm_eps, device),
                conv2: Conv2dConfig::new([out, out], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(false)
                    .init(device),
                ln2: LayerNorm2d::new(out, c.encoder_layernorm_eps, device),
            },
        }
    }

    /// Encodes a normalised, padded image batch.
    ///
    /// # Shapes
    /// - x: `[n, 3, img_size, img_size]` -> `[n, prompt_embed_dim, grid, grid]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = self.embed_patches(x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.forward_neck(x)
    }

    /// Patch embedding plus absolute positions.
    ///
    /// # Shapes
    /// - x: `[n, 3, img_size, img_size]` -> `[n, grid, grid, embed_dim]`
    pub fn embed_patches(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = conv_patchify(&self.patch_embed.proj, x).permute([0, 2, 3, 1]);
        x + self.pos_embed.val()
    }

    /// The neck.
    ///
    /// # Shapes
    /// - x: `[n, grid, grid, embed_dim]` -> `[n, prompt_embed_dim, grid, grid]`
    pub fn forward_neck(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let x = x.permute([0, 3, 1, 2]);
        let x = self.neck.ln1.forward(conv_patchify(&self.neck.conv1, x));
        self.neck.ln2.forward(conv3x3_same(&self.neck.conv2, x))
    }
}

impl<B: Backend> Block<B> {
    /// # Shapes
    /// - x: `[n, h, w, dim]` -> `[n, h, w, dim]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let shortcut = x.clone();
        let x = layer_norm(&self.norm1, x, self.ln_eps);
        let x = if self.window_size > 0 {
            let [_, h, w, _] = x.dims();
            let (windows, padded) = window_partition(x, self.window_size);
            let windows = self.attn.forward(windows);
            window_unpartition(windows, self.window_size, padded, [h, w])
        } else {
            self.attn.forward(x)
        };
        let x = shortcut + x;
        x.clone() + self.mlp.forward(layer_norm(&self.norm2, x, self.ln_eps))
    }
}

impl<B: Backend> Attention<B> {
    /// # Shapes
    /// - x: `[n, h, w, dim]` -> `[n, h, w, dim]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.forward_chunked(x, ATTN_CHUNK_BYTES)
    }

    /// `forward` with attention logits computed in chunks of about `chunk_bytes`.
    fn forward_chunked(&self, x: Tensor<B, 4>, chunk_bytes: usize) -> Tensor<B, 4> {
        let [n, h, w, dim] = x.dims();
        let heads = self.num_heads;
        let hd = dim / heads;
        let qkv = linear_flat(&self.qkv, x)
            .host_reshape([n, h * w, 3, heads, hd])
            .permute([2, 0, 3, 1, 4])
            .host_reshape([3, n * heads, h * w, hd]);
        let q = qkv
            .clone()
            .narrow(0, 0, 1)
            .host_reshape([n * heads, h * w, hd]);
        let k = qkv
            .clone()
            .narrow(0, 1, 1)
            .host_reshape([n * heads, h * w, hd]);
        let v = qkv.narrow(0, 2, 1).host_reshape([n * heads, h * w, hd]);
        let scale = (hd as f64).powf(-0.5);
        // Decomposed relative positions for every query, computed once: [n*heads, h, w, h|w].
        let rel = match (&self.rel_pos_h, &self.rel_pos_w) {
            (Some(rh), Some(rw)) => Some(rel_pos_terms(
                q.clone(),
                get_rel_pos(h, h, rh.val()),
                get_rel_pos(w, w, rw.val()),
                [h, w],
            )),
            _ => None,
        };
        let b = n * heads;
        // Keys transposed once into standard layout ([b * hd, hw] forces the copy), so chunks
        // slice a contiguous array instead of re-copying the transposed view per chunk.
        let kt = k
            .swap_dims(1, 2)
            .host_reshape([b * hd, h * w])
            .host_reshape([b, hd, h * w]);
        // Attention logits go in chunks of about ATTN_CHUNK_BYTES (cache-friendly, and not
        // n*heads*(hw)^2 floats at once: 805 MB in ViT-B): several heads/windows per chunk when
        // they fit, else one head and a block of query rows. Chunks run on parallel threads.
        // (ndarray's matmul copies its operands, so a chunk copies only its own head's K and V.)
        let per_batch = h * w * h * w * 4;
        let t = threads();
        let chunks: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> =
            if per_batch <= chunk_bytes {
                let gb = (chunk_bytes / per_batch).clamp(1, b.div_ceil(t).max(1));
                (0..b)
                    .step_by(gb)
                    .map(|b0| (b0..(b0 + gb).min(b), 0..h))
                    .collect()
            } else {
                let rows = (chunk_bytes / (w * h * w * 4)).clamp(1, h);
                (0..b)
                    .flat_map(|bi| {
                        (0..h)
                            .step_by(rows)
                            .map(move |y0| (bi..bi + 1, y0..(y0 + rows).min(h)))
                    })
                    .collect()
            };
        let mut outs = par_map(chunks, |(bs, ys)| {
            let (bc, r) = (bs.len(), ys.len());
            let qc = q.clone().slice([bs.clone(), ys.start * w..ys.end * w]);
            let kc = kt.clone().slice([bs.clone()]);
            let mut attn = matmul_batched(qc * scale, kc); // [bc, r*w, hw]
            if let Some((rel_h, rel_w)) = &rel {
                let attn5 = attn.host_reshape([bc, r, w, h, w])
                    + rel_h
                        .clone()
                        .slice([bs.clone(), ys.clone()])
                        .host_reshape([bc, r, w, h, 1])
                    + rel_w
                        .clone()
                        .slice([bs.clone(), ys.clone()])
                        .host_reshape([bc, r, w, 1, w]);
                attn = attn5.host_reshape([bc, r * w, h * w]);
            }
            let vc = v.clone().slice([bs]);
            (matmul_batched(softmax_last(attn, None), vc), r == h)
        });
        // Reassemble: chunks are ordered by batch, then by query rows.
        let mut per_b: Vec<Tensor<B, 3>> = Vec::new();
        let mut row_parts: Vec<Tensor<B, 3>> = Vec::new();
        for (o, full) in outs.drain(..) {
            if full {
                per_b.push(o);
            } else {
                row_parts.push(o);
                if row_parts.iter().map(|p| p.dims()[1]).sum::<usize>() == h * w {
                    per_b.push(Tensor::cat(std::mem::take(&mut row_parts), 1));
                }
            }
        }
        let attn = match per_b.len() {
            0 => None,
            1 => per_b.pop(),
            _ => Some(Tensor::cat(per_b, 0)),
        };
        let x = attn
            .unwrap_or_else(|| Tensor::zeros([n * heads, h * w, hd], &q.device()))
            .host_reshape([n, heads, h, w, hd])
            .permute([0, 2, 3, 1, 4])
            .host_reshape([n, h, w, dim]);
        linear_flat(&self.proj, x)
    }
}

/// Relative positions for every (query, key) pair, resizing the table linearly when its
/// length differs from `2 max(q, k) - 1` (a checkpoint trained at another resolution).
///
/// # Shapes
/// - rel_pos: `[len, c]` -> `[q_size, k_size, c]`
pub fn get_rel_pos<B: Backend>(
    q_size: usize,
    k_size: usize,
    rel_pos: Tensor<B, 2>,
) -> Tensor<B, 3> {
    let [len, c] = rel_pos.dims();
    let device = rel_pos.device();
    let max_rel = 2 * q_size.max(k_size) - 1;
    let table = if len != max_rel {
        let m = Tensor::<B, 2>::from_data(
            TensorData::new(linear_resize_matrix(len, max_rel), [max_rel, len]),
            &device,
        );
        m.matmul(rel_pos)
    } else {
        rel_pos
    };
    // Official arithmetic, in f32 like torch: q * max(k/q, 1) - k * max(q/k, 1) + (k-1) max(q/k, 1).
    let (qf, kf) = (q_size as f32, k_size as f32);
    let (sq, sk) = ((kf / qf).max(1.0), (qf / kf).max(1.0));
    let idx: Vec<i64> = (0..q_size)
        .flat_map(|qi| {
            (0..k_size).map(move |ki| (qi as f32 * sq - ki as f32 * sk + (kf - 1.0) * sk) as i64)
        })
        .collect();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [q_size * k_size]), &device);
    table.select(0, idx).host_reshape([q_size, k_size, c])
}

/// The decomposed relative-position terms `rel_h[b, y, x, ky] = q[b, y, x] . R_h[y, ky]` and
/// `rel_w[b, y, x, kx] = q[b, y, x] . R_w[x, kx]` (`add_decomposed_rel_pos` adds them to the
/// logits; here they are added chunk by chunk without materialising the 5-D sum).
///
/// # Shapes
/// - q: `[b, h*w, c]`, rh: `[h, h, c]`, rw: `[w, w, c]` -> `[b, h, w, h]`, `[b, h, w, w]`
fn rel_pos_terms<B: Backend>(
    q: Tensor<B, 3>,
    rh: Tensor<B, 3>,
    rw: Tensor<B, 3>,
    [h, w]: [usize; 2],
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let [b, _, c] = q.dims();
    let r_q = q.host_reshape([b, h, w, c]);
    // Batched over y: [h, b*w, c] @ [h, c, h].
    let rel_h = r_q
        .clone()
        .permute([1, 0, 2, 3])
        .host_reshape([h, b * w, c]);
    let rel_h = matmul_batched(rel_h, rh.swap_dims(1, 2))
        .host_reshape([h, b, w, h])
        .permute([1, 0, 2, 3]);
    // Batched over x: [w, b*h, c] @ [w, c, w].
    let rel_w = r_q.permute([2, 0, 1, 3]).host_reshape([w, b * h, c]);
    let rel_w = matmul_batched(rel_w, rw.swap_dims(1, 2))
        .host_reshape([w, b, h, w])
        .permute([1, 2, 0, 3]);
    (rel_h, rel_w)
}

/// Zero-pads `[n, h, w, c]` to multiples of `ws` and cuts it into `[n * windows, ws, ws, c]`.
pub(crate) fn window_partition<B: Backend>(
    x: Tensor<B, 4>,
    ws: usize,
) -> (Tensor<B, 4>, [usize; 2]) {
    let [n, h, w, c] = x.dims();
    let (ph, pw) = ((ws - h % ws) % ws, (ws - w % ws) % ws);
    let device = x.device();
    let mut x = x;
    if ph > 0 {
        x = Tensor::cat(vec![x, Tensor::zeros([n, ph, w, c], &device)], 1);
    }
    if pw > 0 {
        x = Tensor::cat(vec![x, Tensor::zeros([n, h + ph, pw, c], &device)], 2);
    }
    let (hp, wp) = (h + ph, w + pw);
    let windows = x
        .host_reshape([n, hp / ws, ws, wp / ws, ws, c])
        .permute([0, 1, 3, 2, 4, 5])
        .host_reshape([n * (hp / ws) * (wp / ws), ws, ws, c]);
    (windows, [hp, wp])
}

/// Inverse of `window_partition`, dropping the padding.
pub(crate) fn window_unpartition<B: Backend>(
    windows: Tensor<B, 4>,
    ws: usize,
    [hp, wp]: [usize; 2],
    [h, w]: [usize; 2],
) -> Tensor<B, 4> {
    let c = windows.dims()[3];
    let n = windows.dims()[0] / ((hp / ws) * (wp / ws));
    let x = windows
        .host_reshape([n, hp / ws, wp / ws, ws, ws, c])
        .permute([0, 1, 3, 2, 4, 5])
        .host_reshape([n, hp, wp, c]);
    if hp > h || wp > w {
        x.slice([0..n, 0..h, 0..w, 0..c])
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::Distribution;

    type B = NdArray<f32>;

    /// A global-attention layer with random weights, including the relative-position tables.
    fn random_attention(dim: usize, heads: usize, side: usize) -> Attention<B> {
        let device = Default::default();
        let mut c = SamConfig::tiny();
        c.encoder_embed_dim = dim;
        c.encoder_num_heads = heads;
        let mut a = ImageEncoderViT::<B>::new(&c, &device).blocks.remove(1).attn;
        let rnd = |shape: [usize; 2]| {
            Param::from_tensor(Tensor::random(
                shape,
                Distribution::Normal(0.0, 0.5),
                &device,
            ))
        };
        a.rel_pos_h = Some(rnd([2 * side - 1, dim / heads]));
        a.rel_pos_w = Some(rnd([2 * side - 1, dim / heads]));
        a
    }

    #[test]
    fn chunked_attention_equals_unchunked_for_every_chunk_shape() {
        let device = Default::default();
        let (side, dim, heads) = (12, 16, 2);
        let attn = random_attention(dim, heads, side);
        let x = Tensor::<B, 4>::random(
            [2, side, side, dim],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let whole = attn
            .forward_chunked(x.clone(), usize::MAX)
            .into_data()
            .to_vec::<f32>()
            .expect("f32");
        let per_head_logits = side * side * side * side * 4;
        // Several heads per chunk, one head per chunk, and blocks of 1, 5 and all query rows.
        for budget in [
            per_head_logits * 3,
            per_head_logits,
            side * side * side * 4 * 5,
            1,
        ] {
            let chunked = attn
                .forward_chunked(x.clone(), budget)
                .into_data()
                .to_vec::<f32>()
                .expect("f32");
            let max = whole
                .iter()
                .zip(&chunked)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(max < 1e-5, "budget {budget}: max diff {max}");
        }
    }
}
