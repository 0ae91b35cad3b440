//! Typed errors of the refinement crate.

use std::path::{Path, PathBuf};

use uncertsam_sam::SamError;

/// Errors from refining a first pass or training the fusion module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefineError {
    /// A first pass, prompt, ground truth or configuration has the wrong shape or content.
    #[error("invalid refinement input: {0}")]
    Input(String),
    /// The model rejected a decode.
    #[error(transparent)]
    Sam(#[from] SamError),
    /// A weights file could not be read, parsed or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl RefineError {
    /// A file error naming `path`.
    pub fn file(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::File {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }
}
