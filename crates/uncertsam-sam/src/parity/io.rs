//! Reading fixture tensors and comparing them: safetensors as f32, max |diff|.

use std::collections::BTreeMap;
use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::error::SamError;

/// A tensor loaded from safetensors as f32 with its shape.
#[derive(Clone, Debug)]
pub struct Array {
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Reads every tensor of a safetensors file as f32 (from f32, f64, u8, i32 or i64).
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Array>, SamError> {
    let err = |m: String| SamError::File {
        path: path.to_path_buf(),
        message: m,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let d = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            Dtype::U8 => d.iter().map(|&v| v as f32).collect(),
            Dtype::I32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
                .collect(),
            Dtype::I64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            other => {
                return Err(err(format!(
                    "tensor `{name}` has unsupported dtype {other:?}"
                )));
            }
        };
        out.insert(
            name,
            Array {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(out)
}

pub(super) fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap_or_default()
}

pub(super) fn get<'a>(
    map: &'a BTreeMap<String, Array>,
    key: &str,
    file: &Path,
) -> Result<&'a Array, SamError> {
    map.get(key).ok_or_else(|| SamError::File {
        path: file.to_path_buf(),
        message: format!("missing tensor `{key}`"),
    })
}

pub(super) fn tensor<B: Backend, const D: usize>(
    a: &Array,
    device: &B::Device,
) -> Result<Tensor<B, D>, SamError> {
    if a.shape.len() != D {
        return Err(SamError::Input(format!(
            "expected a rank-{D} tensor, got shape {:?}",
            a.shape
        )));
    }
    Ok(Tensor::from_data(
        TensorData::new(a.data.clone(), a.shape.clone()),
        device,
    ))
}

/// Max |a - b|, or infinity when the shapes differ.
pub(super) fn max_diff(ours: &[f32], our_shape: &[usize], reference: &Array) -> f64 {
    if our_shape != reference.shape.as_slice() {
        return f64::INFINITY;
    }
    ours.iter()
        .zip(&reference.data)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .fold(
            0.0,
            |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
        )
}
