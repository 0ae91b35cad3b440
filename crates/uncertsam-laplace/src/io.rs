//! Saving and loading a fitted [`LastLayerLaplace`]: `laplace.json` (config: format version,
//! structure, likelihood, shape, prior structure, loss, counts) next to `laplace.safetensors`
//! (f64 tensors: `weight` K × D, `bias` K, `prior_precision` P, and the structure's curvature
//! tensors, see [`crate::Precision::tensors`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{LaplaceError, Result};
use crate::features::LayerShape;
use crate::laplace::LastLayerLaplace;
use crate::likelihood::Likelihood;
use crate::precision::Precision;
use crate::prior::{PriorPrecision, PriorStructure};

/// File name of the config.
pub const CONFIG_FILE: &str = "laplace.json";
/// File name of the tensors.
pub const TENSORS_FILE: &str = "laplace.safetensors";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct SavedConfig {
    format_version: u32,
    structure: String,
    likelihood: Likelihood,
    shape: LayerShape,
    prior_structure: PriorStructure,
    loss: f64,
    n_examples: u64,
    n_without_targets: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LaplaceError + '_ {
    move |source| LaplaceError::Io {
        path: path.to_path_buf(),
        cause: source,
    }
}

fn fmt_err(path: &Path, message: impl Into<String>) -> LaplaceError {
    LaplaceError::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl<P: Precision> LastLayerLaplace<P> {
    /// Writes `dir/laplace.json` and `dir/laplace.safetensors` (creating `dir`).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let cfg = SavedConfig {
            format_version: FORMAT_VERSION,
            structure: P::NAME.into(),
            likelihood: self.likelihood,
            shape: self.shape,
            prior_structure: self.prior.structure(),
            loss: self.loss,
            n_examples: self.n_examples,
            n_without_targets: self.n_without_targets,
        };
        let cfg_path = dir.join(CONFIG_FILE);
        let json =
            serde_json::to_string_pretty(&cfg).map_err(|e| fmt_err(&cfg_path, e.to_string()))?;
        std::fs::write(&cfg_path, json + "\n").map_err(io_err(&cfg_path))?;

        let (d, k) = (self.shape.d, self.shape.k);
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = vec![
            ("weight".into(), vec![k, d], to_bytes(&self.weight)),
            ("bias".into(), vec![k], to_bytes(&self.bias)),
            (
                "prior_precision".into(),
                vec![self.shape.n_params()],
                to_bytes(&self.prior.diagonal(self.shape)?),
            ),
        ];
        for (name, shape, data) in self.curvature.tensors() {
            tensors.push((name, shape, to_bytes(&data)));
        }
        let st_path = dir.join(TENSORS_FILE);
        let views = tensors
            .iter()
            .map(|(n, s, b)| {
                TensorView::new(Dtype::F64, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| fmt_err(&st_path, e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let meta: HashMap<String, String> = [("structure".to_string(), P::NAME.to_string())].into();
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| fmt_err(&st_path, e.to_string()))?;
        std::fs::write(&st_path, bytes).map_err(io_err(&st_path))?;
        Ok(())
    }

    /// Reads a posterior written by [`LastLayerLaplace::save`]; errors name the file and the
    /// tensor or key when the structure, shapes or dtypes do not match.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let cfg_path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&cfg_path).map_err(io_err(&cfg_path))?;
        let cfg: SavedConfig =
            serde_json::from_str(&text).map_err(|e| fmt_err(&cfg_path, e.to_string()))?;
        if cfg.format_version != FORMAT_VERSION {
            return Err(fmt_err(
                &cfg_path,
                format!(
                    "format_version {} (expected {FORMAT_VERSION})",
                    cfg.format_version
                ),
            ));
        }
        if cfg.structure != P::NAME {
            return Err(fmt_err(
                &cfg_path,
                format!(
                    "saved structure is {:?}, but loading as {:?}",
                    cfg.structure,
                    P::NAME
                ),
            ));
        }
        let shape = LayerShape::new(cfg.shape.d, cfg.shape.k)
            .map_err(|e| fmt_err(&cfg_path, e.to_string()))?;
        let st_path: PathBuf = dir.join(TENSORS_FILE);
        let bytes = std::fs::read(&st_path).map_err(io_err(&st_path))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| fmt_err(&st_path, e.to_string()))?;
        let mut get = |name: &str, expected: &[usize]| -> Result<Vec<f64>> {
            let t = st
                .tensor(name)
                .map_err(|e| fmt_err(&st_path, format!("tensor {name:?}: {e}")))?;
            if t.dtype() != Dtype::F64 {
                return Err(fmt_err(
                    &st_path,
                    format!("tensor {name:?} has dtype {:?}, expected F64", t.dtype()),
                ));
            }
            if t.shape() != expected {
                return Err(fmt_err(
                    &st_path,
                    format!(
                        "tensor {name:?} has shape {:?}, expected {expected:?}",
                        t.shape()
                    ),
                ));
            }
            Ok(t.data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8 bytes")))
                .collect())
        };
        let weight = get("weight", &[shape.k, shape.d])?;
        let bias = get("bias", &[shape.k])?;
        let pp = get("prior_precision", &[shape.n_params()])?;
        let prior = match cfg.prior_structure {
            PriorStructure::Scalar => PriorPrecision::Scalar(pp[0]),
            PriorStructure::Layerwise => PriorPrecision::Layerwise {
                weight: pp[0],
                bias: pp[pp.len() - 1],
            },
            PriorStructure::Diagonal => PriorPrecision::Diagonal(pp),
        };
        let curvature = P::from_tensors(shape, &mut get)?;
        prior
            .validate(shape)
            .map_err(|e| fmt_err(&st_path, e.to_string()))?;
        Ok(Self {
            shape,
            likelihood: cfg.likelihood,
            weight,
            bias,
            curvature,
            loss: cfg.loss,
            n_examples: cfg.n_examples,
            n_without_targets: cfg.n_without_targets,
            prior,
        })
    }
}

fn to_bytes(x: &[f64]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}
