//! Atomic writes: a temporary file in the target directory, then a rename.

use std::path::Path;

use anyhow::Context as _;
use uncertsam_sam::Sam;

use burn::prelude::Backend;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(uncertsam_data::atomic::write(path, bytes)?)
}

/// Writes `value` as pretty JSON (with a final newline) atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Saves `model` with `Sam::save_safetensors` (official key names) atomically.
pub fn save_model<B: Backend>(model: &Sam<B>, path: &Path) -> anyhow::Result<()> {
    let tmp = uncertsam_data::atomic::prepare(path)?;
    model
        .save_safetensors(&tmp)
        .with_context(|| format!("saving {}", tmp.display()))?;
    Ok(uncertsam_data::atomic::commit(&tmp, path)?)
}
