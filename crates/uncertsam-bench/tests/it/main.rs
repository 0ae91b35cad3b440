//! End-to-end tests of the `uncertsam` binary: determinism, resume after a kill, sharding, and
//! the refinement rows; one Laplace fit per run; `predict`.

mod fitted;
mod predict;
mod refine;
mod reliability;
mod resume;
