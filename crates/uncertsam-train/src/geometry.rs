//! The geometry of the embedded default model: a tiny SAM v1 for 256 x 256 images.

use uncertsam_sam::SamConfig;

/// The tiny SAM the trainer builds: 256 px input, patch 16 (a 16 x 16 embedding grid and
/// 64 x 64 low-resolution logits), a ViT of width 64 and depth 4 (windows of 8 in blocks 0 and 2,
/// global attention in blocks 1 and 3), prompt / decoder width 64, decoder MLP 256 and the full
/// SAM prompt encoder and two-way mask decoder (3 multimask tokens plus the single-mask token).
pub fn default_geometry() -> SamConfig {
    SamConfig {
        img_size: 256,
        patch_size: 16,
        in_chans: 3,
        encoder_embed_dim: 64,
        encoder_depth: 4,
        encoder_num_heads: 4,
        encoder_global_attn_indexes: vec![1, 3],
        encoder_window_size: 8,
        encoder_mlp_ratio: 4.0,
        encoder_qkv_bias: true,
        encoder_use_rel_pos: true,
        encoder_layernorm_eps: 1e-6,
        prompt_embed_dim: 64,
        image_embedding_size: [16, 16],
        mask_in_chans: 16,
        decoder_transformer_depth: 2,
        decoder_transformer_mlp_dim: 256,
        decoder_transformer_num_heads: 4,
        decoder_attention_downsample_rate: 2,
        num_multimask_outputs: 3,
        iou_head_depth: 3,
        iou_head_hidden_dim: 64,
        ..SamConfig::tiny()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_geometry_is_consistent() {
        assert_eq!(super::default_geometry().validate(), Ok(()));
    }
}
