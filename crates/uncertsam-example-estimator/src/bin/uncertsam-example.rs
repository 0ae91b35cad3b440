//! `uncertsam-example`: the `uncertsam` command line with the `temperature` estimator
//! registered (`uncertsam-example bench --estimators entropy,temperature`).

use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    uncertsam_bench::alloc::keep_freed_memory();
    uncertsam_bench::gemm_threads::one_thread_per_gemm();
    uncertsam_bench::run_with(
        &uncertsam_example_estimator::bench::TemperatureScalingPlugin,
        std::env::args_os(),
    )
}
