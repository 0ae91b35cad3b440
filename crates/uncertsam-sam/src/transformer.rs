//! The two-way transformer of the mask decoder (`segment_anything/modeling/transformer.py`).

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;

use crate::common::{MlpBlock, linear};
use crate::conv::linear_flat;
use crate::host::{HostReshape, layer_norm, matmul_batched, softmax_last};
use crate::noise::{DecoderSite, NoiseHook};

/// The epsilon of the transformer's LayerNorms (PyTorch's default).
const LN_EPS: f64 = 1e-5;

/// Attention with optional channel downsampling of queries, keys and values.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Query projection, `dim -> dim / downsample`.
    pub q_proj: Linear<B>,
    /// Key projection.
    pub k_proj: Linear<B>,
    /// Value projection.
    pub v_proj: Linear<B>,
    /// Output projection, `dim / downsample -> dim`.
    pub out_proj: Linear<B>,
    num_heads: usize,
}

impl<B: Backend> Attention<B> {
    fn new(dim: usize, heads: usize, downsample: usize, device: &B::Device) -> Self {
        let inner = dim / downsample;
        Self {
            q_proj: linear(dim, inner, true, device),
            k_proj: linear(dim, inner, true, device),
            v_proj: linear(dim, inner, true, device),
            out_proj: linear(inner, dim, true, device),
            num_heads: heads,
        }
    }

    /// # Shapes
    /// - q: `[b, nq, dim]`, k and v: `[b, nk, dim]` -> `[b, nq, dim]`; either side may have
    ///   batch 1 (shared by every item of the other side's batch)
    pub fn forward(&self, q: Tensor<B, 3>, k: Tensor<B, 3>, v: Tensor<B, 3>) -> Tensor<B, 3> {
        let split = |x: Tensor<B, 3>| {
            let [b, n, c] = x.dims();
            x.host_reshape([b, n, self.num_heads, c / self.num_heads])
                .swap_dims(1, 2)
        };
        let q = split(linear_flat(&self.q_proj, q));
        let k = split(linear_flat(&self.k_proj, k));
        let v = split(linear_flat(&self.v_proj, v));
        let c = q.dims()[3];
        let attn = matmul_batched(q, k.swap_dims(2, 3)) / (c as f64).sqrt();
        // The batch is the broadcast of q's and k's (one side may be a shared `[1, ...]`).
        let out = matmul_batched(softmax_last(attn, None), v);
        let [b, h, nq, c] = out.dims();
        let out = out.swap_dims(1, 2).host_reshape([b, nq, h * c]);
        linear_flat(&self.out_proj, out)
    }
}

/// One block: token self-attention, token-to-image cross-attention, MLP, image-to-token
/// cross-attention.
#[derive(Module, Debug)]
pub struct TwoWayAttentionBlock<B: Backend> {
    /// Token self-attention.
    pub self_attn: Attention<B>,
    /// LayerNorm after self-attention.
    pub norm1: LayerNorm<B>,
    /// Tokens attending to the image.
    pub cross_attn_token_to_image: Attention<B>,
    /// LayerNorm after token-to-image attention.
    pub norm2: LayerNorm<B>,
    /// ReLU MLP on the tokens.
    pub mlp: MlpBlock<B>,
    /// LayerNorm after the MLP.
    pub norm3: LayerNorm<B>,
    /// LayerNorm of the image after image-to-token attention.
    pub norm4: LayerNorm<B>,
    /// Image attending to the tokens.
    pub cross_attn_image_to_token: Attention<B>,
    skip_first_layer_pe: bool,
}

/// The two-way transformer.
#[derive(Module, Debug)]
pub struct TwoWayTransformer<B: Backend> {
    /// The attention blocks.
    pub layers: Vec<TwoWayAttentionBlock<B>>,
    /// Final token-to-image attention.
    pub final_attn_token_to_image: Attention<B>,
    /// Final LayerNorm of the tokens.
    pub norm_final_attn: LayerNorm<B>,
}

impl<B: Backend> TwoWayTransformer<B> {
    /// A transformer of `depth` blocks (LayerNorm eps 1e-5, ReLU MLP).
    pub fn new(
        depth: usize,
        dim: usize,
        heads: usize,
        mlp_dim: usize,
        downsample: usize,
        device: &B::Device,
    ) -> Self {
        let ln = || LayerNormConfig::new(dim).with_epsilon(LN_EPS).init(device);
        let layers = (0..depth)
            .map(|i| TwoWayAttentionBlock {
                self_attn: Attention::new(dim, heads, 1, device),
                norm1: ln(),
                cross_attn_token_to_image: Attention::new(dim, heads, downsample, device),
                norm2: ln(),
                mlp: MlpBlock::new(dim, mlp_dim, false, device),
                norm3: ln(),
                norm4: ln(),
                cross_attn_image_to_token: Attention::new(dim, heads, downsample, device),
                skip_first_layer_pe: i == 0,
            })
            .collect();
        Self {
            layers,
            final_attn_token_to_image: Attention::new(dim, heads, downsample, device),
            norm_final_attn: ln(),
        }
    }

    /// Runs the transformer; `hook` may perturb the attention outputs and MLP hidden layers.
    ///
    /// The image and its positional encoding may have batch 1 (one image for all `b` prompt
    /// sets): the first block's image-side projections are then computed once and broadcast,
    /// until its image-to-token attention makes the image tokens differ per prompt set. Every
    /// value is the same as with the image expanded to `b` (same rows, same sums).
    ///
    /// # Shapes
    /// - image: `[b or 1, c, h, w]`, image_pe: `[b or 1, c, h, w]`, tokens: `[b, n, c]`
    /// - -> tokens `[b, n, c]`, image `[b, h*w, c]`
    pub fn forward(
        &self,
        image: Tensor<B, 4>,
        image_pe: Tensor<B, 4>,
        tokens: Tensor<B, 3>,
        hook: &mut dyn NoiseHook<B>,
    ) -> (Tensor<B, 3>, Tensor<B, 3>) {
        // Channels-last in standard layout: every attention adds `key_pe` to the keys.
        let flat = crate::host_layout::channels_last;
        let key_pe = flat(image_pe);
        let mut keys = flat(image);
        let mut queries = tokens.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            (queries, keys) = layer.forward(queries, keys, tokens.clone(), key_pe.clone(), i, hook);
        }
        let q = queries.clone() + tokens;
        let k = keys.clone() + key_pe;
        let attn = self.final_attn_token_to_image.forward(q, k, keys.clone());
        let attn = hook.apply(DecoderSite::FinalTokenToImage, attn);
        let queries = layer_norm(&self.norm_final_attn, queries + attn, LN_EPS);
        let [b, n_img, c] = [queries.dims()[0], keys.dims()[1], keys.dims()[2]];
        (queries, keys.expand([b, n_img, c]))
    }
}

impl<B: Backend> TwoWayAttentionBlock<B> {
    fn forward(
        &self,
        queries: Tensor<B, 3>,
        keys: Tensor<B, 3>,
        query_pe: Tensor<B, 3>,
        key_pe: Tensor<B, 3>,
        layer: usize,
        hook: &mut dyn NoiseHook<B>,
    ) -> (Tensor<B, 3>, Tensor<B, 3>) {
        let queries = if self.skip_first_layer_pe {
            self.self_attn
                .forward(queries.clone(), queries.clone(), queries)
        } else {
            let q = queries.clone() + query_pe.clone();
            let attn = self.self_attn.forward(q.clone(), q, queries.clone());
            queries + hook.apply(DecoderSite::SelfAttention(layer), attn)
        };
        let queries = layer_norm(&self.norm1, queries, LN_EPS);

        let q = queries.clone() + query_pe.clone();
        let k = keys.clone() + key_pe.clone();
        let attn = self.cross_attn_token_to_image.forward(q, k, keys.clone());
        let queries = layer_norm(
            &self.norm2,
            queries + hook.apply(DecoderSite::TokenToImage(layer), attn),
            LN_EPS,
        );

        let mlp = self.mlp.forward_with(queries.clone(), &mut |h| {
            hook.apply(DecoderSite::TransformerMlp(layer), h)
        });
        let queries = layer_norm(&self.norm3, queries + mlp, LN_EPS);

        let q = queries.clone() + query_pe;
        let k = keys.clone() + key_pe;
        let attn = self
            .cross_attn_image_to_token
            .forward(k, q, queries.clone());
        let keys = layer_norm(
            &self.norm4,
            keys + hook.apply(DecoderSite::ImageToToken(layer), attn),
            LN_EPS,
        );
        (queries, keys)
    }
}
