//! Trains the tiny SAM shipped as the embedded default (`fixtures/default/`), and its
//! deep-ensemble members, from scratch on the procedural benchmark (`uncertsam_data::synth`);
//! with `--model sam2`, a tiny SAM 2 the same way (`fixtures/default-sam2/`, see **SAM 2**).
//!
//! No pretrained SAM can be downloaded here, so [`run`] trains a small SAM v1 (geometry:
//! [`default_geometry`]) with burn autodiff on the CPU:
//!
//! - **Stages**: (1) the main training, `--epochs` (60) on the first `--images` (200) images of
//!   `Synth-Clean/train`, peak lr `--lr`; (2) the fine-tuning stages of `--finetune`
//!   ([`DEFAULT_FINETUNE`]: 12 epochs on the first 800 images at peak lr 1e-3, then 8 on 1600
//!   at 7e-4), each continuing from the previous weights with a fresh optimiser, warm-up and
//!   cosine schedule, all drawing from the stream of `--seed` + [`FINETUNE_SEED_OFFSET`].
//!   Stage 1 fits its 200 images (train IoU 0.84) but tests at 0.78; the clean test IoU comes
//!   from the larger sets. `--init CHECKPOINT` replaces stage 1 by a saved model (the manifest
//!   records the file's SHA-256 and its manifest), so the stages can also run one command at a
//!   time (a chain of such runs gives the bytes of one run, tested).
//! - **Data**: `Synth-Clean/train` (generated into `--data` when absent or short of
//!   training images; images are seeded by index, so more images leave the others as they
//!   were), each image under a random flip (left-right, upside-down).
//! - **Prompts**: every step runs three decoder calls, each batched over all masks of its
//!   images: (1) the tight ground-truth box, jittered with probability 1/2, trained through the
//!   single-mask token 0; (2) 1-3 positive points (the count drawn per step): with one point
//!   the three multimask tokens are decoded and only the one with the lowest mask loss is
//!   trained (as SAM does for ambiguous prompts), with 2-3 points token 0 is trained; (3) a
//!   corrective call, the prompts refinement uses: the box of call 1 plus 0-2 clicks drawn from
//!   call 1's error region (positive on missed foreground, negative on false positives,
//!   [`data::corrective_clicks`]) and call 1's detached logits as the mask prompt (always with
//!   no click, else with probability 1/2), token 0. The IoU head is trained on every decoded
//!   token.
//! - **Loss**: `20 focal(alpha 0.25, gamma 2) + dice(+1) + |IoU head - IoU(logits > 0)|` on
//!   the 4E x 4E low-resolution logits against the ground truth's foreground fraction per
//!   logit cell ([`train::low_res_targets`]; the IoU target uses cells > 1/2). SAM trains on the
//!   upscaled logits; the low-resolution loss is 16x cheaper here and trains the same logits that
//!   `postprocess` upscales. Mean over masks, the two calls averaged, then averaged over the
//!   images of the step.
//! - **Optimiser**: AdamW (weight decay on every trainable weight), linear warm-up then cosine
//!   decay, per-parameter gradient-norm clipping. The random-Fourier positional matrix is drawn
//!   `N(0, 1)` and frozen (see [`init`]).
//! - **Ensemble**: `M` members keep the trained image encoder (frozen; its embeddings of every
//!   image and flip are computed once). Each starts from the main model's prompt encoder and
//!   mask decoder, re-initialises the output heads (the hypernetwork MLPs of every mask token
//!   and the IoU head) from its own seed, and fine-tunes the prompt encoder and the whole mask
//!   decoder with the same loss and its own data order, flips and prompts. Training whole
//!   decoders from scratch would cost about as much as the main model per member on this
//!   2-core machine. Each is saved as a full SAM (the main model's encoder weights).
//! - **Evaluation**: box-prompt (tight box) mean IoU over masks at the original resolution
//!   (`postprocess`, logits > 0) on `Synth-Clean/test` and every shifted `test` split.
//!
//! **SAM 2** ([`run_sam2`], [`Sam2Family`]): the geometry is [`default_sam2_geometry`] (a
//! small Hiera trunk, the official FPN neck, SAM 2 prompt encoder and mask decoder); the stages,
//! data, prompts, optimiser, ensemble and evaluation are the ones above, run by the same
//! [`run_family`]. Each step decodes as `SAM2Train` does in training (token 0 or the multimask
//! tokens, NO_OBJ masking, the corrective call's mask prompt clamped to [-32, 32]) and is
//! scored by SAM 2's own loss, `MultiStepMultiMasksAndIous` (`uncertsam_sam::sam2::loss`,
//! parity-tested), the three calls as three prediction steps ([`sam2_step`]). Ensemble members
//! also redraw the object-score head. Three things differ: its step costs 0.40 s on one graph
//! against SAM v1's 0.26 s, so the two images of a step run side by side on their own graphs
//! ([`train_loop`], per-image graphs: 0.27 s a step on 2 cores); its default is one main stage
//! of 18 epochs on the whole 1600-image split, no fine-tuning stages (14 400 steps, within the
//! 90-minute budget; the ensemble members still train on the first 200 images); and the decoder's high-resolution features start at zero and
//! are held there for the first quarter of the main stage (`--high-res-warmup`), without which the
//! model never learns to follow the box ([`sam2_step`] says why).
//!
//! **Determinism**: every random draw (initial weights, order, flips, prompts) comes from ChaCha
//! streams seeded by `--seed`, saving and reloading a model is exact, and one seed gives the same
//! weights, byte for byte, on one machine (tested: two runs, and a chain of `--init` runs
//! against one run). That needed `uncertsam_sam::loss::softplus_neg_abs` in the loss:
//! burn-ndarray's backward of `log1p` multiplies by an approximate SIMD reciprocal whose split into SIMD and exact scalar
//! elements depends on the buffer's address, which made the gradients differ from run to run.
//! The committed default (`fixtures/default`) is one run of `uncertsam train` with the defaults
//! after that fix. A different CPU (SIMD width) may change the last bits, and then everything
//! downstream.
//!
//! Generic over the autodiff backend (`run::<A>`): the application crate names it. Depends on
//! the model and the data crates only; it must not depend on the estimators, refinement,
//! metrics or the benchmark.

pub mod args;
pub mod data;
pub mod eval;
pub mod family;
pub mod finetune;
mod geometry;
pub mod init;
pub mod io;
pub mod manifest;
pub mod sam2_step;
pub mod stages;
pub mod synth_data;
pub mod train;
pub mod train_loop;

pub use args::TrainArgs;
pub use family::{Sam2Family, SamV1, TrainFamily};
pub use finetune::{DEFAULT_FINETUNE, FinetuneSpec};
pub use geometry::{default_geometry, default_sam2_geometry};
pub use manifest::Manifest;
pub use stages::{FINETUNE_SEED_OFFSET, TrainReport, run, run_family, run_sam2};
