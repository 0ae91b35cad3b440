//! What a run does when its data is not there: only the default synthetic root is ever
//! generated; a missing `--data`, or a requested dataset that cannot be read at all, fails the
//! run with a non-zero exit and a message naming the path (after the readable datasets' parts
//! are written, so `--resume` keeps them).

use std::path::Path;

use anyhow::{Result, bail};

use crate::args::BenchArgs;

/// The `--data` default: the synthetic benchmark, generated on first use under `target/`.
pub const DEFAULT_SYNTH_ROOT: &str = "target/uncertsam-synth";

/// [`ensure_data_root`] for a run's `--data`.
pub fn ensure_data(args: &BenchArgs) -> Result<()> {
    ensure_data_root(&args.data)
}

/// Generates the synthetic benchmark when `data` is the default root and absent; any other
/// missing `--data` is an error naming it (it used to be filled with the synthetic benchmark,
/// and the run evaluated that instead of the user's data). Every command that reads `--data`
/// (`bench`, `fit`, `fit-fusion`, `predict`, the Python package) goes through here.
pub fn ensure_data_root(data: &Path) -> Result<()> {
    if data.exists() {
        return Ok(());
    }
    if data != Path::new(DEFAULT_SYNTH_ROOT) {
        bail!(
            "--data {} does not exist (only the default {DEFAULT_SYNTH_ROOT} is generated; \
             `uncertsam data synth --out DIR` writes the synthetic benchmark elsewhere)",
            data.display()
        );
    }
    eprintln!("generating the synthetic benchmark into {}", data.display());
    uncertsam_data::synth::generate(&uncertsam_data::synth::SynthConfig::default(), data)?;
    Ok(())
}

/// Fails the run when a requested dataset could not be read (`unreadable`: one
/// `"<dataset>: <error>"` each).
pub fn fail_on_unreadable(args: &BenchArgs, unreadable: &[String]) -> Result<()> {
    if unreadable.is_empty() {
        return Ok(());
    }
    bail!(
        "{} dataset(s) under {} could not be read: {}; the other datasets' parts are in {} \
         (fix the data, or leave the dataset out with --datasets, and rerun with --resume)",
        unreadable.len(),
        args.data.display(),
        unreadable.join("; "),
        args.out.display()
    )
}
