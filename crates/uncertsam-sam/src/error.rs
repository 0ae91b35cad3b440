//! Typed errors of the model crate.

use std::path::PathBuf;

/// Errors from building, loading or running a SAM model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamError {
    /// The configuration is inconsistent.
    #[error("invalid SAM config: {0}")]
    Config(String),
    /// A file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The checkpoint lacks a tensor the model needs.
    #[error("{path}: missing key `{key}` (model expects shape {expected:?})")]
    MissingKey {
        /// The checkpoint.
        path: PathBuf,
        /// Official key name.
        key: String,
        /// Shape the model expects (PyTorch layout).
        expected: Vec<usize>,
    },
    /// The checkpoint holds a tensor the model does not have.
    #[error("{path}: unexpected key `{key}` with shape {found:?}")]
    UnexpectedKey {
        /// The checkpoint.
        path: PathBuf,
        /// Key name in the checkpoint.
        key: String,
        /// Its shape.
        found: Vec<usize>,
    },
    /// A tensor has the wrong shape.
    #[error("{path}: key `{key}` has shape {found:?}, the model expects {expected:?}")]
    ShapeMismatch {
        /// The checkpoint.
        path: PathBuf,
        /// Official key name.
        key: String,
        /// Shape the model expects (PyTorch layout).
        expected: Vec<usize>,
        /// Shape in the checkpoint.
        found: Vec<usize>,
    },
    /// A weight holds NaN or infinity.
    #[error("{path}: key `{key}` holds {count} non-finite values (NaN or Inf)")]
    NonFinite {
        /// The checkpoint.
        path: PathBuf,
        /// Official key name.
        key: String,
        /// Number of non-finite values.
        count: usize,
    },
    /// A weight is stored with an element type the loader cannot convert to the model's.
    #[error(
        "{path}: key `{key}` is stored as {dtype}, which does not convert to the model's {model_dtype} (F32, F16, BF16 and F64 do)"
    )]
    UnsupportedDtype {
        /// The checkpoint.
        path: PathBuf,
        /// Official key name.
        key: String,
        /// The stored element type (safetensors spelling: `I64`, `BOOL`, `F8_E4M3`, ...).
        dtype: String,
        /// The model's float type.
        model_dtype: String,
    },
    /// A prompt or input has the wrong shape or content.
    #[error("invalid input: {0}")]
    Input(String),
}
