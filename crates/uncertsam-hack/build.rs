//! Present only so that cargo reads this crate's `[build-dependencies]` (feature unification of
//! build scripts and proc macros).
fn main() {}
