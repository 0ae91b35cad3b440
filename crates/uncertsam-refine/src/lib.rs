//! Uncertainty-guided refinement for Segment Anything: given a first pass (low-resolution
//! logits and an uncertainty map per mask), run SAM again so that the uncertainty improves the
//! mask, and measure whether uncertainty tells an annotator where to click.
//!
//! Owns:
//! - training-free refinement: the first pass's logits as mask prompt with uncertain pixels
//!   shrunk toward 0 ([`ShrinkRule`]), iterated until successive masks agree ([`Convergence`]);
//! - click refinement with a simulated annotator ([`refine_clicks`]): clicks at the centre of
//!   the largest uncertain region, at the largest error (the NoC oracle) or at random, with
//!   IoU-per-click curves and NoC@85 / NoC@90 ([`ClickCurve::noc`]);
//! - the paper's dense-embedding fusion ([`DenseFusion`]), its SAM loss ([`sam_loss`]) and
//!   training through burn autodiff ([`train_fusion`]);
//! - [`RefineConfig`], the serde enum of all variants and ablations, run by [`Refiner`].
//!
//! Both model families refine through the same calls (`uncertsam_sam::SamModel`, any
//! `&Sam` / `&Sam2`, and `uncertsam_sam::Embedding`); where SAM 2's decoder differs (its
//! high-resolution features, object-score token, dynamic multimask, mask-prompt clamping and
//! downscaling) the SAM 2 path follows the official code, see `docs/refinement.md`.
//!
//! It depends only on `uncertsam-sam` (and its dependency-free resampling kernel
//! `uncertsam-resample`): the first pass arrives as plain data ([`FirstPass`]),
//! never as an estimator's internals, so it must not depend on `uncertsam-estimate`, nor on
//! the data, metrics or bench crates. See `docs/refinement.md`; run the tests with
//! `cargo test -p uncertsam-refine`.

mod click_loop;
mod clicks;
mod config;
mod decode;
mod error;
mod first_pass;
mod fusion;
mod fusion_io;
mod geometry;
mod iterate;
mod loss;
mod refiner;
mod shrink;
mod train;

pub use click_loop::{ClickConfig, ClickCurve, UncertaintyUpdate, refine_clicks};
pub use clicks::{
    Click, Placement, UncertainThreshold, error_click, random_click, uncertainty_click,
};
pub use config::RefineConfig;
pub use decode::{
    SAM2_MASK_PROMPT_CLAMP, binary_iou, build_prompts, decode_rows, gt_mask_logits,
    gt_prompt_logits, sam2_gt_mask_logits, upsample,
};
pub use error::RefineError;
pub use first_pass::{FirstPass, HostPass, logit_entropy};
pub use fusion::{
    DecoderInputs, DenseFusion, DenseFusionConfig, FusedDecode, FusionDecoder,
    UncertaintyDownscaling,
};
pub use geometry::{connected_components, distance_transform, largest_component, region_centre};
pub use iterate::{Convergence, Iterated, iterate_until_converged, mask_iou};
pub use loss::{SamLoss, sam_loss};
pub use refiner::{Refined, Refiner};
pub use shrink::ShrinkRule;
pub use train::{FusionSample, FusionTrainConfig, TrainedFusion, fusion_loss, train_fusion};
