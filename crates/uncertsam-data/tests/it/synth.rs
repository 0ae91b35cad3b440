//! synth tests.
