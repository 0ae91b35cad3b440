//! Checkpoint loading and saving with the official key names, through burn-store.
//!
//! Official `.pth` (PyTorch pickle) and `.safetensors` files load into [`Sam`]. The only
//! renames are the indices of the official `nn.Sequential`s, whose activations have no
//! parameters (see [`SEQUENTIAL_RENAMES`]). Before loading, every key and shape is checked, so a
//! bad checkpoint gives an error naming the key and both shapes; after loading, NaN and Inf
//! weights are reported.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use burn::prelude::*;
use burn_store::{
    BurnToPyTorchAdapter, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};

use crate::error::SamError;
use crate::sam::Sam;

/// Official `nn.Sequential` prefixes and the named fields they map to, one rule per index.
pub const SEQUENTIAL_RENAMES: [(&str, &str); 12] = [
    // image_encoder.neck = Sequential(Conv2d, LayerNorm2d, Conv2d, LayerNorm2d)
    ("image_encoder.neck.0.", "image_encoder.neck.conv1."),
    ("image_encoder.neck.1.", "image_encoder.neck.ln1."),
    ("image_encoder.neck.2.", "image_encoder.neck.conv2."),
    ("image_encoder.neck.3.", "image_encoder.neck.ln2."),
    // mask_decoder.output_upscaling = Sequential(ConvT, LayerNorm2d, GELU, ConvT, GELU)
    (
        "mask_decoder.output_upscaling.0.",
        "mask_decoder.output_upscaling.conv1.",
    ),
    (
        "mask_decoder.output_upscaling.1.",
        "mask_decoder.output_upscaling.ln.",
    ),
    (
        "mask_decoder.output_upscaling.3.",
        "mask_decoder.output_upscaling.conv2.",
    ),
    // prompt_encoder.mask_downscaling = Sequential(Conv, LN2d, GELU, Conv, LN2d, GELU, Conv)
    (
        "prompt_encoder.mask_downscaling.0.",
        "prompt_encoder.mask_downscaling.conv1.",
    ),
    (
        "prompt_encoder.mask_downscaling.1.",
        "prompt_encoder.mask_downscaling.ln1.",
    ),
    (
        "prompt_encoder.mask_downscaling.3.",
        "prompt_encoder.mask_downscaling.conv2.",
    ),
    (
        "prompt_encoder.mask_downscaling.4.",
        "prompt_encoder.mask_downscaling.ln2.",
    ),
    (
        "prompt_encoder.mask_downscaling.6.",
        "prompt_encoder.mask_downscaling.conv3.",
    ),
];

/// The model path (`.gamma` / `.beta` already renamed by the adapter) as an official key.
fn official_key(model_path: &str) -> String {
    for (official, ours) in SEQUENTIAL_RENAMES {
        if let Some(rest) = model_path.strip_prefix(ours) {
            return format!("{official}{rest}");
        }
    }
    model_path.to_string()
}

fn regex_rules(to_model: bool) -> Vec<(String, String)> {
    SEQUENTIAL_RENAMES
        .iter()
        .map(|(official, ours)| {
            let (from, to) = if to_model {
                (official, ours)
            } else {
                (ours, official)
            };
            (format!("^{}", from.replace('.', r"\.")), to.to_string())
        })
        .collect()
}

/// Shapes the model expects, keyed by official name, in PyTorch layout.
fn expected_shapes<B: Backend>(model: &Sam<B>) -> BTreeMap<String, Vec<usize>> {
    model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), false)
        .into_iter()
        .map(|s| (official_key(&s.full_path()), s.shape.to_vec()))
        .collect()
}

fn file_err(path: &Path, message: impl ToString) -> SamError {
    SamError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Key -> shape of a safetensors file, from its header only.
fn safetensors_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>, SamError> {
    let mut f = std::fs::File::open(path).map_err(|e| file_err(path, e))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| file_err(path, format!("not a safetensors file: {e}")))?;
    let len = u64::from_le_bytes(len);
    let file_len = f.metadata().map_err(|e| file_err(path, e))?.len();
    if len > file_len.saturating_sub(8) {
        return Err(file_err(
            path,
            format!("safetensors header length {len} exceeds the file size {file_len}"),
        ));
    }
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header).map_err(|e| file_err(path, e))?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| file_err(path, format!("bad safetensors header: {e}")))?;
    let mut shapes = BTreeMap::new();
    for (key, v) in header {
        if key == "__metadata__" {
            continue;
        }
        let shape = v
            .get("shape")
            .and_then(|s| serde_json::from_value::<Vec<usize>>(s.clone()).ok())
            .ok_or_else(|| {
                file_err(
                    path,
                    format!("key `{key}` has no valid shape in the header"),
                )
            })?;
        shapes.insert(key, shape);
    }
    Ok(shapes)
}

/// Key -> shape of a PyTorch pickle checkpoint.
fn pytorch_shapes(path: &Path) -> Result<BTreeMap<String, Vec<usize>>, SamError> {
    let reader = burn_store::pytorch::PytorchReader::new(path).map_err(|e| file_err(path, e))?;
    Ok(reader
        .tensors()
        .iter()
        .map(|(k, s)| (k.clone(), s.shape.to_vec()))
        .collect())
}

fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// Compares checkpoint keys and shapes with the model's; the first problem is the error.
fn check_keys(
    path: &Path,
    expected: &BTreeMap<String, Vec<usize>>,
    found: &BTreeMap<String, Vec<usize>>,
) -> Result<(), SamError> {
    for (key, exp) in expected {
        match found.get(key) {
            None => {
                return Err(SamError::MissingKey {
                    path: path.into(),
                    key: key.clone(),
                    expected: exp.clone(),
                });
            }
            Some(f) if f != exp => {
                return Err(SamError::ShapeMismatch {
                    path: path.into(),
                    key: key.clone(),
                    expected: exp.clone(),
                    found: f.clone(),
                });
            }
            _ => {}
        }
    }
    if let Some((key, shape)) = found.iter().find(|(k, _)| !expected.contains_key(*k)) {
        return Err(SamError::UnexpectedKey {
            path: path.into(),
            key: key.clone(),
            found: shape.clone(),
        });
    }
    Ok(())
}

/// Reports the first weight with NaN or Inf values.
fn check_finite<B: Backend>(model: &Sam<B>, path: &Path) -> Result<(), SamError> {
    for snap in model.collect(None, None, false) {
        let data = snap
            .to_data()
            .map_err(|e| file_err(path, format!("{e:?}")))?;
        if let Ok(values) = data.to_vec::<f32>() {
            let count = values.iter().filter(|v| !v.is_finite()).count();
            if count > 0 {
                return Err(SamError::NonFinite {
                    path: path.into(),
                    key: official_key(&snap.full_path()),
                    count,
                });
            }
        }
    }
    Ok(())
}

impl<B: Backend> Sam<B> {
    /// Loads an official checkpoint (`.pth` / `.pt` pickle or `.safetensors` with the official
    /// key names) into this model, whose geometry must match.
    pub fn load_checkpoint(mut self, path: impl AsRef<Path>) -> Result<Self, SamError> {
        let path = path.as_ref();
        let expected = expected_shapes(&self);
        let found = if is_safetensors(path) {
            safetensors_shapes(path)?
        } else {
            pytorch_shapes(path)?
        };
        check_keys(path, &expected, &found)?;
        let rules = regex_rules(true);
        let result = if is_safetensors(path) {
            let mut store =
                SafetensorsStore::from_file(path).with_from_adapter(PyTorchToBurnAdapter);
            for (from, to) in &rules {
                store = store.with_key_remapping(from, to);
            }
            self.load_from(&mut store).map_err(|e| file_err(path, e))?
        } else {
            let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
            for (from, to) in &rules {
                store = store.with_key_remapping(from, to);
            }
            self.load_from(&mut store).map_err(|e| file_err(path, e))?
        };
        if let Some(e) = result.errors.first() {
            return Err(file_err(path, e));
        }
        if let Some((key, _)) = result.missing.first() {
            return Err(SamError::MissingKey {
                path: path.into(),
                key: official_key(key),
                expected: vec![],
            });
        }
        check_finite(&self, path)?;
        Ok(self)
    }

    /// Saves the weights as safetensors with the official key names and PyTorch layouts, so the
    /// file also loads into the official model.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), SamError> {
        let path = path.as_ref();
        let mut store = SafetensorsStore::from_file(path).with_to_adapter(BurnToPyTorchAdapter);
        for (from, to) in regex_rules(false) {
            store = store.with_key_remapping(&from, to);
        }
        self.save_into(&mut store).map_err(|e| file_err(path, e))
    }
}
