//! The SAM 2 branch of the parity checker (`"model_type": "sam2"`): the model alone from
//! `model_input`, against the official image path and `_forward_sam_heads`.

use std::path::Path;

use burn::prelude::*;

use super::io::{Array, get, read_safetensors, tensor};
use super::{Checker, Path_, PromptsFile};
use crate::error::SamError;
use crate::prompt_encoder::Prompts;
use crate::sam2::Sam2Config;
use crate::sam2::prompt_encoder::as_sam2_points;
use crate::sam2::sam2::Sam2;
use std::collections::BTreeMap;

/// The prompts of one case from `inputs.safetensors`.
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

/// Checks a SAM 2 fixture directory whose `config.json` text is `cfg_text`.
pub(super) fn check<B: Backend>(
    dir: &Path,
    cfg_text: &str,
    device: &B::Device,
) -> Result<Vec<super::ParityLine>, SamError> {
    let file_err = |p: &Path, m: String| SamError::File {
        path: p.to_path_buf(),
        message: m,
    };
    let cfg_path = dir.join("config.json");
    let config: Sam2Config =
        serde_json::from_str(cfg_text).map_err(|e| file_err(&cfg_path, e.to_string()))?;
    let sam = Sam2::<B>::new(&config, device)?.load_checkpoint(dir.join("model.safetensors"))?;
    let prompts_path = dir.join("prompts.json");
    let text = std::fs::read_to_string(&prompts_path)
        .map_err(|e| file_err(&prompts_path, e.to_string()))?;
    let prompts: PromptsFile =
        serde_json::from_str(&text).map_err(|e| file_err(&prompts_path, e.to_string()))?;
    let in_path = dir.join("inputs.safetensors");
    let inputs = read_safetensors(&in_path)?;
    let ref_path = dir.join("reference.safetensors");
    let mut ck = Checker {
        reference: read_safetensors(&ref_path)?,
        ref_path,
        lines: Vec::new(),
    };
    let m = Path_::ModelAlone;
    let input = tensor(get(&inputs, "model_input", &in_path)?, device)?;
    let emb = sam.embed_input(input, prompts.original_size_hw);
    ck.compare("image_embeddings", emb.embeddings.clone(), m)?;
    for (i, f) in emb.high_res_features.iter().enumerate() {
        ck.compare_opt(&format!("high_res_feats.{i}"), || f.clone(), m)?;
    }
    for level in 0..3 {
        ck.compare_opt(
            &format!("vision_pos_enc.{level}"),
            || sam.vision_pos_enc(level),
            m,
        )?;
    }
    ck.compare_opt(
        "dense_pe",
        || sam.sam_prompt_encoder.get_dense_pe(device),
        m,
    )?;
    for case in &prompts.cases {
        let n = &case.name;
        let p = case_prompts::<B>(&inputs, n, device)?;
        let b = p.batch_size().map_err(SamError::Input)?;
        let (sparse, dense) = sam
            .sam_prompt_encoder
            .forward(&as_sam2_points(&p, b, device), b);
        if let Some(s) = sparse {
            ck.compare_opt(&format!("{n}.sparse_embeddings"), || s, m)?;
        }
        ck.compare_opt(&format!("{n}.dense_embeddings"), || dense, m)?;
        let out = sam.decode(&emb, &p, case.multimask_output)?;
        ck.compare(
            &format!("{n}.low_res_logits"),
            out.low_res_logits.clone(),
            m,
        )?;
        ck.compare(&format!("{n}.iou_predictions"), out.iou_predictions, m)?;
        ck.compare_opt(
            &format!("{n}.object_score_logits"),
            || out.object_score_logits,
            m,
        )?;
        ck.compare(
            &format!("{n}.masks_logits"),
            sam.postprocess(out.low_res_logits, &emb),
            m,
        )?;
    }
    Ok(ck.lines)
}
