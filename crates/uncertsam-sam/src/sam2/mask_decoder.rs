//! The SAM 2 mask decoder (`sam2/modeling/sam/mask_decoder.py`) in image mode: an extra
//! object-score token, high-resolution features added inside the upscaling, a sigmoid IoU head,
//! an object-score MLP, and the dynamic multimask choice via stability.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2dConfig};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};

use crate::host::{HostReshape, gelu, matmul_batched};

use crate::common::{LayerNorm2d, Mlp};
use crate::conv::{conv_patchify, conv_transpose_2x2, linear_flat};
use crate::mask_decoder::{DecoderOutput, OutputUpscaling};
use crate::noise::{DecoderSite, NoiseHook};
use crate::sam2::transformer::TwoWayTransformer;

/// `(official prefix, model prefix)` renames of the upscaling `Sequential`.
pub const OUTPUT_UPSCALING_RENAMES: [(&str, &str); 3] = [
    (
        "sam_mask_decoder.output_upscaling.0.",
        "sam_mask_decoder.output_upscaling.conv1.",
    ),
    (
        "sam_mask_decoder.output_upscaling.1.",
        "sam_mask_decoder.output_upscaling.ln.",
    ),
    (
        "sam_mask_decoder.output_upscaling.3.",
        "sam_mask_decoder.output_upscaling.conv2.",
    ),
];

/// The SAM 2 mask decoder (`pred_obj_scores`, `pred_obj_scores_mlp`,
/// `iou_prediction_use_sigmoid` and `use_high_res_features` all on, as in every official
/// config).
#[derive(Module, Debug)]
pub struct MaskDecoder<B: Backend> {
    /// The two-way transformer.
    pub transformer: TwoWayTransformer<B>,
    /// IoU output token.
    pub iou_token: Embedding<B>,
    /// Mask output tokens (single-mask token first).
    pub mask_tokens: Embedding<B>,
    /// Object-score output token (first of all tokens).
    pub obj_score_token: Embedding<B>,
    /// Upscaling; the high-res features are added after each transposed convolution.
    pub output_upscaling: OutputUpscaling<B>,
    /// 1x1 projection of the finest FPN level, `dim -> dim / 8` (used by the image path).
    pub conv_s0: Conv2d<B>,
    /// 1x1 projection of the second FPN level, `dim -> dim / 4`.
    pub conv_s1: Conv2d<B>,
    /// One hypernetwork MLP per mask token.
    pub output_hypernetworks_mlps: Vec<Mlp<B>>,
    /// IoU head (sigmoid on its output).
    pub iou_prediction_head: Mlp<B>,
    /// Object-score head, `dim -> dim -> dim -> 1`.
    pub pred_obj_score_head: Mlp<B>,
}

/// Everything one SAM 2 decoder pass produces, before the output choice.
#[derive(Clone, Debug)]
pub struct Sam2DecoderOutput<B: Backend> {
    /// Logits, IoU (after sigmoid), token-0 hidden features and upscaled embedding of every mask
    /// token, as SAM v1's decoder reports them.
    pub all: DecoderOutput<B>,
    /// Object-score logits, `[b, 1]`.
    pub object_score_logits: Tensor<B, 2>,
}

impl<B: Backend> MaskDecoder<B> {
    /// The official SAM 2 heads for width `d`: 2 blocks, MLP 2048, 8 heads, 3 + 1 mask tokens,
    /// IoU head 256 x 3.
    pub fn new(d: usize, device: &B::Device) -> Self {
        let n = 4;
        let convt = |i: usize, o: usize| {
            ConvTranspose2dConfig::new([i, o], [2, 2])
                .with_stride([2, 2])
                .init(device)
        };
        Self {
            transformer: TwoWayTransformer::new(2, d, 8, 2048, 2, device),
            iou_token: EmbeddingConfig::new(1, d).init(device),
            mask_tokens: EmbeddingConfig::new(n, d).init(device),
            obj_score_token: EmbeddingConfig::new(1, d).init(device),
            output_upscaling: OutputUpscaling {
                conv1: convt(d, d / 4),
                ln: LayerNorm2d::new(d / 4, 1e-6, device),
                conv2: convt(d / 4, d / 8),
            },
            conv_s0: Conv2dConfig::new([d, d / 8], [1, 1]).init(device),
            conv_s1: Conv2dConfig::new([d, d / 4], [1, 1]).init(device),
            output_hypernetworks_mlps: (0..n).map(|_| Mlp::new(d, d, d / 8, 3, device)).collect(),
            iou_prediction_head: Mlp::new(d, 256, n, 3, device),
            pred_obj_score_head: Mlp::new(d, d, 1, 3, device),
        }
    }

    /// The high-res features of the image path: `conv_s0` and `conv_s1` of FPN levels 0 and 1.
    ///
    /// # Shapes
    /// - level0: `[n, dim, 4E, 4E]`, level1: `[n, dim, 2E, 2E]`
    /// - -> `[n, dim / 8, 4E, 4E]`, `[n, dim / 4, 2E, 2E]`
    pub fn high_res_features(
        &self,
        level0: Tensor<B, 4>,
        level1: Tensor<B, 4>,
    ) -> [Tensor<B, 4>; 2] {
        [
            conv_patchify(&self.conv_s0, level0),
            conv_patchify(&self.conv_s1, level1),
        ]
    }

    /// The two-way transformer's outputs for `b` prompts: every token (object score, IoU, then
    /// the mask tokens, then the sparse prompt) and the image tokens.
    ///
    /// # Shapes
    /// - as [`MaskDecoder::predict_masks`] -> hs `[b, 2 + n + s, dim]`, src `[b, dim, E, E]`
    pub fn transformer_outputs(
        &self,
        image_embeddings: Tensor<B, 4>,
        image_pe: Tensor<B, 4>,
        sparse: Option<Tensor<B, 3>>,
        dense: Tensor<B, 4>,
        hook: &mut dyn NoiseHook<B>,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let [bd, d, eh, ew] = dense.dims();
        let b = sparse.as_ref().map_or(bd, |s| s.dims()[0].max(bd));
        let n = self.output_hypernetworks_mlps.len();
        let output_tokens = Tensor::cat(
            vec![
                self.obj_score_token.weight.val(),
                self.iou_token.weight.val(),
                self.mask_tokens.weight.val(),
            ],
            0,
        )
        .unsqueeze::<3>()
        .expand([b, 2 + n, d]);
        let tokens = match sparse {
            Some(s) => Tensor::cat(vec![output_tokens, s], 1),
            None => output_tokens,
        };
        // One image and a shared dense prompt stay at batch 1: the transformer's first block
        // then projects the image once for all `b` prompts (SAM v1's `MaskDecoder::predict_masks`).
        let src = image_embeddings + dense; // [b or 1, d, eh, ew]
        let (hs, src) = self.transformer.forward(src, image_pe, tokens, hook);
        (hs, src.swap_dims(1, 2).host_reshape([b, d, eh, ew]))
    }

    /// `predict_masks` for `b` prompts against one image.
    ///
    /// # Shapes
    /// - image_embeddings, image_pe: `[1, dim, E, E]`; high_res: `[1, dim / 8, 4E, 4E]`,
    ///   `[1, dim / 4, 2E, 2E]`; sparse: `[b, n, dim]`; dense: `[b, dim, E, E]` or, shared by
    ///   every prompt, `[1, dim, E, E]`
    pub fn predict_masks(
        &self,
        image_embeddings: Tensor<B, 4>,
        image_pe: Tensor<B, 4>,
        sparse: Option<Tensor<B, 3>>,
        dense: Tensor<B, 4>,
        high_res: &[Tensor<B, 4>; 2],
        hook: &mut dyn NoiseHook<B>,
    ) -> Sam2DecoderOutput<B> {
        let n = self.output_hypernetworks_mlps.len();
        let (hs, src) = self.transformer_outputs(image_embeddings, image_pe, sparse, dense, hook);
        let [b, d, _, _] = src.dims();
        let token = |i: usize| hs.clone().slice([0..b, i..i + 1]).host_reshape([b, d]);
        let up = &self.output_upscaling;
        let [s0, s1] = high_res;
        let expand = |t: &Tensor<B, 4>| {
            let [_, c, h, w] = t.dims();
            t.clone().expand([b, c, h, w])
        };
        let upscaled = gelu(
            up.ln
                .forward(conv_transpose_2x2(&up.conv1, src) + expand(s1)),
        );
        let upscaled = gelu(conv_transpose_2x2(&up.conv2, upscaled) + expand(s0));
        let [_, c8, uh, uw] = upscaled.dims();

        let mut hyper = Vec::with_capacity(n);
        let mut token0_hidden = None;
        for (i, mlp) in self.output_hypernetworks_mlps.iter().enumerate() {
            let mut x = hs.clone().slice([0..b, 2 + i..3 + i]); // [b, 1, d]
            let last = mlp.layers.len().saturating_sub(1);
            for (l, layer) in mlp.layers[..last].iter().enumerate() {
                x = hook.apply(
                    DecoderSite::Hypernetwork { token: i, layer: l },
                    relu(linear_flat(layer, x)),
                );
            }
            if i == 0 {
                token0_hidden = Some(x.clone().host_reshape([b, x.dims()[2]]));
            }
            hyper.push(linear_flat(&mlp.layers[last], x));
        }
        let masks = matmul_batched(
            Tensor::cat(hyper, 1),
            upscaled.clone().host_reshape([b, c8, uh * uw]),
        )
        .host_reshape([b, n, uh, uw]);
        let iou_predictions = sigmoid(self.iou_prediction_head.forward(token(1)));
        let object_score_logits = self.pred_obj_score_head.forward(token(0));
        Sam2DecoderOutput {
            all: DecoderOutput {
                masks,
                iou_predictions,
                token0_hidden: token0_hidden.unwrap_or_else(|| Tensor::zeros([b, d], &hs.device())),
                upscaled_embedding: upscaled,
            },
            object_score_logits,
        }
    }
}

/// `_get_stability_scores`: `|logits > delta| / |logits > -delta|` per mask (1 when empty).
///
/// # Shapes
/// - logits: `[b, m, h, w]` -> `[b, m]`
pub fn stability_scores<B: Backend>(logits: Tensor<B, 4>, delta: f32) -> Tensor<B, 2> {
    let [b, m, h, w] = logits.dims();
    let flat = logits.host_reshape([b, m, h * w]);
    let area_i = flat
        .clone()
        .greater_elem(delta)
        .float()
        .sum_dim(2)
        .host_reshape([b, m]);
    let area_u = flat
        .greater_elem(-delta)
        .float()
        .sum_dim(2)
        .host_reshape([b, m]);
    let empty = area_u.clone().lower_equal_elem(0.0);
    (area_i / area_u.clamp_min(1.0)).mask_fill(empty, 1.0)
}
