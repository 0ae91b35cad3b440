//! `SamConfig`: the geometry of a SAM v1 model, with the official presets.
//!
//! Field names are the official builder arguments, as in `docs/parity-fixture-format.md`, so a
//! fixture's `config.json` deserialises straight into it (extra keys are ignored).

use serde::{Deserialize, Serialize};

/// Geometry of a SAM v1 model (ViT image encoder, prompt encoder, two-way mask decoder).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamConfig {
    /// Side of the square model input (1024 for the official models).
    pub img_size: usize,
    /// Patch side of the ViT patch embedding.
    pub patch_size: usize,
    /// Input image channels.
    #[serde(default = "default_in_chans")]
    pub in_chans: usize,
    /// ViT width.
    pub encoder_embed_dim: usize,
    /// Number of ViT blocks.
    pub encoder_depth: usize,
    /// Attention heads per ViT block.
    pub encoder_num_heads: usize,
    /// Indexes of the blocks that use global attention; the others use windows.
    pub encoder_global_attn_indexes: Vec<usize>,
    /// Window side of the windowed-attention blocks.
    pub encoder_window_size: usize,
    /// MLP hidden width as a multiple of the ViT width.
    #[serde(default = "default_mlp_ratio")]
    pub encoder_mlp_ratio: f64,
    /// Whether the qkv projection has a bias.
    #[serde(default = "yes")]
    pub encoder_qkv_bias: bool,
    /// Whether attention adds decomposed relative positions.
    #[serde(default = "yes")]
    pub encoder_use_rel_pos: bool,
    /// LayerNorm epsilon of the ViT blocks and the neck.
    #[serde(default = "default_vit_eps")]
    pub encoder_layernorm_eps: f64,
    /// Width of prompt embeddings, of the neck output and of the mask decoder.
    pub prompt_embed_dim: usize,
    /// Side of the image embedding grid, `[img_size / patch_size; 2]`.
    pub image_embedding_size: [usize; 2],
    /// Hidden channels of the mask-prompt downscaling.
    pub mask_in_chans: usize,
    /// Number of two-way attention blocks.
    pub decoder_transformer_depth: usize,
    /// MLP width inside the two-way transformer.
    pub decoder_transformer_mlp_dim: usize,
    /// Attention heads inside the two-way transformer.
    pub decoder_transformer_num_heads: usize,
    /// Channel downsampling of the cross-attentions.
    #[serde(default = "default_downsample")]
    pub decoder_attention_downsample_rate: usize,
    /// Number of multimask outputs (the single-mask token comes on top).
    pub num_multimask_outputs: usize,
    /// Layers of the IoU prediction head.
    pub iou_head_depth: usize,
    /// Hidden width of the IoU prediction head.
    pub iou_head_hidden_dim: usize,
    /// Per-channel mean on the 0-255 scale.
    #[serde(default = "default_mean")]
    pub pixel_mean: [f32; 3],
    /// Per-channel standard deviation on the 0-255 scale.
    #[serde(default = "default_std")]
    pub pixel_std: [f32; 3],
    /// Logit threshold that turns logits into a binary mask.
    #[serde(default)]
    pub mask_threshold: f32,
}

fn default_in_chans() -> usize {
    3
}
fn default_mlp_ratio() -> f64 {
    4.0
}
fn yes() -> bool {
    true
}
fn default_vit_eps() -> f64 {
    1e-6
}
fn default_downsample() -> usize {
    2
}
fn default_mean() -> [f32; 3] {
    [123.675, 116.28, 103.53]
}
fn default_std() -> [f32; 3] {
    [58.395, 57.12, 57.375]
}

impl SamConfig {
    /// The official geometry around a ViT of the given size (`_build_sam` in segment-anything).
    fn official(embed_dim: usize, depth: usize, heads: usize, global: [usize; 4]) -> Self {
        Self {
            img_size: 1024,
            patch_size: 16,
            in_chans: 3,
            encoder_embed_dim: embed_dim,
            encoder_depth: depth,
            encoder_num_heads: heads,
            encoder_global_attn_indexes: global.to_vec(),
            encoder_window_size: 14,
            encoder_mlp_ratio: 4.0,
            encoder_qkv_bias: true,
            encoder_use_rel_pos: true,
            encoder_layernorm_eps: 1e-6,
            prompt_embed_dim: 256,
            image_embedding_size: [64, 64],
            mask_in_chans: 16,
            decoder_transformer_depth: 2,
            decoder_transformer_mlp_dim: 2048,
            decoder_transformer_num_heads: 8,
            decoder_attention_downsample_rate: 2,
            num_multimask_outputs: 3,
            iou_head_depth: 3,
            iou_head_hidden_dim: 256,
            pixel_mean: default_mean(),
            pixel_std: default_std(),
            mask_threshold: 0.0,
        }
    }

    /// SAM ViT-B (`sam_vit_b_01ec64.pth`).
    pub fn vit_b() -> Self {
        Self::official(768, 12, 12, [2, 5, 8, 11])
    }

    /// SAM ViT-L (`sam_vit_l_0b3195.pth`).
    pub fn vit_l() -> Self {
        Self::official(1024, 24, 16, [5, 11, 17, 23])
    }

    /// SAM ViT-H (`sam_vit_h_4b8939.pth`).
    pub fn vit_h() -> Self {
        Self::official(1280, 32, 16, [7, 15, 23, 31])
    }

    /// A tiny, fully consistent SAM (256 px input, width 32) for tests and the embedded default.
    pub fn tiny() -> Self {
        Self {
            img_size: 256,
            encoder_embed_dim: 32,
            encoder_depth: 2,
            encoder_num_heads: 2,
            encoder_global_attn_indexes: vec![1],
            encoder_window_size: 7,
            prompt_embed_dim: 32,
            image_embedding_size: [16, 16],
            decoder_transformer_mlp_dim: 64,
            decoder_transformer_num_heads: 4,
            iou_head_hidden_dim: 32,
            ..Self::official(32, 2, 2, [1, 1, 1, 1])
        }
    }

    /// A preset by name: `vit_b`, `vit_l`, `vit_h` or `tiny`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "vit_b" => Some(Self::vit_b()),
            "vit_l" => Some(Self::vit_l()),
            "vit_h" => Some(Self::vit_h()),
            "tiny" => Some(Self::tiny()),
            _ => None,
        }
    }

    /// Side of the low-resolution mask logits (4x the embedding grid).
    pub fn low_res_size(&self) -> [usize; 2] {
        [
            4 * self.image_embedding_size[0],
            4 * self.image_embedding_size[1],
        ]
    }

    /// Checks the internal consistency of the geometry; returns a message naming the fields.
    pub fn validate(&self) -> Result<(), String> {
        let grid = self.img_size / self.patch_size.max(1);
        let checks = [
            (self.patch_size == 0, "patch_size must be > 0".to_string()),
            (
                self.img_size % self.patch_size.max(1) != 0,
                format!(
                    "img_size {} is not a multiple of patch_size {}",
                    self.img_size, self.patch_size
                ),
            ),
            (
                self.image_embedding_size != [grid, grid],
                format!(
                    "image_embedding_size {:?} != img_size / patch_size = [{grid}, {grid}]",
                    self.image_embedding_size
                ),
            ),
            (
                self.encoder_num_heads == 0 || self.encoder_embed_dim % self.encoder_num_heads != 0,
                format!(
                    "encoder_embed_dim {} is not divisible by encoder_num_heads {}",
                    self.encoder_embed_dim, self.encoder_num_heads
                ),
            ),
            (
                self.decoder_transformer_num_heads == 0
                    || (self.prompt_embed_dim / self.decoder_attention_downsample_rate.max(1))
                        % self.decoder_transformer_num_heads
                        != 0,
                format!(
                    "prompt_embed_dim {} / downsample {} is not divisible by decoder heads {}",
                    self.prompt_embed_dim,
                    self.decoder_attention_downsample_rate,
                    self.decoder_transformer_num_heads
                ),
            ),
            (
                self.prompt_embed_dim % 8 != 0 || self.mask_in_chans % 4 != 0,
                format!(
                    "prompt_embed_dim {} must be a multiple of 8 and mask_in_chans {} of 4",
                    self.prompt_embed_dim, self.mask_in_chans
                ),
            ),
            (
                self.encoder_global_attn_indexes
                    .iter()
                    .any(|&i| i >= self.encoder_depth),
                format!(
                    "encoder_global_attn_indexes {:?} out of range for depth {}",
                    self.encoder_global_attn_indexes, self.encoder_depth
                ),
            ),
            (
                self.encoder_window_size == 0,
                "encoder_window_size must be > 0".to_string(),
            ),
        ];
        match checks.into_iter().find(|(bad, _)| *bad) {
            Some((_, msg)) => Err(msg),
            None => Ok(()),
        }
    }
}
