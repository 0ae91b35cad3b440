//! properties tests.
