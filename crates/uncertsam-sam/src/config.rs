//! `SamConfig`: the geometry of a SAM v1 model (ViT or MobileSAM's TinyViT encoder), with the
//! official presets.
//!
//! Field names are the official builder arguments, as in `docs/parity-fixture-format.md`, so a
//! fixture's `config.json` deserialises straight into it (extra keys are ignored). The encoder
//! kind is the optional `encoder` field: absent or `"vit"` is SAM's ViT (the `encoder_*` fields),
//! `{"tiny_vit": {...}}` is MobileSAM's TinyViT with its own geometry.

use serde::{Deserialize, Serialize};

/// Which image encoder a [`SamConfig`] describes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    /// SAM's ViT, shaped by the `encoder_*` fields of [`SamConfig`].
    #[default]
    Vit,
    /// MobileSAM's TinyViT (the `encoder_*` fields are then unused).
    TinyVit(TinyVitConfig),
}

/// Geometry of a TinyViT encoder: the official `TinyViT(...)` arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TinyVitConfig {
    /// Width of each stage; a PatchMerging into 320, 448 or 576 keeps the resolution.
    pub embed_dims: Vec<usize>,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Attention heads per stage (stage 0 is convolutional and ignores its entry).
    pub num_heads: Vec<usize>,
    /// Attention window side per stage (stage 0 ignores its entry).
    pub window_sizes: Vec<usize>,
    /// MLP hidden width as a multiple of the stage width.
    #[serde(default = "default_mlp_ratio")]
    pub mlp_ratio: f64,
    /// MBConv hidden width as a multiple of the stage-0 width.
    #[serde(default = "default_mlp_ratio")]
    pub mbconv_expand_ratio: f64,
    /// Kernel side of the depthwise convolution inside attention blocks.
    #[serde(default = "default_local_conv")]
    pub local_conv_size: usize,
}

impl TinyVitConfig {
    /// MobileSAM's TinyViT-5M (`build_sam_vit_t`).
    pub fn mobile_sam() -> Self {
        Self {
            embed_dims: vec![64, 128, 160, 320],
            depths: vec![2, 2, 6, 2],
            num_heads: vec![2, 4, 5, 10],
            window_sizes: vec![7, 7, 14, 7],
            mlp_ratio: 4.0,
            mbconv_expand_ratio: 4.0,
            local_conv_size: 3,
        }
    }

    /// Side of the output grid for an `img_size` input: stride 4, then 2 per PatchMerging
    /// unless it merges into 320, 448 or 576.
    pub fn output_side(&self, img_size: usize) -> usize {
        let halvings = self
            .embed_dims
            .iter()
            .skip(1)
            .filter(|d| !matches!(d, 320 | 448 | 576))
            .count();
        (img_size / 4) >> halvings
    }

    fn validate(&self, c: &SamConfig) -> Result<(), String> {
        let n = self.embed_dims.len();
        if n < 2
            || [
                self.depths.len(),
                self.num_heads.len(),
                self.window_sizes.len(),
            ] != [n; 3]
        {
            return Err(format!(
                "tiny_vit needs >= 2 stages and one depth, head count and window per stage; got \
                 embed_dims {:?}, depths {:?}, num_heads {:?}, window_sizes {:?}",
                self.embed_dims, self.depths, self.num_heads, self.window_sizes
            ));
        }
        if let Some(i) = (1..n).find(|&i| {
            self.num_heads[i] == 0
                || !self.embed_dims[i].is_multiple_of(self.num_heads[i])
                || self.window_sizes[i] == 0
        }) {
            return Err(format!(
                "tiny_vit stage {i}: embed_dim {} must be divisible by num_heads {} and the \
                 window {} must be > 0",
                self.embed_dims[i], self.num_heads[i], self.window_sizes[i]
            ));
        }
        if !self.embed_dims[0].is_multiple_of(2) || self.local_conv_size.is_multiple_of(2) {
            return Err("tiny_vit embed_dims[0] must be even and local_conv_size odd".into());
        }
        // The official forward_features reads the last stage as a [B, 64, 64, C] grid.
        let side = self.output_side(c.img_size);
        if c.img_size != 1024 || c.image_embedding_size != [side, side] || side != 64 {
            return Err(format!(
                "TinyViT needs img_size 1024 and a 64 x 64 output grid (hard-coded upstream); got \
                 img_size {}, output side {side}, image_embedding_size {:?}",
                c.img_size, c.image_embedding_size
            ));
        }
        Ok(())
    }
}

/// Geometry of a SAM v1 model (ViT or TinyViT image encoder, prompt encoder, two-way mask
/// decoder).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamConfig {
    /// The image encoder: SAM's ViT (default) or MobileSAM's TinyViT.
    #[serde(default)]
    pub encoder: EncoderKind,
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

fn default_local_conv() -> usize {
    3
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
            encoder: EncoderKind::Vit,
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

    /// MobileSAM (`mobile_sam.pt`, `vit_t`): TinyViT-5M with SAM's prompt encoder and decoder.
    /// The `encoder_*` fields keep ViT-B values and are unused.
    pub fn mobile_sam() -> Self {
        Self {
            encoder: EncoderKind::TinyVit(TinyVitConfig::mobile_sam()),
            ..Self::vit_b()
        }
    }

    /// The TinyViT geometry, when the encoder is one.
    pub fn tiny_vit(&self) -> Option<&TinyVitConfig> {
        match &self.encoder {
            EncoderKind::TinyVit(t) => Some(t),
            EncoderKind::Vit => None,
        }
    }

    /// A preset by name: `vit_b`, `vit_l`, `vit_h`, `vit_t` / `mobile_sam` or `tiny`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "vit_b" => Some(Self::vit_b()),
            "vit_l" => Some(Self::vit_l()),
            "vit_h" => Some(Self::vit_h()),
            "vit_t" | "mobile_sam" => Some(Self::mobile_sam()),
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
        if let Some(t) = self.tiny_vit() {
            t.validate(self)?;
        }
        let grid = self.img_size / self.patch_size.max(1);
        let checks = [
            (self.patch_size == 0, "patch_size must be > 0".to_string()),
            (
                !self.img_size.is_multiple_of(self.patch_size.max(1)),
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
                self.encoder_num_heads == 0
                    || !self
                        .encoder_embed_dim
                        .is_multiple_of(self.encoder_num_heads),
                format!(
                    "encoder_embed_dim {} is not divisible by encoder_num_heads {}",
                    self.encoder_embed_dim, self.encoder_num_heads
                ),
            ),
            (
                self.decoder_transformer_num_heads == 0
                    || !(self.prompt_embed_dim / self.decoder_attention_downsample_rate.max(1))
                        .is_multiple_of(self.decoder_transformer_num_heads),
                format!(
                    "prompt_embed_dim {} / downsample {} is not divisible by decoder heads {}",
                    self.prompt_embed_dim,
                    self.decoder_attention_downsample_rate,
                    self.decoder_transformer_num_heads
                ),
            ),
            (
                !self.prompt_embed_dim.is_multiple_of(8) || !self.mask_in_chans.is_multiple_of(4),
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
