//! Atomic writes: a temporary file in the target directory, then a rename.

use std::path::Path;

use anyhow::Context as _;

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

/// Writes a file atomically through `save`, which writes the temporary path it is given
/// (a model's `save_safetensors`).
pub fn save_with(
    path: &Path,
    save: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = uncertsam_data::atomic::prepare(path)?;
    save(&tmp).with_context(|| format!("saving {}", tmp.display()))?;
    Ok(uncertsam_data::atomic::commit(&tmp, path)?)
}
