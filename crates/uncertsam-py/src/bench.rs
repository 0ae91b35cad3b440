//! The benchmark from Python: `uncertsam bench` with the CLI's options, in this process.

use anyhow::bail;
use pyo3::prelude::*;
use uncertsam_bench::args::BackendKind;

use crate::model::bench_args;
use crate::runtime_error;

/// Runs `uncertsam bench ARGV` in this process on the CPU backend and merges the run
/// directory; returns `(out, images done, bad samples)`.
///
/// `--jobs` is accepted and ignored: the run is one process (worker processes would be this
/// interpreter, not the `uncertsam` binary), which gives the same bytes as any `--jobs N`.
#[pyfunction]
#[pyo3(name = "bench")]
fn run_bench(py: Python<'_>, argv: Vec<String>) -> PyResult<(String, usize, usize)> {
    let args = bench_args(&argv)?;
    py.detach(|| {
        if args.backend == BackendKind::Cuda {
            bail!("the Python package runs the CPU backend only; use the CLI for --backend cuda");
        }
        // As the CLI: one run per `--out` (a second one, from Python or the CLI, is refused).
        let _lock = uncertsam_bench::run_lock::acquire(&args)?;
        let (done, bad) = uncertsam_bench::run::run::<burn::backend::NdArray<f32>, _>(
            &args,
            &uncertsam_bench::Registry::new(&uncertsam_bench::NoExternal),
            &Default::default(),
        )?;
        if args.shard == "0/1" {
            uncertsam_bench::report::merge(&args.out, args.seed)?;
        }
        Ok((args.out.to_string_lossy().into_owned(), done, bad))
    })
    .map_err(runtime_error)
}

/// Adds this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run_bench, m)?)
}
