//! End-to-end tests of the `uncertsam` binary: determinism, resume after a kill, sharding, and
//! the refinement rows; `predict`.

mod predict;
mod refine;
mod resume;
