//! Typed errors of the estimator crate.

use std::path::PathBuf;

use uncertsam_sam::SamError;

/// Errors from building, fitting, saving or running an uncertainty estimator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EstimateError {
    /// The model rejected an input or a checkpoint.
    #[error(transparent)]
    Sam(#[from] SamError),
    /// The estimator configuration is inconsistent.
    #[error("invalid estimator config `{estimator}`: {message}")]
    Config {
        /// The estimator kind or name.
        estimator: String,
        /// What is wrong.
        message: String,
    },
    /// An input (prompt, image, ground truth) has the wrong shape or content.
    #[error("invalid input: {0}")]
    Input(String),
    /// The estimator cannot handle this kind of input.
    #[error("`{estimator}` does not support {what}")]
    Unsupported {
        /// The estimator name.
        estimator: String,
        /// The unsupported input.
        what: String,
    },
    /// Last-layer Laplace failed (shapes, files, a posterior that is not positive definite).
    /// The cause is in the message and not a `source()`, so a chain printer (anyhow's `{:#}`)
    /// shows it once.
    #[error("last-layer Laplace: {0}")]
    Laplace(uncertsam_laplace::LaplaceError),
    /// A file could not be read, written or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl EstimateError {
    /// A [`EstimateError::File`] error for `path`.
    pub(crate) fn file(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        Self::File {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// A [`EstimateError::Config`] error for `estimator`.
    pub(crate) fn config(estimator: &str, message: impl ToString) -> Self {
        Self::Config {
            estimator: estimator.into(),
            message: message.to_string(),
        }
    }
}

impl From<uncertsam_laplace::LaplaceError> for EstimateError {
    fn from(e: uncertsam_laplace::LaplaceError) -> Self {
        Self::Laplace(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_laplace_cause_is_in_the_message_once() {
        let e = EstimateError::from(uncertsam_laplace::LaplaceError::InvalidArgument("x".into()));
        assert_eq!(e.to_string(), "last-layer Laplace: invalid argument: x");
        // A chain printer (anyhow's `{:#}`) appends each source: there is none to repeat.
        assert!(std::error::Error::source(&e).is_none());
    }
}
