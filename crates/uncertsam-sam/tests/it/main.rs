//! Integration tests of the SAM model against fixtures made by the official PyTorch code
//! (`fixtures/sam/generate.py`, segment-anything 1.0).

mod api;
mod dtypes;
mod fuzz;
mod mobile_sam;
mod parity;
mod sam2;
mod sam2_loss;
mod weights;

use std::path::PathBuf;

/// The backend the tests run on.
pub type TestBackend = burn::backend::NdArray<f32>;

/// The SAM fixture root.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sam")
}
