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
//!
//! Tensors stored as F16, BF16 or F64 (many published checkpoints are half precision) are
//! converted to the model's float type on the way in, and the [`LoadReport`] says how many; any
//! other element type (integers, booleans, FP8, ...) on a model weight is
//! [`SamError::UnsupportedDtype`], naming the file, the key and the type. burn's backends are
//! never handed a tensor of a type the model does not use.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use burn::prelude::*;
use burn::tensor::{DType, Element};
use burn_store::{
    BurnToPyTorchAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore, TensorSnapshot,
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

/// What a checkpoint holds under one key: its shape and its element type as the file names it
/// (`"F32"`, `"F16"`, `"BF16"`, `"I64"`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTensor {
    /// Shape in PyTorch layout.
    pub shape: Vec<usize>,
    /// Element type, as safetensors spells it.
    pub dtype: String,
}

/// Key -> shape and element type of a safetensors file, from its header only.
fn safetensors_shapes(path: &Path) -> Result<BTreeMap<String, StoredTensor>, SamError> {
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
    parse_safetensors_header(&header, file_len.saturating_sub(8 + len))
        .map_err(|message| file_err(path, message))
}

/// Parses and checks a safetensors JSON header (the bytes after the 8-byte length): every
/// tensor has a shape, a dtype and `data_offsets` `[begin, end]` inside the `data_len` bytes
/// that follow the header, whose length matches shape x element size. The error is a message
/// naming the key; the caller adds the file.
pub fn parse_safetensors_header(
    header: &[u8],
    data_len: u64,
) -> Result<BTreeMap<String, StoredTensor>, String> {
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| format!("bad safetensors header: {e}"))?;
    let mut out = BTreeMap::new();
    for (key, v) in header {
        if key == "__metadata__" {
            continue;
        }
        let shape = v
            .get("shape")
            .and_then(|s| serde_json::from_value::<Vec<usize>>(s.clone()).ok())
            .ok_or_else(|| format!("key `{key}` has no valid shape in the header"))?;
        let dtype = v
            .get("dtype")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| format!("key `{key}` has no dtype in the header"))?
            .to_string();
        let offsets = v
            .get("data_offsets")
            .and_then(|s| serde_json::from_value::<[u64; 2]>(s.clone()).ok())
            .ok_or_else(|| format!("key `{key}` has no valid data_offsets in the header"))?;
        if offsets[0] > offsets[1] || offsets[1] > data_len {
            return Err(format!(
                "key `{key}` has data_offsets {offsets:?} outside the {data_len} data bytes"
            ));
        }
        let numel = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let bytes = match (numel, dtype_bits(&dtype)) {
            (Some(n), Some(bits)) => n.checked_mul(bits).map(|b| b.div_ceil(8)),
            _ => None,
        };
        if let Some(b) = bytes
            && b != offsets[1] - offsets[0]
        {
            return Err(format!(
                "key `{key}`: shape {shape:?} of {dtype} needs {b} bytes, data_offsets give {}",
                offsets[1] - offsets[0]
            ));
        }
        if numel.is_none() {
            return Err(format!("key `{key}`: shape {shape:?} overflows"));
        }
        out.insert(key, StoredTensor { shape, dtype });
    }
    Ok(out)
}

/// Bits per element of a safetensors dtype name, `None` for names this loader does not know.
fn dtype_bits(name: &str) -> Option<u64> {
    Some(match name {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        _ => return None,
    })
}

/// The burn float type a stored element type converts to the model's from, if it is one.
fn float_dtype(name: &str) -> Option<DType> {
    match name {
        "F64" => Some(DType::F64),
        "F32" => Some(DType::F32),
        "F16" => Some(DType::F16),
        "BF16" => Some(DType::BF16),
        _ => None,
    }
}

/// The safetensors spelling of a burn dtype (what [`StoredTensor::dtype`] holds).
fn dtype_name(dtype: DType) -> String {
    match dtype {
        DType::F64 => "F64".into(),
        DType::F32 | DType::Flex32 => "F32".into(),
        DType::F16 => "F16".into(),
        DType::BF16 => "BF16".into(),
        DType::I64 => "I64".into(),
        DType::I32 => "I32".into(),
        DType::I16 => "I16".into(),
        DType::I8 => "I8".into(),
        DType::U64 => "U64".into(),
        DType::U32 => "U32".into(),
        DType::U16 => "U16".into(),
        DType::U8 => "U8".into(),
        DType::Bool(_) => "BOOL".into(),
        other => format!("{other:?}"),
    }
}

/// Key -> shape and element type of a PyTorch pickle checkpoint (under `top_level_key` when
/// nested).
fn pytorch_shapes(
    path: &Path,
    top_level_key: Option<&str>,
) -> Result<BTreeMap<String, StoredTensor>, SamError> {
    let reader = match top_level_key {
        Some(k) => burn_store::pytorch::PytorchReader::with_top_level_key(path, k),
        None => burn_store::pytorch::PytorchReader::new(path),
    }
    .map_err(|e| file_err(path, e))?;
    Ok(reader
        .tensors()
        .iter()
        .map(|(k, s)| {
            (
                k.clone(),
                StoredTensor {
                    shape: s.shape.to_vec(),
                    dtype: dtype_name(s.dtype),
                },
            )
        })
        .collect())
}

/// What loading a checkpoint changed on the way in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Model weights converted to the model's float type, counted by their stored type
    /// (`"F16" -> 412`).
    pub converted: BTreeMap<String, usize>,
    /// The model's float type (`"F32"`).
    pub model_dtype: String,
}

impl LoadReport {
    /// Writes the note, if any, to stderr as `note: <path>: <note>`.
    pub fn print_note(&self, path: &Path) {
        if let Some(note) = self.note() {
            eprintln!("note: {}: {note}", path.display());
        }
    }

    /// A one-line note on the conversions (`None` when every weight was stored as the model's
    /// type), e.g. `412 F16 tensors converted to F32`.
    pub fn note(&self) -> Option<String> {
        if self.converted.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .converted
            .iter()
            .map(|(d, n)| format!("{n} {d} tensor{}", if *n == 1 { "" } else { "s" }))
            .collect();
        Some(format!(
            "{} converted to {}",
            parts.join(", "),
            self.model_dtype
        ))
    }
}

/// Converts float tensors of another precision to the model's float type before burn sees
/// them (burn-ndarray panics on a float tensor it does not hold, e.g. F16).
#[derive(Clone)]
struct ToModelFloat(DType);

impl ModuleAdapter for ToModelFloat {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        let target = self.0;
        let is_other_float = matches!(snapshot.dtype, DType::F64 | DType::F16 | DType::BF16)
            || (matches!(snapshot.dtype, DType::F32) && target != DType::F32);
        if snapshot.dtype == target || !is_other_float {
            return snapshot.clone();
        }
        let data = snapshot.clone_data_fn();
        TensorSnapshot::from_closure(
            Rc::new(move || Ok(data()?.convert_dtype(target))),
            target,
            snapshot.shape.clone(),
            snapshot.path_stack.clone().unwrap_or_default(),
            snapshot.container_stack.clone().unwrap_or_default(),
            snapshot.tensor_id.unwrap_or_default(),
        )
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
}

/// Checks that every model weight in the checkpoint has a float type the loader converts, and
/// counts the ones stored in another precision than `model_dtype`.
fn check_dtypes(
    path: &Path,
    expected: &BTreeMap<String, Vec<usize>>,
    found: &BTreeMap<String, StoredTensor>,
    model_dtype: DType,
) -> Result<LoadReport, SamError> {
    let mut report = LoadReport {
        converted: BTreeMap::new(),
        model_dtype: dtype_name(model_dtype),
    };
    for (key, stored) in found.iter().filter(|(k, _)| expected.contains_key(*k)) {
        match float_dtype(&stored.dtype) {
            None => {
                return Err(SamError::UnsupportedDtype {
                    path: path.into(),
                    key: key.clone(),
                    dtype: stored.dtype.clone(),
                    model_dtype: report.model_dtype.clone(),
                });
            }
            Some(d) if d != model_dtype => {
                *report.converted.entry(stored.dtype.clone()).or_default() += 1;
            }
            Some(_) => {}
        }
    }
    Ok(report)
}

fn is_safetensors(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
}

/// Compares checkpoint keys and shapes with the model's; the first problem is the error.
fn check_keys(
    path: &Path,
    expected: &BTreeMap<String, Vec<usize>>,
    found: &BTreeMap<String, StoredTensor>,
) -> Result<(), SamError> {
    for (key, exp) in expected {
        match found.get(key).map(|t| &t.shape) {
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
    if let Some((key, stored)) = found.iter().find(|(k, _)| !expected.contains_key(*k)) {
        return Err(SamError::UnexpectedKey {
            path: path.into(),
            key: key.clone(),
            found: stored.shape.clone(),
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

/// Checks and loads an official checkpoint into `model` under `rules`; F16, BF16 and F64
/// weights are converted to the model's float type (counted in the report).
pub(crate) fn load_official<B: Backend, M: ModuleSnapshot<B>>(
    model: &mut M,
    path: &Path,
    rules: &KeyRules,
) -> Result<LoadReport, SamError> {
    let expected = expected_shapes(model, rules);
    let mut found = if is_safetensors(path) {
        safetensors_shapes(path)?
    } else {
        pytorch_shapes(path, rules.top_level_key)?
    };
    found.retain(|k, _| !(rules.ignored)(k));
    check_keys(path, &expected, &found)?;
    let model_dtype = <B::FloatElem as Element>::dtype();
    let report = check_dtypes(path, &expected, &found, model_dtype)?;
    let remaps = rules.regex_rules(true);
    // Both stores only read here; the snapshots go through one adapter chain: the precision
    // conversion, then PyTorch's layouts and parameter names.
    let snapshots: Vec<TensorSnapshot> = if is_safetensors(path) {
        let mut store = SafetensorsStore::from_file(path).skip_enum_variants(true);
        for (from, to) in &remaps {
            store = store.with_key_remapping(from, to);
        }
        store
            .get_all_snapshots()
            .map_err(|e| file_err(path, e))?
            .values()
            .cloned()
            .collect()
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
        store
            .get_all_snapshots()
            .map_err(|e| file_err(path, e))?
            .values()
            .cloned()
            .collect()
    };
    let adapter = ToModelFloat(model_dtype).chain(PyTorchToBurnAdapter);
    let result = model.apply(snapshots, None, Some(Box::new(adapter)), true);
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
    check_finite(model, path, rules)?;
    Ok(report)
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
    ///
    /// Weights stored as F16, BF16 or F64 are converted to the model's float type, with a
    /// `note:` line on stderr; [`Sam::load_checkpoint_reported`] returns the counts instead.
    pub fn load_checkpoint(self, path: impl AsRef<Path>) -> Result<Self, SamError> {
        let path = path.as_ref();
        let (sam, report) = self.load_checkpoint_reported(path)?;
        report.print_note(path);
        Ok(sam)
    }

    /// [`Sam::load_checkpoint`] without the stderr note: also returns what was converted.
    pub fn load_checkpoint_reported(
        mut self,
        path: impl AsRef<Path>,
    ) -> Result<(Self, LoadReport), SamError> {
        let report = load_official(&mut self, path.as_ref(), &KeyRules::sam())?;
        Ok((self, report))
    }

    /// Saves the weights as safetensors with the official key names and PyTorch layouts, so the
    /// file also loads into the official model.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), SamError> {
        save_official(self, path.as_ref(), &KeyRules::sam())
    }
}
