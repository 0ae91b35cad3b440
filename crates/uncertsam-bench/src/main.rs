//! The `uncertsam` binary: [`uncertsam_bench::run_with`] with the built-in estimators only.

use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    uncertsam_bench::alloc::keep_freed_memory();
    uncertsam_bench::gemm_threads::one_thread_per_gemm();
    uncertsam_bench::crash::exit_on_panic();
    uncertsam_bench::run_with(&uncertsam_bench::registry::NoExternal, std::env::args_os())
}
