//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong in `uncertsam-laplace`; messages name the shapes involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaplaceError {
    /// An input slice does not have the length its shape implies.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    Shape {
        /// Which argument.
        what: &'static str,
        /// The expected shape, e.g. `K x N_pix = 4 x 4096 (16384 values)`.
        expected: String,
        /// The shape that was passed.
        got: String,
    },
    /// Two accumulators or posteriors with different layer shapes or settings were combined.
    #[error("incompatible {what}: {left} vs {right}")]
    Incompatible {
        /// What differs.
        what: &'static str,
        /// The left-hand value.
        left: String,
        /// The right-hand value.
        right: String,
    },
    /// A prior precision that is not finite and positive, or has the wrong length.
    #[error("invalid prior precision: {0}")]
    InvalidPrior(String),
    /// The curvature structure cannot represent the requested prior structure.
    #[error("{structure} curvature does not support a {prior} prior precision")]
    UnsupportedPrior {
        /// Curvature structure (`diag`, `kron`, `full`).
        structure: &'static str,
        /// Prior structure (`scalar`, `layerwise`, `diagonal`).
        prior: &'static str,
    },
    /// A matrix that must be symmetric positive definite is not.
    #[error("{what} ({n} x {n}) is not positive definite")]
    NotPositiveDefinite {
        /// Which matrix.
        what: &'static str,
        /// Its side.
        n: usize,
    },
    /// The log likelihood is unknown because examples were accumulated without targets.
    #[error(
        "the marginal likelihood needs the training log likelihood, but {0} examples were accumulated without targets"
    )]
    MissingTargets(u64),
    /// A non-finite input value (NaN or infinity).
    #[error("non-finite value in {0}")]
    NonFinite(&'static str),
    /// A bad argument that is not a shape (for example zero samples).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// File system error while saving or loading.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// A saved posterior that cannot be read back.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Shorthand for this crate's results.
pub type Result<T> = std::result::Result<T, LaplaceError>;

/// Returns an error naming both shapes when `got != expected`.
pub(crate) fn check_len(what: &'static str, got: usize, expected: usize, desc: &str) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(LaplaceError::Shape {
            what,
            expected: format!("{desc} ({expected} values)"),
            got: format!("{got} values"),
        })
    }
}
