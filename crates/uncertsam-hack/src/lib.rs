//! Build-time feature unification for the workspace (a "workspace-hack" crate, managed by
//! `cargo hakari`): it depends on the third-party crates whose features would otherwise differ
//! between `cargo test --workspace --release`, the `uncertsam` binary that `cargo xtask` builds
//! and the Python extension, so the three share one build of every dependency. It has no code;
//! after a dependency change run `cargo hakari generate` (CI does not need cargo-hakari).
