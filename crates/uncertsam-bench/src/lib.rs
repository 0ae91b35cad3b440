//! The benchmark library behind the `uncertsam` binary: the only library crate that names a
//! concrete burn backend or writes result files.
//!
//! Linking it also installs the process allocator (see [`alloc`]).

pub mod alloc;
