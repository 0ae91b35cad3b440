//! The two-way transformer of the SAM 2 mask decoder (`sam2/modeling/sam/transformer.py`).
//!
//! In image mode it is SAM v1's (`crate::TwoWayAttentionBlock` layout, ReLU MLP, LayerNorm eps
//! 1e-5, dropout inactive in eval, `scaled_dot_product_attention` = softmax(q k^T / sqrt(d)) v),
//! so the v1 module is reused. The one difference is a name: SAM 2's block MLP is an `MLP`
//! (`mlp.layers.0`, `mlp.layers.1`) where v1 has `mlp.lin1`, `mlp.lin2`; [`MLP_RENAMES`] maps
//! them when loading.

pub use crate::transformer::TwoWayTransformer;

/// `(official prefix, model prefix)` renames of the block MLPs of the two official layers.
pub const MLP_RENAMES: [(&str, &str); 4] = [
    (
        "sam_mask_decoder.transformer.layers.0.mlp.layers.0.",
        "sam_mask_decoder.transformer.layers.0.mlp.lin1.",
    ),
    (
        "sam_mask_decoder.transformer.layers.0.mlp.layers.1.",
        "sam_mask_decoder.transformer.layers.0.mlp.lin2.",
    ),
    (
        "sam_mask_decoder.transformer.layers.1.mlp.layers.0.",
        "sam_mask_decoder.transformer.layers.1.mlp.lin1.",
    ),
    (
        "sam_mask_decoder.transformer.layers.1.mlp.layers.1.",
        "sam_mask_decoder.transformer.layers.1.mlp.lin2.",
    ),
];
