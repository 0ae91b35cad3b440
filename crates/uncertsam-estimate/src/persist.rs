//! Saving and loading fitted or trained state: tensors of a burn `Module` as safetensors
//! (burn-store), configuration as JSON.

use std::path::Path;

use burn::module::Module;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::EstimateError;

/// Writes the tensors of `module` to the safetensors file `path` (overwriting it).
pub fn save_module<B: Backend, M: Module<B>>(module: &M, path: &Path) -> Result<(), EstimateError> {
    ensure_parent(path)?;
    let mut store = SafetensorsStore::from_file(path).overwrite(true);
    module
        .save_into(&mut store)
        .map_err(|e| EstimateError::file(path, e))?;
    // burn-store writes its metadata map in hash order; make the bytes a function of the weights.
    uncertsam_sam::sort_safetensors_header(path).map_err(|e| EstimateError::file(path, e))
}

/// Loads the tensors of the safetensors file `path` into `module`; every tensor of the module
/// must be present with its shape.
pub fn load_module<B: Backend, M: Module<B>>(
    mut module: M,
    path: &Path,
) -> Result<M, EstimateError> {
    if !path.is_file() {
        return Err(EstimateError::file(path, "no such file"));
    }
    let mut store = SafetensorsStore::from_file(path);
    let result = module
        .load_from(&mut store)
        .map_err(|e| EstimateError::file(path, e))?;
    if let Some(e) = result.errors.first() {
        return Err(EstimateError::file(path, format!("{e:?}")));
    }
    if let Some((key, _)) = result.missing.first() {
        return Err(EstimateError::file(path, format!("missing tensor `{key}`")));
    }
    Ok(module)
}

/// Writes `value` as pretty JSON to `path`.
pub fn save_json<T: Serialize>(value: &T, path: &Path) -> Result<(), EstimateError> {
    ensure_parent(path)?;
    let text = serde_json::to_string_pretty(value).map_err(|e| EstimateError::file(path, e))?;
    std::fs::write(path, text).map_err(|e| EstimateError::file(path, e))
}

/// Reads JSON from `path`.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T, EstimateError> {
    let text = std::fs::read_to_string(path).map_err(|e| EstimateError::file(path, e))?;
    serde_json::from_str(&text).map_err(|e| EstimateError::file(path, e))
}

fn ensure_parent(path: &Path) -> Result<(), EstimateError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|e| EstimateError::file(dir, e))
        }
        _ => Ok(()),
    }
}
