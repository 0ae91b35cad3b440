//! The benchmark behind the `uncertsam` binary: every estimator on every split, per-mask
//! metrics, resumable sharded runs, and the tables and plots of a run.
//!
//! Owns the run directory layout (`run.json`, `parts/`, `rows.csv`, `summary.{md,json}`,
//! `plots/`, `gallery/`). It is the only library crate that writes result files, and the binary in this
//! crate is the only place a concrete burn backend is named. Linking it also installs the
//! process allocator (see [`alloc`]).

pub mod alloc;
pub mod args;
pub mod click_plots;
pub mod crash;
pub mod data_checks;
pub mod estimators;
pub mod fit_cache;
pub mod fit_fusion;
pub mod fitting;
pub mod gallery;
pub mod jobs;
pub mod parent_death;
pub mod parts;
pub mod plots;
pub mod predict;
pub mod refine_args;
pub mod refine_report;
pub mod refine_rows;
pub mod report;
pub mod results;
pub mod run;
