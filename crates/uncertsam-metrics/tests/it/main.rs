//! Integration tests of `uncertsam-metrics`: parity with the Python reference fixtures, bad
//! input, and properties.

mod bad_input;
mod fixtures;
mod properties;
