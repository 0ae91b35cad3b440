//! The small synthetic benchmark the integration tests share (included by `tests/it` and
//! `tests/serve` with `#[path]`).

use std::path::PathBuf;
use std::sync::OnceLock;

/// A small synthetic benchmark in the temp dir (`<tag>-<pid>`), generated once per test process.
pub fn small_synth(tag: &str) -> PathBuf {
    static DATA: OnceLock<PathBuf> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("{tag}-{}", std::process::id()));
        let cfg = uncertsam_data::synth::SynthConfig {
            train: 4,
            val: 1,
            test: 3,
            shifted_test: 2,
            shifts: vec![uncertsam_data::synth::Condition::SHIFTS[0]],
            ..Default::default()
        };
        uncertsam_data::synth::generate(&cfg, &dir).expect("synthetic data should generate");
        dir
    })
    .clone()
}
