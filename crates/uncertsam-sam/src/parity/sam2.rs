//! The SAM 2 branch of the parity checker (`"model_type": "sam2"`): the model alone from
//! `model_input`, against the official image path and `_forward_sam_heads`; and, for the cases
//! with `<case>.pipeline.*` references, the whole pipeline from `image.png` against
//! `SAM2ImagePredictor` (with the paper's NO_OBJ masking).

use std::path::Path;

use burn::prelude::*;

use super::io::{Array, get, max_diff, read_safetensors, tensor, to_vec};
use super::{Case, Checker, MODEL_TOLERANCE, ParityLine, Path_, PromptsFile, case_prompts};
use crate::error::SamError;
use crate::prompt::{PromptBatch, PromptRow};
use crate::sam2::Sam2Config;
use crate::sam2::preprocess::sam2_input_values;
use crate::sam2::prompt_encoder::as_sam2_points;
use crate::sam2::sam2::Sam2;
use std::collections::BTreeMap;

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
    pipeline(&sam, dir, &prompts, &inputs, &in_path, &mut ck)?;
    Ok(ck.lines)
}

/// The whole pipeline from `image.png` (our `SAM2Transforms`, prompts in original pixels,
/// the resize to the original size) for every case with a `<case>.pipeline.masks_logits`
/// reference: logits and scores within [`MODEL_TOLERANCE`], and the binary masks (`> 0`)
/// identical except where the reference logit is within [`MODEL_TOLERANCE`] of 0
/// (`<case>.pipeline.masks`, a count of such pixels, must be 0).
fn pipeline<B: Backend>(
    sam: &Sam2<B>,
    dir: &Path,
    prompts: &PromptsFile,
    inputs: &BTreeMap<String, Array>,
    in_path: &Path,
    ck: &mut Checker,
) -> Result<(), SamError> {
    let cases: Vec<&Case> = prompts
        .cases
        .iter()
        .filter(|c| {
            ck.reference
                .contains_key(&format!("{}.pipeline.masks_logits", c.name))
        })
        .collect();
    if cases.is_empty() {
        return Ok(());
    }
    let img_path = dir.join("image.png");
    let image = image::open(&img_path)
        .map_err(|e| SamError::File {
            path: img_path.clone(),
            message: e.to_string(),
        })?
        .to_rgb8();
    let size = sam.config().image_size;
    let p = Path_::Pipeline;
    ck.lines.push(ParityLine {
        key: "model_input".into(),
        path: p,
        max_abs_diff: max_diff(
            &sam2_input_values(&image, size),
            &[1, 3, size, size],
            get(inputs, "model_input", in_path)?,
        ),
        tolerance: MODEL_TOLERANCE,
    });
    let emb = sam.embed(&image);
    for case in cases {
        let n = &case.name;
        let row = PromptRow {
            points: case.points(),
            bbox: case.bbox,
            mask: inputs
                .get(&format!("{n}.mask_input"))
                .map(|a| a.data.clone()),
        };
        let prompts = PromptBatch::new().with_row(row).build_sam2(sam, &emb)?;
        let out = sam.decode(&emb, &prompts, case.multimask_output)?;
        ck.compare(&format!("{n}.pipeline.scores"), out.iou_predictions, p)?;
        let masks = sam.postprocess(out.low_res_logits, &emb);
        let shape = masks.dims().to_vec();
        let ours = to_vec(masks);
        let key = format!("{n}.pipeline.masks_logits");
        let r = get(&ck.reference, &key, &ck.ref_path)?;
        let flips = if shape == r.shape {
            ours.iter()
                .zip(&r.data)
                .filter(|(a, b)| (**a > 0.0) != (**b > 0.0) && b.abs() as f64 > MODEL_TOLERANCE)
                .count() as f64
        } else {
            f64::INFINITY
        };
        let d = max_diff(&ours, &shape, r);
        ck.lines.push(ParityLine {
            key: key.clone(),
            path: p,
            max_abs_diff: d,
            tolerance: MODEL_TOLERANCE,
        });
        ck.lines.push(ParityLine {
            key: format!("{n}.pipeline.masks"),
            path: p,
            max_abs_diff: flips,
            tolerance: 0.0,
        });
    }
    Ok(())
}
