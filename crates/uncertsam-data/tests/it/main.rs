//! Integration tests: pycocotools and torchvision fixtures, both layouts, bad inputs,
//! property tests and the synthetic benchmark.

mod bad_input;
mod fixtures;
mod folder;
mod fuzz;
mod properties;
mod synth;

use std::path::PathBuf;

/// `fixtures/data` at the repository root.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/data")
}
