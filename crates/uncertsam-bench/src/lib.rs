//! The benchmark behind the `uncertsam` binary: every estimator on every split, per-mask
//! metrics, resumable sharded runs, and the tables and plots of a run.
//!
//! Owns the run directory layout (`run.json`, `parts/`, `rows.csv`, `summary.{md,json}`,
//! `plots/`, `gallery/`). It is the only library crate that writes result files, and its
//! [`cli`] module is the only place a concrete burn backend is named. [`run_with`] is the whole
//! command line with the built-in estimators plus a third-party crate's [`ExternalEstimators`].
//! Linking it also installs the process allocator (see [`alloc`]).
//!
//! Modules import in one direction: `args` -> `inputs` -> `fitted` -> `registry` -> `process`
//! -> `run` -> `cli` (checked by `cargo xtask cycles`). This is the last stage of the pipeline:
//! no product crate depends on it (plugin binaries such as `uncertsam-example-estimator` do).

pub mod alloc;
pub mod args;
pub mod cli;
pub mod click_plots;
pub mod crash;
pub mod data_checks;
pub mod fit_cache;
pub mod fit_cmd;
pub mod fit_fusion;
pub mod fitted;
pub mod gallery;
pub mod gemm_threads;
pub mod inputs;
pub mod jobs;
pub mod parent_death;
pub mod parity;
pub mod parts;
pub mod plots;
pub mod predict;
pub mod process;
pub mod refine_args;
pub mod refine_one;
pub mod refine_report;
pub mod refine_rows;
pub mod registry;
pub mod report;
pub mod results;
pub mod results_sam2;
pub mod run;
pub mod run_lock;
#[cfg(feature = "serve")]
pub mod serve;
pub mod user_prompts;

pub use cli::run_with;
pub use registry::{BuildContext, ExternalEstimators, ExternalPreset, NoExternal, Registry};
