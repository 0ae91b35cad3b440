//! Saving and loading a [`DenseFusion`] as safetensors under the official PyTorch key names
//! (`uncertainty_downscaling.{0,1,3,4,6}.*`, `uncertainty_fusion.*`), so a module exported
//! from the paper's `prompt_encoder.pth` loads unchanged.

use std::path::Path;

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use uncertsam_sam::LayerNorm2d;

use crate::error::RefineError;
use crate::fusion::{DenseFusion, DenseFusionConfig};

/// One named tensor: key, shape, values.
type Entry = (String, Vec<usize>, Vec<f32>);

fn values<const D: usize, B: Backend>(p: &Param<Tensor<B, D>>) -> (Vec<usize>, Vec<f32>) {
    let t = p.val();
    let shape = t.dims().to_vec();
    let v = t
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap_or_default();
    (shape, v)
}

fn conv_entries<B: Backend>(key: &str, c: &Conv2d<B>, out: &mut Vec<Entry>) {
    let (s, v) = values(&c.weight);
    out.push((format!("{key}.weight"), s, v));
    if let Some(bias) = &c.bias {
        let (s, v) = values(bias);
        out.push((format!("{key}.bias"), s, v));
    }
}

fn ln_entries<B: Backend>(key: &str, l: &LayerNorm2d<B>, out: &mut Vec<Entry>) {
    for (name, p) in [("weight", &l.weight), ("bias", &l.bias)] {
        let (s, v) = values(p);
        out.push((format!("{key}.{name}"), s, v));
    }
}

impl<B: Backend> DenseFusion<B> {
    /// The module's tensors under their official names.
    fn entries(&self) -> Vec<Entry> {
        let d = &self.uncertainty_downscaling;
        let mut out = Vec::new();
        conv_entries("uncertainty_downscaling.0", &d.conv1, &mut out);
        ln_entries("uncertainty_downscaling.1", &d.ln1, &mut out);
        conv_entries("uncertainty_downscaling.3", &d.conv2, &mut out);
        ln_entries("uncertainty_downscaling.4", &d.ln2, &mut out);
        conv_entries("uncertainty_downscaling.6", &d.conv3, &mut out);
        conv_entries("uncertainty_fusion", &self.uncertainty_fusion, &mut out);
        out
    }

    /// Writes the module to the safetensors file `path` (f32, official key names).
    pub fn save(&self, path: &Path) -> Result<(), RefineError> {
        let entries = self.entries();
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = entries
            .into_iter()
            .map(|(k, s, v)| (k, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
            .collect();
        let views = bytes
            .iter()
            .map(|(k, s, b)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| RefineError::file(path, format!("tensor `{k}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let data = safetensors::serialize(views, None).map_err(|e| RefineError::file(path, e))?;
        std::fs::write(path, data).map_err(|e| RefineError::file(path, e))
    }

    /// Reads a module for prompt dimension `embed_dim` from the safetensors file `path`;
    /// every official key must be present, in f32, with its shape.
    pub fn load(path: &Path, embed_dim: usize, device: &B::Device) -> Result<Self, RefineError> {
        let bytes = std::fs::read(path).map_err(|e| RefineError::file(path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| RefineError::file(path, e))?;
        let mut fusion = DenseFusionConfig::new(embed_dim).init::<B>(device);
        let read = |key: &str, shape: &[usize]| -> Result<Vec<f32>, RefineError> {
            let t = st
                .tensor(key)
                .map_err(|_| RefineError::file(path, format!("missing tensor `{key}`")))?;
            if t.dtype() != Dtype::F32 || t.shape() != shape {
                return Err(RefineError::file(
                    path,
                    format!(
                        "tensor `{key}` is {:?} {:?}, expected F32 {shape:?}",
                        t.dtype(),
                        t.shape()
                    ),
                ));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        let mut loaded = Vec::new();
        for (key, shape, _) in fusion.entries() {
            loaded.push(read(&key, &shape)?);
        }
        let mut it = loaded.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let d = &mut fusion.uncertainty_downscaling;
        set_conv(&mut d.conv1, &mut next, device);
        set_ln(&mut d.ln1, &mut next, device);
        set_conv(&mut d.conv2, &mut next, device);
        set_ln(&mut d.ln2, &mut next, device);
        set_conv(&mut d.conv3, &mut next, device);
        set_conv(&mut fusion.uncertainty_fusion, &mut next, device);
        Ok(fusion)
    }
}

fn param<const D: usize, B: Backend>(
    like: &Param<Tensor<B, D>>,
    v: Vec<f32>,
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    let shape: [usize; D] = like.val().dims();
    Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), device))
}

fn set_conv<B: Backend>(
    c: &mut Conv2d<B>,
    next: &mut impl FnMut() -> Vec<f32>,
    device: &B::Device,
) {
    c.weight = param(&c.weight, next(), device);
    if let Some(b) = &c.bias {
        c.bias = Some(param(b, next(), device));
    }
}

fn set_ln<B: Backend>(
    l: &mut LayerNorm2d<B>,
    next: &mut impl FnMut() -> Vec<f32>,
    device: &B::Device,
) {
    l.weight = param(&l.weight, next(), device);
    l.bias = param(&l.bias, next(), device);
}
