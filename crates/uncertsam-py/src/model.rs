//! SAM (either family) and the uncertainty estimators on numpy images, on the CPU backend
//! (`NdArray<f32>`), through the same library calls as `uncertsam predict` / `bench`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::prelude::*;
use clap::Parser;
use numpy::ndarray::{Array1, Array3};
use numpy::{IntoPyArray, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use uncertsam_bench::args::{BenchArgs, PromptKind};
use uncertsam_bench::{NoExternal, Registry};
use uncertsam_estimate::UncertaintyEstimator;
use uncertsam_estimate::{AnySam, EncodedImage, EstimatorConfig, Segmenter};
use uncertsam_sam::{PromptBatch, PromptRow};

use crate::{runtime_error, value_error};

/// The backend of every model call: burn's CPU backend, as the CLI's `--backend cpu`.
type B = burn::backend::NdArray<f32>;

/// The CLI's `bench` options, parsed from arguments (so the defaults are the CLI's).
#[derive(Parser)]
#[command(name = "uncertsam")]
struct BenchCli {
    #[command(flatten)]
    bench: BenchArgs,
}

/// Parses `bench`-style arguments (without the program name) into [`BenchArgs`].
pub(crate) fn bench_args(argv: &[String]) -> PyResult<BenchArgs> {
    BenchCli::try_parse_from(std::iter::once("uncertsam".to_string()).chain(argv.iter().cloned()))
        .map(|c| c.bench)
        .map_err(|e| value_error(e.render()))
}

/// A loaded model and the options it was loaded with (which decide, as in the CLI, whether
/// the embedded model's fitted files apply).
#[pyclass(name = "Sam", module = "uncertsam._native", frozen)]
struct PySam {
    sam: AnySam<B>,
    args: BenchArgs,
    description: String,
}

/// An image with its embedding (the encoder ran once).
#[pyclass(name = "Embedding", module = "uncertsam._native", frozen)]
struct PyEmbedding {
    encoded: EncodedImage<B>,
}

#[pymethods]
impl PyEmbedding {
    /// `(height, width)` of the original image.
    #[getter]
    fn image_size(&self) -> (u32, u32) {
        (self.encoded.image.height(), self.encoded.image.width())
    }
}

fn load(py: Python<'_>, argv: Vec<String>) -> PyResult<PySam> {
    let args = bench_args(&argv)?;
    let (sam, description) = py
        .detach(|| uncertsam_bench::inputs::load_model::<B>(&args, &Default::default()))
        .map_err(runtime_error)?;
    Ok(PySam {
        sam,
        args,
        description,
    })
}

/// One prompt row in original-image pixels.
fn prompt_row(
    bbox: Option<[f64; 4]>,
    points: Option<Vec<[f64; 2]>>,
    labels: Option<Vec<i64>>,
) -> PyResult<PromptRow> {
    let points = points.unwrap_or_default();
    let labels = labels.unwrap_or_else(|| vec![1; points.len()]);
    if labels.len() != points.len() {
        return Err(value_error(format!(
            "{} points but {} labels",
            points.len(),
            labels.len()
        )));
    }
    if let Some(l) = labels.iter().find(|&&l| l != 0 && l != 1) {
        return Err(value_error(format!(
            "point label {l} is neither 1 (foreground) nor 0 (background)"
        )));
    }
    if points.is_empty() && bbox.is_none() {
        return Err(value_error("give a box or at least one point"));
    }
    let finite = bbox.iter().flatten().chain(points.iter().flatten());
    if let Some(v) = finite.into_iter().find(|v| !v.is_finite()) {
        return Err(value_error(format!("prompt coordinate {v} is not finite")));
    }
    Ok(PromptRow {
        points: points.into_iter().zip(labels).collect(),
        bbox,
        mask: None,
    })
}

/// A tensor on the host ([`uncertsam_sam::frame::to_host`]).
fn host<const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    Ok(uncertsam_sam::frame::to_host(t, "map")?)
}

/// Low-resolution `[b, 4E, 4E]` maps at the original image size, as `uncertsam predict`
/// upsamples them (`Segmenter::upsample`).
fn upsample(sam: &AnySam<B>, encoded: &EncodedImage<B>, x: Tensor<B, 3>) -> Result<Vec<f32>> {
    host(Segmenter::upsample(sam, x, &encoded.embedding))
}

/// The bench's per-pixel prediction: `p = 1 / (1 + exp(-logit))` in f32.
fn sigmoid(logits: &[f32]) -> Vec<f32> {
    logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect()
}

fn rgb(image: &PyReadonlyArray3<'_, u8>) -> PyResult<image::RgbImage> {
    let shape = image.shape();
    if shape[2] != 3 || shape[0] == 0 || shape[1] == 0 {
        return Err(value_error(format!(
            "image must be a non-empty uint8 array of shape (H, W, 3), got {shape:?}"
        )));
    }
    let (h, w) = (
        u32::try_from(shape[0]).map_err(value_error)?,
        u32::try_from(shape[1]).map_err(value_error)?,
    );
    let data = image
        .as_slice()
        .map_err(|_| value_error("image must be C-contiguous"))?
        .to_vec();
    image::RgbImage::from_raw(w, h, data).ok_or_else(|| value_error("image buffer size"))
}

/// Everything an estimate hands back, on the host at the original image size.
struct HostEstimate {
    name: String,
    logits: Vec<f32>,
    uncertainty: Vec<f32>,
    std: Option<Vec<f32>>,
    iou: Vec<f32>,
}

#[pymethods]
impl PySam {
    /// Loads an official checkpoint with the `model` geometry (the CLI's `--checkpoint`,
    /// `--model`).
    #[staticmethod]
    fn load(py: Python<'_>, checkpoint: PathBuf, model: String) -> PyResult<Self> {
        let path = checkpoint.to_string_lossy().into_owned();
        load(
            py,
            vec!["--checkpoint".into(), path, "--model".into(), model],
        )
    }

    /// The embedded default model (`fixtures/default` of the repository it was built from).
    #[staticmethod]
    fn embedded(py: Python<'_>) -> PyResult<Self> {
        load(py, vec![])
    }

    /// Random weights of the `model` geometry, seeded (the CLI's `--random-init`).
    #[staticmethod]
    #[pyo3(signature = (model, seed=0))]
    fn random(py: Python<'_>, model: String, seed: u64) -> PyResult<Self> {
        load(
            py,
            vec![
                "--random-init".into(),
                "--model".into(),
                model,
                "--seed".into(),
                seed.to_string(),
            ],
        )
    }

    /// What was loaded, as the run's `run.json` names it.
    #[getter]
    fn description(&self) -> String {
        self.description.clone()
    }

    fn __repr__(&self) -> String {
        format!("Sam({})", self.description)
    }

    /// Runs the image encoder once on an `(H, W, 3)` uint8 image.
    fn embed(&self, py: Python<'_>, image: PyReadonlyArray3<'_, u8>) -> PyResult<PyEmbedding> {
        let image = rgb(&image)?;
        let sam = &self.sam;
        let encoded = py.detach(|| EncodedImage::new(sam, image));
        Ok(PyEmbedding { encoded })
    }

    /// One deterministic decoder pass: logits `(m, H, W)` at the image size and the IoU
    /// predictions `(m,)`, m = 3 with `multimask`, else 1.
    #[pyo3(signature = (embedding, bbox=None, points=None, labels=None, multimask=false))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        embedding: &PyEmbedding,
        bbox: Option<[f64; 4]>,
        points: Option<Vec<[f64; 2]>>,
        labels: Option<Vec<i64>>,
        multimask: bool,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let row = prompt_row(bbox, points, labels)?;
        let (sam, encoded) = (&self.sam, &embedding.encoded);
        let (logits, iou, m) = py
            .detach(|| -> Result<_> {
                let emb = &encoded.embedding;
                let prompts = sam.prompts(&PromptBatch::new().with_row(row), emb)?;
                let out = sam.decode(emb, &prompts, multimask)?;
                let m = out.low_res_logits.dims()[1];
                let logits = host(sam.postprocess(out.low_res_logits, emb))?;
                Ok((logits, host(out.iou_predictions)?, m))
            })
            .map_err(runtime_error)?;
        let (h, w) = (
            encoded.image.height() as usize,
            encoded.image.width() as usize,
        );
        let logits = Array3::from_shape_vec((m, h, w), logits).map_err(value_error)?;
        Ok((
            logits.into_pyarray(py).into_any().unbind(),
            Array1::from_vec(iou).into_pyarray(py).into_any().unbind(),
        ))
    }

    /// One estimator on one prompt, as `uncertsam predict` runs it: by bench name (with the
    /// CLI's `samples`, `seed`, `data`), or from an `EstimatorConfig` JSON (`config`); the
    /// random stream is `predict`'s (seed, "predict", image 0, "estimator").
    #[pyo3(signature = (embedding, estimator, samples, seed, data, bbox=None, points=None, labels=None, config=None))]
    #[allow(clippy::too_many_arguments)]
    fn estimate<'py>(
        &self,
        py: Python<'py>,
        embedding: &PyEmbedding,
        estimator: String,
        samples: usize,
        seed: u64,
        data: PathBuf,
        bbox: Option<[f64; 4]>,
        points: Option<Vec<[f64; 2]>>,
        labels: Option<Vec<i64>>,
        config: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let row = prompt_row(bbox, points, labels)?;
        let mut args = self.args.clone();
        args.estimators = vec![estimator];
        args.samples = samples;
        args.seed = seed;
        args.data = data;
        args.prompt = PromptKind::Box;
        let config: Option<EstimatorConfig> = config
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(|e| value_error(format!("estimator config: {e}")))?;
        if config.is_none() {
            Registry::new(&NoExternal)
                .select(&args)
                .map_err(value_error)?;
        }
        let (sam, encoded) = (&self.sam, &embedding.encoded);
        let est = py
            .detach(|| estimate(sam, encoded, &args, config, row))
            .map_err(runtime_error)?;
        let (h, w) = (
            encoded.image.height() as usize,
            encoded.image.width() as usize,
        );
        let m = est.iou.len();
        let arr = |v: Vec<f32>| -> PyResult<Py<PyAny>> {
            Ok(Array3::from_shape_vec((m, h, w), v)
                .map_err(value_error)?
                .into_pyarray(py)
                .into_any()
                .unbind())
        };
        let d = PyDict::new(py);
        d.set_item("name", est.name)?;
        d.set_item("prob", arr(sigmoid(&est.logits))?)?;
        d.set_item("logits", arr(est.logits)?)?;
        d.set_item("uncertainty", arr(est.uncertainty)?)?;
        match est.std {
            Some(s) => d.set_item("std", arr(s)?)?,
            None => d.set_item("std", py.None())?,
        }
        d.set_item("iou", Array1::from_vec(est.iou).into_pyarray(py))?;
        Ok(d)
    }
}

/// Builds the estimator (the bench's by name, or from a config) and runs it on one row.
fn estimate(
    sam: &AnySam<B>,
    encoded: &EncodedImage<B>,
    args: &BenchArgs,
    config: Option<EstimatorConfig>,
    row: PromptRow,
) -> Result<HostEstimate> {
    let est: Box<dyn UncertaintyEstimator<B>> = match config {
        Some(c) => c.build::<B>(sam)?,
        None => {
            // As `uncertsam predict`: only a fit reads the data.
            if uncertsam_bench::fitted::fits_on_data(args) {
                uncertsam_bench::data_checks::ensure_data_root(&args.data)?;
            }
            Registry::new(&NoExternal)
                .build(sam, args)?
                .pop()
                .with_context(|| {
                    format!(
                        "estimator `{}` is not available for this model",
                        args.estimators.join(",")
                    )
                })?
        }
    };
    let mut rng = uncertsam_data::SampleSeed::image(args.seed, "predict", 0).rng("estimator");
    let e = est.estimate(sam, encoded, &PromptBatch::new().with_row(row), &mut rng)?;
    Ok(HostEstimate {
        name: est.name(),
        uncertainty: upsample(sam, encoded, e.maps.primary_map().clone())?,
        std: e.maps.std.map(|s| upsample(sam, encoded, s)).transpose()?,
        logits: upsample(sam, encoded, e.logits)?,
        iou: host(e.iou)?,
    })
}

/// Reads an image file as `(H, W, 3)` uint8, decoded as the CLI decodes it (the `image`
/// crate, converted to RGB).
#[pyfunction]
fn load_image(py: Python<'_>, path: PathBuf) -> PyResult<Py<PyAny>> {
    let img = py
        .detach(|| image::open(&path).map(|i| i.to_rgb8()))
        .map_err(|e| value_error(format!("reading {}: {e}", path.display())))?;
    let (w, h) = img.dimensions();
    let a =
        Array3::from_shape_vec((h as usize, w as usize, 3), img.into_raw()).map_err(value_error)?;
    Ok(a.into_pyarray(py).into_any().unbind())
}

/// The bench's estimator names, in table order, and the `EstimatorConfig` JSON of the paper's
/// defaults (`EstimatorConfig::paper_defaults`), for building configured ones.
#[pyfunction]
fn estimator_names() -> PyResult<(Vec<String>, Vec<String>)> {
    let configs = EstimatorConfig::paper_defaults()
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()
        .map_err(value_error)?;
    let names = Registry::new(&NoExternal)
        .entries()
        .into_iter()
        .map(|e| e.name)
        .collect();
    Ok((names, configs))
}

/// Adds this module's classes and functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySam>()?;
    m.add_class::<PyEmbedding>()?;
    m.add_function(wrap_pyfunction!(load_image, m)?)?;
    m.add_function(wrap_pyfunction!(estimator_names, m)?)?;
    Ok(())
}
