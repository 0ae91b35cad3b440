//! The SAM 2 prompt encoder (`sam2/modeling/sam/prompt_encoder.py`): the same module as SAM
//! v1's, reused, called the way `SAM2Base._forward_sam_heads` calls it: box corners become
//! points with labels 2 / 3 placed before the clicks, boxes are never passed, so a padding point
//! (label -1) is always appended, and a prompt without points gets one padding point first.

use burn::prelude::*;

use crate::host::HostReshape;
pub use crate::prompt_encoder::PromptEncoder;
use crate::prompt_encoder::Prompts;

/// `(official prefix, model prefix)` renames of the mask downscaling `Sequential`.
pub const MASK_DOWNSCALING_RENAMES: [(&str, &str); 5] = [
    (
        "sam_prompt_encoder.mask_downscaling.0.",
        "sam_prompt_encoder.mask_downscaling.conv1.",
    ),
    (
        "sam_prompt_encoder.mask_downscaling.1.",
        "sam_prompt_encoder.mask_downscaling.ln1.",
    ),
    (
        "sam_prompt_encoder.mask_downscaling.3.",
        "sam_prompt_encoder.mask_downscaling.conv2.",
    ),
    (
        "sam_prompt_encoder.mask_downscaling.4.",
        "sam_prompt_encoder.mask_downscaling.ln2.",
    ),
    (
        "sam_prompt_encoder.mask_downscaling.6.",
        "sam_prompt_encoder.mask_downscaling.conv3.",
    ),
];

/// Rewrites prompts as SAM 2 feeds them to its prompt encoder: points only (box corners first,
/// labels 2 and 3), no box; without points or box, one padding point at (0, 0).
///
/// # Shapes
/// - points `[b, n, 2]` / labels `[b, n]`, boxes `[b, 4]` -> points `[b, 2 + n, 2]` / `[b, 2 + n]`
pub fn as_sam2_points<B: Backend>(
    prompts: &Prompts<B>,
    b: usize,
    device: &B::Device,
) -> Prompts<B> {
    let boxes = prompts.boxes.as_ref().map(|bx| {
        let corners = bx.clone().host_reshape([b, 2, 2]);
        let labels = Tensor::<B, 1, Int>::from_ints([2, 3], device)
            .unsqueeze::<2>()
            .expand([b, 2]);
        (corners, labels)
    });
    let points = match (boxes, prompts.points.clone()) {
        (Some((c, l)), Some((p, pl))) => (Tensor::cat(vec![c, p], 1), Tensor::cat(vec![l, pl], 1)),
        (Some(bx), None) => bx,
        (None, Some(p)) => p,
        (None, None) => (
            Tensor::zeros([b, 1, 2], device),
            Tensor::<B, 2, Int>::ones([b, 1], device).neg(),
        ),
    };
    Prompts {
        points: Some(points),
        boxes: None,
        masks: prompts.masks.clone(),
    }
}
