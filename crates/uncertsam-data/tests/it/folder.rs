//! folder tests.
