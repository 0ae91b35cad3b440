//! Post-hoc uncertainty estimators for a frozen Segment Anything model.
//!
//! Owns the plugin traits ([`UncertaintyEstimator`], [`Fit`], [`Persist`]), the [`Estimate`]
//! type with the paper's aggregation rule (spec §3), and the built-in estimators: the one-pass
//! entropy baseline, SAM's IoU head, multimask disagreement, test-time augmentation (hue /
//! in-domain jitter, flips), prompt perturbation, MC dropout through the decoder's noise seam,
//! deep ensembles of decoders, the variance network (with its autodiff training) and last-layer
//! Laplace ([`LaplaceConfig`] is [`Fit`] and gives a [`Persist`]ed [`LaplaceEstimator`]; the
//! maths is the burn-free `uncertsam-laplace`). They are listed by name through the serde enum
//! [`EstimatorConfig`].
//!
//! Depends only on `uncertsam-sam` and `uncertsam-laplace` among the workspace crates. It must
//! not depend on a later pipeline stage (metrics, refinement, benchmark). No backend is named
//! outside tests: everything is generic over `B: Backend`.
//!
//! All outputs are in the decoder's low-resolution frame `[b, 4E, 4E]`; upscale with
//! `Sam::postprocess`. Every random draw comes from the caller's `ChaCha8Rng`.
//!
//! ```ignore
//! let sam = Sam::<NdArray>::new(&config, &device)?.load_checkpoint("sam_vit_b.pth")?;
//! let image = EncodedImage::new(&sam, rgb);            // the encoder runs once here
//! let prompts = PromptBatch::new().with_box([10.0, 20.0, 200.0, 180.0]);
//! let config: EstimatorConfig = serde_json::from_str(r#"{"kind": "prompt_perturbation", "prompts": 10}"#)?;
//! let estimator = config.build(&sam)?;
//! let est = estimator.estimate(&sam, &image, &prompts, &mut ChaCha8Rng::seed_from_u64(42))?;
//! let uncertainty = est.maps.primary_map();            // [1, 4E, 4E]
//! ```
//! See `crates/uncertsam-example-estimator` and `docs/adding-an-estimator.md` for a
//! third-party estimator.

mod config;
mod decode;
mod ensemble;
mod entropy;
mod error;
mod estimate;
mod estimator;
mod iou_head;
mod laplace;
mod laplace_features;
mod laplace_predict;
mod mc_dropout;
mod multimask;
mod options;
pub mod persist;
pub mod photometric;
mod prompt_perturbation;
mod segmenter;
mod tta;
mod variance_net;
mod variance_train;

pub use config::{EstimatorConfig, ExternalConfig, LaplaceFiles, Preset, VarianceNetFiles};
pub use decode::{
    DecoderHead, PlainPass, Sam2DecoderHead, plain_pass, repeat_prompts, selected, token0,
};
pub use ensemble::{DeepEnsemble, EnsembleConfig};
pub use entropy::Entropy;
pub use error::EstimateError;
pub use estimate::{EPS, Estimate, MapKind, UncertaintyMaps, entropy, safe_logit};
pub use estimator::{Fit, FitSample, Persist, UncertaintyEstimator};
pub use iou_head::IouHead;
pub use laplace::{
    ESTIMATOR_FILE as LAPLACE_ESTIMATOR_FILE, LaplaceConfig, LaplaceEstimator, LaplaceLikelihood,
    LaplacePredictive, LaplacePrior, LaplaceStructure, MarglikPrior,
};
pub use mc_dropout::{BernoulliHook, DropoutSite, McDropout, McDropoutConfig};
pub use multimask::MultimaskDisagreement;
pub use options::split_top_level;
pub use prompt_perturbation::{PromptPerturbation, PromptPerturbationConfig};
pub use segmenter::{CallCounter, EncodedImage, Segmenter};
pub use tta::{Photometric, Tta, TtaConfig, flip_low_res, flip_prompts};
pub use uncertsam_sam::{AnyConfig, AnySam, Embedding, SamModel};
pub use variance_net::{
    DecoderFeatures, VarianceNet, VarianceNetConfig, VarianceNetEstimator, decoder_features,
    sam2_decoder_features,
};
pub use variance_train::{
    TrainSample, Trained, VarianceTrainConfig, gaussian_nll, train_variance_net, variance_loss,
};
