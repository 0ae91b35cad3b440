//! Checkpoint loading and saving with the official key names, through burn-store.
//!
//! Official `.pth` (PyTorch pickle) and `.safetensors` files load into [`Sam`] (and, through the
//! same helpers, into `Sam2`). The only renames are the indices of the official
//! `nn.Sequential`s, whose activations have no parameters (see [`SEQUENTIAL_RENAMES`] and
//! [`TINY_VIT_RENAMES`]); enum modules (the image encoder kind) add no path segment. Keys the
//! model has no use for are listed by an `ignored` rule (TinyViT's BatchNorm
//! `num_batches_tracked` and its classification head). Before loading, every key and shape is
//! checked, so a bad checkpoint gives an error naming the key and both shapes; after loading,
//! NaN and Inf weights are reported.

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

/// TinyViT's `patch_embed.seq = Sequential(Conv2d_BN, GELU, Conv2d_BN)`, kept as a `Vec`.
pub const TINY_VIT_RENAMES: [(&str, &str); 1] = [(
    "image_encoder.patch_embed.seq.2.",
    "image_encoder.patch_embed.seq.1.",
)];

/// Checkpoint keys a SAM v1 / MobileSAM model ignores: TinyViT's BatchNorm counters and its
/// unused classification head.
fn sam_ignored(key: &str) -> bool {
    key.ends_with(".num_batches_tracked")
        || key.starts_with("image_encoder.head.")
        || key.starts_with("image_encoder.norm_head.")
}

/// How one model family names its weights.
pub(crate) struct KeyRules {
    /// `(official prefix, model prefix)` renames.
    pub renames: Vec<(&'static str, &'static str)>,
    /// Checkpoint keys the model ignores.
    pub ignored: fn(&str) -> bool,
    /// Key of the state dict inside a pickle (`"model"` for SAM 2), if nested.
    pub top_level_key: Option<&'static str>,
}

impl KeyRules {
    fn sam() -> Self {
        Self {
            renames: SEQUENTIAL_RENAMES
                .iter()
                .chain(TINY_VIT_RENAMES.iter())
                .copied()
                .collect(),
            ignored: sam_ignored,
            top_level_key: None,
        }
    }

    /// The model path (`.gamma` / `.beta` already renamed by the adapter) as an official key.
    pub fn official_key(&self, model_path: &str) -> String {
        for (official, ours) in &self.renames {
            if let Some(rest) = model_path.strip_prefix(ours) {
                return format!("{official}{rest}");
            }
        }
        model_path.to_string()
    }

    fn regex_rules(&self, to_model: bool) -> Vec<(String, String)> {
        regex_rules(&self.renames, to_model)
    }
}

fn regex_rules(renames: &[(&str, &str)], to_model: bool) -> Vec<(String, String)> {
    renames
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
fn expected_shapes<B: Backend, M: ModuleSnapshot<B>>(
    model: &M,
    rules: &KeyRules,
) -> BTreeMap<String, Vec<usize>> {
    model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|s| (rules.official_key(&s.full_path()), s.shape.to_vec()))
        .collect()
}

pub(crate) fn file_err(path: &Path, message: impl ToString) -> SamError {
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

/// Key -> shape of a PyTorch pickle checkpoint (under `top_level_key` when nested).
fn pytorch_shapes(
    path: &Path,
    top_level_key: Option<&str>,
) -> Result<BTreeMap<String, Vec<usize>>, SamError> {
    let reader = match top_level_key {
        Some(k) => burn_store::pytorch::PytorchReader::with_top_level_key(path, k),
        None => burn_store::pytorch::PytorchReader::new(path),
    }
    .map_err(|e| file_err(path, e))?;
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
fn check_finite<B: Backend, M: ModuleSnapshot<B>>(
    model: &M,
    path: &Path,
    rules: &KeyRules,
) -> Result<(), SamError> {
    for snap in model.collect(None, None, true) {
        let data = snap
            .to_data()
            .map_err(|e| file_err(path, format!("{e:?}")))?;
        if let Ok(values) = data.to_vec::<f32>() {
            let count = values.iter().filter(|v| !v.is_finite()).count();
            if count > 0 {
                return Err(SamError::NonFinite {
                    path: path.into(),
                    key: rules.official_key(&snap.full_path()),
                    count,
                });
            }
        }
    }
    Ok(())
}

/// Checks and loads an official checkpoint into `model` under `rules`.
pub(crate) fn load_official<B: Backend, M: ModuleSnapshot<B>>(
    model: &mut M,
    path: &Path,
    rules: &KeyRules,
) -> Result<(), SamError> {
    let expected = expected_shapes(model, rules);
    let mut found = if is_safetensors(path) {
        safetensors_shapes(path)?
    } else {
        pytorch_shapes(path, rules.top_level_key)?
    };
    found.retain(|k, _| !(rules.ignored)(k));
    check_keys(path, &expected, &found)?;
    let remaps = rules.regex_rules(true);
    let result = if is_safetensors(path) {
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .skip_enum_variants(true);
        for (from, to) in &remaps {
            store = store.with_key_remapping(from, to);
        }
        model.load_from(&mut store).map_err(|e| file_err(path, e))?
    } else {
        let mut store = PytorchStore::from_file(path)
            .map_indices_contiguous(false)
            .skip_enum_variants(true);
        if let Some(k) = rules.top_level_key {
            store = store.with_top_level_key(k);
        }
        for (from, to) in &remaps {
            store = store.with_key_remapping(from, to);
        }
        model.load_from(&mut store).map_err(|e| file_err(path, e))?
    };
    if let Some(e) = result.errors.first() {
        return Err(file_err(path, e));
    }
    if let Some((key, _)) = result.missing.first() {
        return Err(SamError::MissingKey {
            path: path.into(),
            key: rules.official_key(key),
            expected: vec![],
        });
    }
    check_finite(model, path, rules)
}

/// Saves `model` as safetensors with the official key names and PyTorch layouts.
pub(crate) fn save_official<B: Backend, M: ModuleSnapshot<B>>(
    model: &M,
    path: &Path,
    rules: &KeyRules,
) -> Result<(), SamError> {
    let mut store = SafetensorsStore::from_file(path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .skip_enum_variants(true);
    for (from, to) in rules.regex_rules(false) {
        store = store.with_key_remapping(&from, to);
    }
    model.save_into(&mut store).map_err(|e| file_err(path, e))?;
    crate::sort_safetensors_header(path)
}

impl<B: Backend> Sam<B> {
    /// Loads an official checkpoint (`.pth` / `.pt` pickle or `.safetensors` with the official
    /// key names) into this model, whose geometry must match. MobileSAM checkpoints may keep
    /// TinyViT's `num_batches_tracked` and classification-head keys; they are ignored.
    pub fn load_checkpoint(mut self, path: impl AsRef<Path>) -> Result<Self, SamError> {
        load_official(&mut self, path.as_ref(), &KeyRules::sam())?;
        Ok(self)
    }

    /// Saves the weights as safetensors with the official key names and PyTorch layouts, so the
    /// file also loads into the official model.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), SamError> {
        save_official(self, path.as_ref(), &KeyRules::sam())
    }
}
