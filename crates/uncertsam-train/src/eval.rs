//! Box-prompt IoU at the original resolution (`postprocess`, logits > 0), mean over masks.

use std::path::Path;

use serde::Serialize;
use uncertsam_data::prompts;
use uncertsam_sam::{PromptBatch, SamModel};

use crate::data::load_split;
use burn::prelude::Backend;

/// Mean box-prompt IoU of one split.
#[derive(Clone, Debug, Serialize)]
pub struct SplitIou {
    /// Dataset name, e.g. `Synth-Shadow`.
    pub dataset: String,
    /// Split name.
    pub split: String,
    /// Images evaluated.
    pub images: usize,
    /// Masks evaluated.
    pub masks: usize,
    /// Mean IoU over masks of the main model.
    pub mean_iou: f64,
    /// Mean IoU over masks of each ensemble member (decoders on the shared embedding).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub member_iou: Vec<f64>,
}

/// Per-mask box IoUs of `models[j]` on one image embedded by `models[0]`'s encoder (either
/// family; members share the main model's embedding).
fn image_ious<B: Backend>(
    models: &[SamModel<'_, B>],
    image: &image::RgbImage,
    masks: &[uncertsam_data::Mask],
) -> anyhow::Result<Vec<Vec<f64>>> {
    let main = models[0];
    let emb = main.embed(image);
    let mut batch = PromptBatch::new();
    for m in masks {
        batch = batch.with_box(prompts::tight_box(m).unwrap_or([0.0; 4]).map(f64::from));
    }
    let mut out = Vec::with_capacity(models.len());
    for model in models {
        let prompts = model.prompts(&batch, &emb)?;
        let decoded = model.decode(&emb, &prompts, false)?;
        let logits = model.postprocess(decoded.low_res_logits, &emb);
        let [_, _, h, w] = logits.dims();
        let values: Vec<f32> = logits.into_data().to_vec()?;
        out.push(
            masks
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    uncertsam_sam::frame::logit_iou(&values[i * h * w..(i + 1) * h * w], m.data())
                })
                .collect(),
        );
    }
    Ok(out)
}

/// Box-prompt mean IoU of the main model (and of each member) on `<root>/<dataset>/<split>`,
/// on at most `limit` images.
pub fn eval_split<B: Backend>(
    main: SamModel<'_, B>,
    members: &[SamModel<'_, B>],
    root: &Path,
    dataset: &str,
    split: &str,
    limit: Option<usize>,
) -> anyhow::Result<SplitIou> {
    let images = load_split(root, dataset, split, limit)?;
    let models: Vec<SamModel<'_, B>> = std::iter::once(main)
        .chain(members.iter().copied())
        .collect();
    let mut sums = vec![0f64; models.len()];
    let mut masks = 0;
    for item in &images {
        let ious = image_ious(&models, &item.image, &item.masks)?;
        for (s, v) in sums.iter_mut().zip(&ious) {
            *s += v.iter().sum::<f64>();
        }
        masks += item.masks.len();
    }
    let mean = |s: f64| s / masks.max(1) as f64;
    Ok(SplitIou {
        dataset: dataset.to_owned(),
        split: split.to_owned(),
        images: images.len(),
        masks,
        mean_iou: mean(sums[0]),
        member_iou: sums[1..].iter().map(|&s| mean(s)).collect(),
    })
}
