//! The crate's one error type.

/// Why a metric could not be computed.
///
/// Every message names the input and the shape involved.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetricsError {
    /// A per-pixel input does not have `height × width` values.
    #[error("{name} has {len} values but the mask is {height} × {width} = {expected} pixels")]
    ShapeMismatch {
        /// The input's name (`pred`, `gt`, `prob`, `unc`, `std`).
        name: &'static str,
        /// Its number of values.
        len: usize,
        /// The mask height.
        height: usize,
        /// The mask width.
        width: usize,
        /// `height × width`.
        expected: usize,
    },
    /// Two paired inputs of a slice-level metric differ in length.
    #[error("{left} has {left_len} values but {right} has {right_len}")]
    LengthMismatch {
        /// The first input's name.
        left: &'static str,
        /// Its length.
        left_len: usize,
        /// The second input's name.
        right: &'static str,
        /// Its length.
        right_len: usize,
    },
    /// The mask has no pixels, or 2^31 or more.
    #[error(
        "a {height} × {width} mask is not supported (it must have between 1 and 2^31 - 1 pixels)"
    )]
    UnsupportedSize {
        /// The mask height.
        height: usize,
        /// The mask width.
        width: usize,
    },
    /// A slice-level metric got no values.
    #[error("{name} is empty")]
    Empty {
        /// The input's name.
        name: &'static str,
    },
    /// An input holds NaN or an infinity.
    #[error("{name}[{index}] is {value}, not a finite number")]
    NonFinite {
        /// The input's name.
        name: &'static str,
        /// The first offending index.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A probability lies outside [0, 1].
    #[error("{name}[{index}] is {value}, outside the probability range [0, 1]")]
    NotAProbability {
        /// The input's name.
        name: &'static str,
        /// The first offending index.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A configuration value is out of its domain.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;

/// Returns the first non-finite value of `values` as an error.
pub(crate) fn check_finite<T: Copy + Into<f64>>(name: &'static str, values: &[T]) -> Result<()> {
    match values.iter().position(|&v| !v.into().is_finite()) {
        None => Ok(()),
        Some(index) => Err(MetricsError::NonFinite {
            name,
            index,
            value: values[index].into(),
        }),
    }
}

/// Checks that two paired slices have the same length.
pub(crate) fn check_same_len(
    left: &'static str,
    left_len: usize,
    right: &'static str,
    right_len: usize,
) -> Result<()> {
    if left_len == right_len {
        Ok(())
    } else {
        Err(MetricsError::LengthMismatch {
            left,
            left_len,
            right,
            right_len,
        })
    }
}
