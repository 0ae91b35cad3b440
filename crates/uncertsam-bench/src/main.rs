//! The `uncertsam` binary: the one place where a concrete burn backend is chosen.

fn main() {}
