//! The Segment Anything model family in burn: SAM v1 (ViT-B/L/H and any geometry) and MobileSAM
//! (TinyViT encoder), numerically identical to the official PyTorch `segment-anything` 1.0 and
//! `mobile_sam` (parity fixtures in `fixtures/sam` and `fixtures/mobile_sam`).
//!
//! Owns the model, its pre- and post-processing, checkpoint loading and the loss SAM is trained
//! with ([`loss`]). It must not depend on
//! any other uncertsam crate, and it knows nothing of uncertainty: estimators use the seams
//! `Sam::decode_with_noise` and `DecoderOutput` (token-0 hidden features, upscaled embedding).
//!
//! The encoder runs once per image and many prompts reuse its output:
//! ```no_run
//! use burn::backend::NdArray;
//! use uncertsam_sam::{Sam, SamConfig, PromptBatch};
//! let device = Default::default();
//! let sam = Sam::<NdArray>::new(&SamConfig::vit_b(), &device)?
//!     .load_checkpoint("sam_vit_b_01ec64.pth")?;
//! let image = image::open("photo.jpg").unwrap().to_rgb8();
//! let embedding = sam.embed(&image);
//! let prompts = PromptBatch::new().with_box([10.0, 20.0, 200.0, 180.0]).build(&sam, &embedding)?;
//! let out = sam.decode(&embedding, &prompts, false)?;
//! let logits = sam.postprocess(out.low_res_logits, &embedding); // [1, 1, h, w]
//! # Ok::<(), uncertsam_sam::SamError>(())
//! ```

mod attention;
mod common;
mod config;
mod conv;
mod conv_bn;
pub mod cpu;
mod error;
pub mod family;
pub mod frame;
mod grid_pe_cache;
mod host;
mod host_layout;
mod image_encoder;
mod interp;
pub mod loss;
mod mask_decoder;
mod noise;
mod parallel;
pub mod parity;
mod postprocess;
mod preprocess;
mod prompt;
mod prompt_encoder;
mod sam;
pub mod sam2;
mod stable_header;
mod tiny_vit;
mod transformer;
mod weights;

pub use common::{LayerNorm2d, Mlp, MlpBlock};
pub use config::{EncoderKind, SamConfig, TinyVitConfig};
pub use conv_bn::{BatchNorm2d, Conv2dBn};
pub use error::SamError;
pub use family::{AnyConfig, AnySam, Embedding, SamModel};
pub use image_encoder::{ImageEncoderViT, get_rel_pos};
pub use interp::resize_bilinear;
pub use mask_decoder::{DecoderOutput, MaskDecoder};
pub use noise::{DecoderSite, NoNoise, NoiseHook};
pub use parallel::par_map_on;
pub use postprocess::postprocess_masks;
pub use preprocess::{
    preprocess_shape, resize_longest_side, resize_pil_bilinear, to_model_input, transform_box,
    transform_point,
};
pub use prompt::{PromptBatch, PromptRow};
pub use prompt_encoder::{PromptEncoder, Prompts};
pub use sam::{Decoded, ImageEmbedding, ImageEncoder, Sam};
pub use sam2::preprocess::{sam2_model_input, sam2_transform_point};
pub use sam2::sam2::{
    LAPLACE_LAYER as SAM2_LAPLACE_LAYER, NO_OBJ_SCORE, Sam2, Sam2Decoded, Sam2Embedding, Sam2Heads,
    select_outputs as sam2_select_outputs, select_train_outputs as sam2_select_train_outputs,
};
pub use sam2::{HieraConfig, Sam2Config};
pub use stable_header::sort_safetensors_header;
pub use tiny_vit::TinyViT;
pub use weights::{
    LoadReport, SEQUENTIAL_RENAMES, StoredTensor, TINY_VIT_RENAMES, parse_safetensors_header,
};
