//! Data for UncertSAM: the benchmark's on-disk layout (JPEG images plus COCO-RLE JSON), a
//! plain folder layout for one's own data, a COCO RLE codec bit-exact with pycocotools,
//! seeded prompt geometry, and a procedural domain-shift benchmark ([`synth`]).
//!
//! This crate owns everything between files on disk and plain in-memory samples:
//! `image::RgbImage` images, [`Mask`] buffers and `[f32; 4]` / `(f32, f32)` prompt geometry.
//! It must not depend on burn or on any other uncertsam crate but the dependency-free
//! `uncertsam-resample` (PyTorch's antialiased taps, for SAM 2's mask resize), so that the
//! metrics, the model and the benchmark can all use it.
//!
//! Samples stream one image at a time, each `Result` on its own so a bad file can be skipped:
//! ```no_run
//! use uncertsam_data::{SampleSeed, SampleSource, UncertSamSplit, prompts, seed::streams};
//! let split = UncertSamSplit::open("data", "COD10K-v3", "test")?;
//! for sample in split.samples() {
//!     let sample = match sample {
//!         Ok(s) => s,
//!         Err(e) => { eprintln!("skipping: {e}"); continue; }
//!     };
//!     for m in &sample.masks {
//!         let b = prompts::tight_box(&m.mask);
//!         let mut rng = SampleSeed::new(42, &sample.dataset, sample.image_id, m.id)
//!             .rng(streams::PROMPT_JITTER);
//!         let jittered = b.map(|b| prompts::jitter_box(b, m.mask.width(), m.mask.height(), &mut rng));
//!         println!("{} mask {}: {:?} -> {:?}", sample.name, m.id, b, jittered);
//!     }
//! }
//! # Ok::<(), uncertsam_data::DataError>(())
//! ```
//! The layouts, the RLE convention and the seed rule are documented in `docs/data-format.md`.

pub mod annotations;
pub mod atomic;
mod datasets;
mod error;
mod folder;
mod loader;
mod mask;
pub mod prompts;
pub mod resize;
pub mod rle;
mod sample;
pub mod seed;
mod source;
pub mod synth;

pub use datasets::{DatasetInfo, UNCERTSAM_DATASETS, dataset_info, eval_scale};
pub use error::{DataError, RleError};
pub use folder::FolderDataset;
pub use loader::UncertSamSplit;
pub use mask::Mask;
pub use rle::{Rle, encode_base64_counts};
pub use sample::{InstanceMask, Sample, decode_rgb, read_mask_png, read_rgb};
pub use seed::{SampleSeed, sample_rng};
pub use source::{SampleSource, Samples};
