//! SAM 2 on single images (`sam2` 1.x, image path only, as the UncertSAM paper uses it): the
//! Hiera trunk, the FPN neck, `no_mem_embed`, the conv_s0 / conv_s1 high-resolution features,
//! the prompt encoder and the SAM 2 mask decoder (object-score head with NO_OBJ masking,
//! sigmoid IoU head, dynamic multimask via stability). Video memory is not modelled.
//!
//! One file per part of `sam2/modeling`: [`hiera`] (`backbones/hieradet.py`), [`fpn`]
//! (`backbones/image_encoder.py`, `position_encoding.py`), [`prompt_encoder`], [`transformer`],
//! [`mask_decoder`] (`sam/*.py`), [`preprocess`] (`utils/transforms.py`) and [`sam2`]
//! (`sam2_base.py`, `sam2_image_predictor.py`); [`loss`] is the training loss of
//! `training/loss_fns.py`.

mod config;
pub mod fpn;
pub mod hiera;
pub mod loss;
pub mod mask_decoder;
pub mod preprocess;
pub mod prompt_encoder;
#[allow(clippy::module_inception)]
pub mod sam2;
pub mod transformer;

pub use config::{HieraConfig, Sam2Config};
