//! The parity checker for fixture directories in the format of `docs/parity-fixture-format.md`:
//! runs the model from `model_input` (the model alone) and from `image.png` (the whole
//! pipeline) and reports, per reference tensor, the max absolute difference.
//!
//! `config.json`'s optional `"model_type"` selects the family: absent, `"sam"` or `"mobile_sam"`
//! is a [`Sam`] (its `encoder` field picks ViT or TinyViT), `"sam2"` a `Sam2`. Optional
//! tensors (`model_input`, `dense_pe`, `<case>.dense_embeddings`) are compared when present.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::Deserialize;

use crate::config::SamConfig;
use crate::error::SamError;
use crate::prompt::{PromptBatch, PromptRow};
use crate::prompt_encoder::Prompts;
use crate::sam::Sam;

mod io;
mod sam2;

pub use io::{Array, read_safetensors};
use io::{get, max_diff, tensor, to_vec};

/// Max |diff| allowed from `model_input`.
pub const MODEL_TOLERANCE: f64 = 1e-4;
/// Largest fraction of mask pixels allowed to disagree through the whole pipeline.
pub const PIPELINE_MASK_TOLERANCE: f64 = 0.005;

#[derive(Deserialize)]
struct PromptsFile {
    original_size_hw: [usize; 2],
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    point_coords: Option<Vec<[f64; 2]>>,
    point_labels: Option<Vec<i64>>,
    #[serde(rename = "box")]
    bbox: Option<[f64; 4]>,
    mask_input_from: Option<String>,
    multimask_output: bool,
}

impl Case {
    /// The case's points with their labels, in original-image pixels (none without both).
    fn points(&self) -> Vec<([f64; 2], i64)> {
        match (&self.point_coords, &self.point_labels) {
            (Some(c), Some(l)) => c.iter().copied().zip(l.iter().copied()).collect(),
            _ => vec![],
        }
    }
}

/// The model-input prompts of case `name` from `inputs.safetensors` (transformed points,
/// labels, box and mask input, each when present).
fn case_prompts<B: Backend>(
    inputs: &BTreeMap<String, Array>,
    name: &str,
    device: &B::Device,
) -> Result<Prompts<B>, SamError> {
    let opt = |k: &str| inputs.get(&format!("{name}.{k}"));
    let points = match (opt("point_coords_transformed"), opt("point_labels")) {
        (Some(p), Some(l)) => {
            let labels: Vec<i64> = l.data.iter().map(|&v| v as i64).collect();
            Some((
                tensor::<B, 3>(p, device)?,
                Tensor::from_data(TensorData::new(labels, l.shape.clone()), device),
            ))
        }
        _ => None,
    };
    Ok(Prompts {
        points,
        boxes: opt("box_transformed")
            .map(|b| tensor::<B, 2>(b, device))
            .transpose()?,
        masks: opt("mask_input")
            .map(|m| tensor::<B, 4>(m, device))
            .transpose()?,
    })
}

/// How a line of the report was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path_ {
    /// From `model_input` and the transformed prompts of `inputs.safetensors`.
    ModelAlone,
    /// From `image.png` through our own pre-processing.
    Pipeline,
}

/// One compared tensor.
#[derive(Clone, Debug)]
pub struct ParityLine {
    /// Reference key.
    pub key: String,
    /// Which path produced it.
    pub path: Path_,
    /// Max absolute difference (for pipeline masks: the fraction of disagreeing pixels).
    pub max_abs_diff: f64,
    /// Tolerance it is held to.
    pub tolerance: f64,
}

impl ParityLine {
    /// Whether the difference is within tolerance.
    pub fn ok(&self) -> bool {
        self.max_abs_diff <= self.tolerance
    }
}

/// The checker's findings for one fixture directory.
#[derive(Clone, Debug)]
pub struct ParityReport {
    /// The fixture directory.
    pub dir: PathBuf,
    /// One line per compared tensor.
    pub lines: Vec<ParityLine>,
}

impl ParityReport {
    /// True when every line is within tolerance.
    pub fn passed(&self) -> bool {
        self.lines.iter().all(ParityLine::ok)
    }
}

struct Checker {
    reference: BTreeMap<String, Array>,
    ref_path: PathBuf,
    lines: Vec<ParityLine>,
}

impl Checker {
    /// `compare` when the reference holds `key`, else nothing.
    fn compare_opt<B: Backend, const D: usize>(
        &mut self,
        key: &str,
        ours: impl FnOnce() -> Tensor<B, D>,
        path: Path_,
    ) -> Result<(), SamError> {
        if self.reference.contains_key(key) {
            self.compare(key, ours(), path)?;
        }
        Ok(())
    }

    fn compare<B: Backend, const D: usize>(
        &mut self,
        key: &str,
        ours: Tensor<B, D>,
        path: Path_,
    ) -> Result<(), SamError> {
        let shape = ours.dims().to_vec();
        let r = get(&self.reference, key, &self.ref_path)?;
        let d = max_diff(&to_vec(ours), &shape, r);
        self.lines.push(ParityLine {
            key: key.into(),
            path,
            max_abs_diff: d,
            tolerance: MODEL_TOLERANCE,
        });
        Ok(())
    }
}

/// The `"model_type"` of a fixture's `config.json` (`None` when absent).
fn model_type(cfg_path: &Path, cfg_text: &str) -> Result<Option<String>, SamError> {
    let v: serde_json::Value = serde_json::from_str(cfg_text).map_err(|e| SamError::File {
        path: cfg_path.to_path_buf(),
        message: e.to_string(),
    })?;
    match v.get("model_type") {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(SamError::File {
            path: cfg_path.to_path_buf(),
            message: format!("`model_type` must be a string, got {other}"),
        }),
    }
}

/// The model input: `model_input` when the fixture has it, else `resized_image_u8` normalised
/// and padded by our own code (the same f32 arithmetic as the official `preprocess`).
fn model_input<B: Backend>(
    inputs: &BTreeMap<String, Array>,
    in_path: &Path,
    config: &SamConfig,
    device: &B::Device,
) -> Result<Tensor<B, 4>, SamError> {
    if let Some(m) = inputs.get("model_input") {
        return tensor(m, device);
    }
    let r = get(inputs, "resized_image_u8", in_path)?;
    let bad = || SamError::File {
        path: in_path.to_path_buf(),
        message: format!("`resized_image_u8` must be h x w x 3, got {:?}", r.shape),
    };
    if r.shape.len() != 3 || r.shape[2] != 3 {
        return Err(bad());
    }
    let raw: Vec<u8> = r.data.iter().map(|&v| v as u8).collect();
    let img =
        image::RgbImage::from_raw(r.shape[1] as u32, r.shape[0] as u32, raw).ok_or_else(bad)?;
    Ok(crate::preprocess::to_model_input(&img, config, device))
}

/// Checks one fixture directory on `device`.
pub fn check_fixture<B: Backend>(dir: &Path, device: &B::Device) -> Result<ParityReport, SamError> {
    let file_err = |p: PathBuf, m: String| SamError::File {
        path: p,
        message: m,
    };
    let cfg_path = dir.join("config.json");
    let cfg_text = std::fs::read_to_string(&cfg_path)
        .map_err(|e| file_err(cfg_path.clone(), e.to_string()))?;
    match model_type(&cfg_path, &cfg_text)?.as_deref() {
        None | Some("sam") | Some("mobile_sam") => {}
        Some("sam2") => {
            return Ok(ParityReport {
                dir: dir.to_path_buf(),
                lines: sam2::check::<B>(dir, &cfg_text, device)?,
            });
        }
        Some(other) => {
            return Err(file_err(
                cfg_path,
                format!("unknown model_type `{other}` (expected sam, mobile_sam or sam2)"),
            ));
        }
    }
    let config: SamConfig =
        serde_json::from_str(&cfg_text).map_err(|e| file_err(cfg_path.clone(), e.to_string()))?;
    let sam = Sam::<B>::new(&config, device)?.load_checkpoint(dir.join("model.safetensors"))?;
    let prompts_path = dir.join("prompts.json");
    let prompts_text = std::fs::read_to_string(&prompts_path)
        .map_err(|e| file_err(prompts_path.clone(), e.to_string()))?;
    let prompts: PromptsFile = serde_json::from_str(&prompts_text)
        .map_err(|e| file_err(prompts_path.clone(), e.to_string()))?;
    let in_path = dir.join("inputs.safetensors");
    let inputs = read_safetensors(&in_path)?;
    let ref_path = dir.join("reference.safetensors");
    let reference = read_safetensors(&ref_path)?;
    let mut ck = Checker {
        reference,
        ref_path,
        lines: Vec::new(),
    };

    // The model alone, from model_input.
    let resized = get(&inputs, "resized_image_u8", &in_path)?;
    let input_size = [resized.shape[0], resized.shape[1]];
    let original = prompts.original_size_hw;
    let emb = sam.embed_input(
        model_input(&inputs, &in_path, &config, device)?,
        input_size,
        original,
    );
    ck.compare(
        "image_embeddings",
        emb.embeddings.clone(),
        Path_::ModelAlone,
    )?;
    ck.compare_opt(
        "dense_pe",
        || sam.prompt_encoder.get_dense_pe(device),
        Path_::ModelAlone,
    )?;
    for case in &prompts.cases {
        let n = &case.name;
        let p = case_prompts::<B>(&inputs, n, device)?;
        let b = p.batch_size().map_err(SamError::Input)?;
        let (sparse, dense) = sam.prompt_encoder.forward(&p, b);
        if let Some(s) = sparse {
            ck.compare(&format!("{n}.sparse_embeddings"), s, Path_::ModelAlone)?;
        }
        ck.compare_opt(
            &format!("{n}.dense_embeddings"),
            || dense,
            Path_::ModelAlone,
        )?;
        let out = sam.decode(&emb, &p, case.multimask_output)?;
        ck.compare(
            &format!("{n}.low_res_logits"),
            out.low_res_logits.clone(),
            Path_::ModelAlone,
        )?;
        ck.compare(
            &format!("{n}.iou_predictions"),
            out.iou_predictions,
            Path_::ModelAlone,
        )?;
        ck.compare(
            &format!("{n}.masks_logits"),
            sam.postprocess(out.low_res_logits, &emb),
            Path_::ModelAlone,
        )?;
    }

    // The whole pipeline, from image.png.
    let img_path = dir.join("image.png");
    let image = image::open(&img_path)
        .map_err(|e| file_err(img_path.clone(), e.to_string()))?
        .to_rgb8();
    let ours = crate::preprocess::resize_longest_side(&image, config.img_size);
    let ours_u8: Vec<f32> = ours.as_raw().iter().map(|&v| v as f32).collect();
    let d = max_diff(
        &ours_u8,
        &[ours.height() as usize, ours.width() as usize, 3],
        resized,
    );
    ck.lines.push(ParityLine {
        key: "resized_image_u8".into(),
        path: Path_::Pipeline,
        max_abs_diff: d,
        tolerance: 0.0,
    });
    let emb = sam.embed(&image);
    let mut low_res: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for case in &prompts.cases {
        let row = PromptRow {
            points: case.points(),
            bbox: case.bbox,
            mask: case
                .mask_input_from
                .as_ref()
                .and_then(|m| low_res.get(m).cloned()),
        };
        let p = PromptBatch::new().with_row(row).build(&sam, &emb)?;
        let out = sam.decode(&emb, &p, case.multimask_output)?;
        let first: Tensor<B, 4> = {
            let [b, _, h, w] = out.low_res_logits.dims();
            out.low_res_logits.clone().slice([0..b, 0..1, 0..h, 0..w])
        };
        low_res.insert(case.name.clone(), to_vec(first));
        let key = format!("{}.masks_logits", case.name);
        let masks = sam.postprocess(out.low_res_logits, &emb);
        let shape = masks.dims().to_vec();
        let r = get(&ck.reference, &key, &ck.ref_path)?;
        let frac = mask_disagreement(&to_vec(masks), &shape, r, config.mask_threshold);
        ck.lines.push(ParityLine {
            key,
            path: Path_::Pipeline,
            max_abs_diff: frac,
            tolerance: PIPELINE_MASK_TOLERANCE,
        });
    }
    Ok(ParityReport {
        dir: dir.to_path_buf(),
        lines: ck.lines,
    })
}

/// Fraction of pixels where `ours > t` and `reference > t` disagree (1 when shapes differ).
fn mask_disagreement(ours: &[f32], shape: &[usize], reference: &Array, t: f32) -> f64 {
    if shape != reference.shape.as_slice() || ours.is_empty() {
        return 1.0;
    }
    let bad = ours
        .iter()
        .zip(&reference.data)
        .filter(|(a, b)| (**a > t) != (**b > t))
        .count();
    bad as f64 / ours.len() as f64
}
