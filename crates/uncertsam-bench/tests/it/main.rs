//! End-to-end tests of the `uncertsam` binary: determinism, resume after a kill, sharding.

mod resume;
