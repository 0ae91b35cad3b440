//! End-to-end tests of the `uncertsam` binary: determinism, resume after a kill, sharding, and
//! the refinement rows; one Laplace fit per run; `predict`; faults (`reliability`); the prompt
//! parser's fuzz target.

mod fitted;
mod fuzz_prompts;
mod predict;
mod refine;
mod reliability;
mod resume;
#[path = "../common/small_synth.rs"]
mod small_synth;
