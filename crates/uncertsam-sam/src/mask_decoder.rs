//! The SAM v1 mask decoder (`segment_anything/modeling/mask_decoder.py`): output tokens,
//! two-way transformer, upscaling, hypernetwork MLPs and the IoU head.

use burn::module::Module;
use burn::nn::conv::{ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::host::{HostReshape, gelu, matmul_batched};

use crate::common::{LayerNorm2d, Mlp};
use crate::config::SamConfig;
use crate::conv::{conv_transpose_2x2, linear_flat};
use crate::noise::{DecoderSite, NoiseHook};
use crate::transformer::TwoWayTransformer;

/// Upscaling of the image tokens: transposed conv, LN2d, GELU, transposed conv, GELU
/// (`output_upscaling.0`, `.1`, `.3`).
#[derive(Module, Debug)]
pub struct OutputUpscaling<B: Backend> {
    /// `.0`: `ConvTranspose2d(dim, dim / 4, k = s = 2)`.
    pub conv1: ConvTranspose2d<B>,
    /// `.1`.
    pub ln: LayerNorm2d<B>,
    /// `.3`: `ConvTranspose2d(dim / 4, dim / 8, k = s = 2)`.
    pub conv2: ConvTranspose2d<B>,
}

/// Everything one decoder pass produces, for all mask tokens.
#[derive(Clone, Debug)]
pub struct DecoderOutput<B: Backend> {
    /// Low-resolution logits of every mask token, `[b, 1 + multimask, 4E, 4E]`.
    pub masks: Tensor<B, 4>,
    /// IoU predictions of every mask token, `[b, 1 + multimask]`.
    pub iou_predictions: Tensor<B, 2>,
    /// Input of the last Linear of the token-0 hypernetwork MLP, `[b, dim]`.
    pub token0_hidden: Tensor<B, 2>,
    /// The upscaled image embedding the hypernetwork outputs are dotted with, `[b, dim / 8, 4E, 4E]`.
    pub upscaled_embedding: Tensor<B, 4>,
}

/// The mask decoder.
#[derive(Module, Debug)]
pub struct MaskDecoder<B: Backend> {
    /// The two-way transformer.
    pub transformer: TwoWayTransformer<B>,
    /// IoU output token.
    pub iou_token: Embedding<B>,
    /// Mask output tokens (single-mask token first).
    pub mask_tokens: Embedding<B>,
    /// Upscaling of the image tokens.
    pub output_upscaling: OutputUpscaling<B>,
    /// One hypernetwork MLP per mask token.
    pub output_hypernetworks_mlps: Vec<Mlp<B>>,
    /// IoU prediction head.
    pub iou_prediction_head: Mlp<B>,
    num_mask_tokens: usize,
}

impl<B: Backend> MaskDecoder<B> {
    /// A mask decoder with default-initialised weights for the geometry of `c`.
    pub fn new(c: &SamConfig, device: &B::Device) -> Self {
        let d = c.prompt_embed_dim;
        let n = c.num_multimask_outputs + 1;
        let convt = |i: usize, o: usize| {
            ConvTranspose2dConfig::new([i, o], [2, 2])
                .with_stride([2, 2])
                .init(device)
        };
        Self {
            transformer: TwoWayTransformer::new(
                c.decoder_transformer_depth,
                d,
                c.decoder_transformer_num_heads,
                c.decoder_transformer_mlp_dim,
                c.decoder_attention_downsample_rate,
                device,
            ),
            iou_token: EmbeddingConfig::new(1, d).init(device),
            mask_tokens: EmbeddingConfig::new(n, d).init(device),
            output_upscaling: OutputUpscaling {
                conv1: convt(d, d / 4),
                ln: LayerNorm2d::new(d / 4, 1e-6, device),
                conv2: convt(d / 4, d / 8),
            },
            output_hypernetworks_mlps: (0..n).map(|_| Mlp::new(d, d, d / 8, 3, device)).collect(),
            iou_prediction_head: Mlp::new(d, c.iou_head_hidden_dim, n, c.iou_head_depth, device),
            num_mask_tokens: n,
        }
    }

    /// Number of mask tokens (multimask outputs + 1).
    pub fn num_mask_tokens(&self) -> usize {
        self.num_mask_tokens
    }

    /// Predicts masks for `b` prompts against one image embedding (`predict_masks`).
    ///
    /// With one image embedding and a dense prompt shared by all `b` prompts (batch 1, as
    /// `PromptEncoder::forward_shared` gives without mask prompts), the two-way transformer's
    /// first image-side projections run once for the whole batch (same values as with `b`
    /// copies).
    ///
    /// # Shapes
    /// - image_embeddings, image_pe: `[1, dim, E, E]` (or `[b, ...]`)
    /// - sparse: `[b, n, dim]`, dense: `[b, dim, E, E]` or `[1, dim, E, E]`
    pub fn predict_masks(
        &self,
        image_embeddings: Tensor<B, 4>,
        image_pe: Tensor<B, 4>,
        sparse: Option<Tensor<B, 3>>,
        dense: Tensor<B, 4>,
        hook: &mut dyn NoiseHook<B>,
    ) -> DecoderOutput<B> {
        let [bd, d, eh, ew] = dense.dims();
        let b = sparse.as_ref().map_or(bd, |s| s.dims()[0].max(bd));
        let n = self.num_mask_tokens;
        let output_tokens = Tensor::cat(
            vec![self.iou_token.weight.val(), self.mask_tokens.weight.val()],
            0,
        )
        .unsqueeze::<3>()
        .expand([b, 1 + n, d]);
        let tokens = match sparse {
            Some(s) => Tensor::cat(vec![output_tokens, s], 1),
            None => output_tokens,
        };
        let src = image_embeddings + dense; // [b or 1, d, eh, ew]
        let (hs, src) = self.transformer.forward(src, image_pe, tokens, hook);
        let iou_token_out = hs.clone().slice([0..b, 0..1]).host_reshape([b, d]);
        let src = src.swap_dims(1, 2).host_reshape([b, d, eh, ew]);
        let up = &self.output_upscaling;
        let upscaled = gelu(up.ln.forward(conv_transpose_2x2(&up.conv1, src)));
        let upscaled = gelu(conv_transpose_2x2(&up.conv2, upscaled)); // [b, d/8, 4E, 4E]
        let [_, c8, uh, uw] = upscaled.dims();

        let mut hyper = Vec::with_capacity(n);
        let mut token0_hidden = None;
        for (i, mlp) in self.output_hypernetworks_mlps.iter().enumerate() {
            let mut x = hs.clone().slice([0..b, 1 + i..2 + i]); // [b, 1, d]
            let last = mlp.layers.len().saturating_sub(1);
            for (l, layer) in mlp.layers[..last].iter().enumerate() {
                x = hook.apply(
                    DecoderSite::Hypernetwork { token: i, layer: l },
                    relu(layer.forward(x)),
                );
            }
            if i == 0 {
                token0_hidden = Some(x.clone().host_reshape([b, x.dims()[2]]));
            }
            hyper.push(linear_flat(&mlp.layers[last], x)); // [b, 1, d/8]
        }
        let hyper_in = Tensor::cat(hyper, 1); // [b, n, d/8]
        let masks = matmul_batched(hyper_in, upscaled.clone().host_reshape([b, c8, uh * uw]))
            .host_reshape([b, n, uh, uw]);
        let iou_predictions = self.iou_prediction_head.forward(iou_token_out);
        DecoderOutput {
            masks,
            iou_predictions,
            token0_hidden: token0_hidden.unwrap_or_else(|| Tensor::zeros([b, d], &hs.device())),
            upscaled_embedding: upscaled,
        }
    }
}
