//! Integration tests: laplace-torch parity fixtures and save/load.

mod parity;
mod save_load;
