//! `uncertsam._native`, the extension module behind the `uncertsam` Python package
//! (`python/uncertsam/`): the metrics of `uncertsam-metrics`, SAM and the estimators of
//! `uncertsam-estimate`, and the benchmark of `uncertsam-bench`, on numpy arrays.
//!
//! Owns only the conversion between numpy and the Rust APIs; every number is computed by the
//! crates it wraps, with the same code paths as the `uncertsam` CLI, so a call's results equal
//! the CLI's bit for bit. The Python layer (`python/uncertsam/*.py`) checks and normalises
//! arrays (dtype, shape) and raises `ValueError`s; this module validates again, so a bad
//! array can never reach the Rust code unchecked. Model and metric work runs with the GIL
//! released. It must not compute anything itself (no metric formulas, no model code) and
//! must not depend on a Python package other than numpy.

mod bench;
mod metrics;
mod model;

use pyo3::prelude::*;

/// Turns any displayable error into a Python `ValueError`.
pub(crate) fn value_error(e: impl std::fmt::Display) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(e.to_string())
}

/// Turns an `anyhow` error chain into a Python `RuntimeError` with every cause.
pub(crate) fn runtime_error(e: anyhow::Error) -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err(format!("{e:#}"))
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    metrics::register(m)?;
    model::register(m)?;
    bench::register(m)?;
    Ok(())
}
