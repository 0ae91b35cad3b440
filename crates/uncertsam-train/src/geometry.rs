//! The geometries of the embedded defaults: a tiny SAM v1 and a tiny SAM 2, both for 256 x 256
//! images.

use uncertsam_sam::{HieraConfig, Sam2Config, SamConfig};

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

/// The tiny SAM 2 the trainer builds (`--model sam2`): 256 px input (a 16 x 16 embedding grid
/// and 64 x 64 low-resolution logits, as the SAM v1 default), a Hiera trunk of width 16 doubling
/// per stage (16, 32, 64, 128; heads 1, 2, 4, 8), stages of 1, 1, 2, 1 blocks with windows
/// 8, 4, 8, 4 and global attention in block 3 (stage 3, like the official models' global
/// blocks), three query-pooling stages; the official FPN neck at `d_model` 64 (top-down levels
/// 2 and 3, scalp 1) and the official SAM 2 prompt encoder and mask decoder at that width
/// (object-score head, high-resolution features, 3 multimask tokens plus the single-mask token,
/// the fixed MLP 2048 / 8 heads of `_build_sam_heads`).
pub fn default_sam2_geometry() -> Sam2Config {
    let mut config = Sam2Config::tiny();
    config.image_size = 256;
    config.d_model = 64;
    config.hiera = HieraConfig {
        embed_dim: 16,
        num_heads: 1,
        stages: vec![1, 1, 2, 1],
        global_att_blocks: vec![3],
        window_spec: vec![8, 4, 8, 4],
        window_pos_embed_bkg_spatial_size: [7, 7],
        ..config.hiera
    };
    config
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_geometries_are_consistent() {
        assert_eq!(super::default_geometry().validate(), Ok(()));
        assert_eq!(super::default_sam2_geometry().validate(), Ok(()));
    }
}
