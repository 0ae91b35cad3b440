//! Procedural domain-shift benchmark.

use crate::datasets::DatasetInfo;

/// The synthetic datasets.
pub const SYNTH_DATASETS: [DatasetInfo; 0] = [];
