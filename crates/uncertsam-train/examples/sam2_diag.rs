//! Why does a trained tiny SAM 2 score what it scores? Box-prompt object scores and the IoU of
//! the chosen mask and of each raw output token, on the first images of one split.
//!
//! `cargo run --release -p uncertsam-train --example sam2_diag -- DIR [DATASET] [SPLIT] [IMAGES]`
//! with `DIR` holding `config.json` and `sam.safetensors` (as `uncertsam train --model sam2
//! --out DIR` writes them); defaults `Synth-Clean`, `test`, 20 images of `target/synth`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::backend::NdArray;
use uncertsam_data::prompts::tight_box;
use uncertsam_sam::frame::logit_iou;
use uncertsam_sam::{PromptBatch, Sam2, Sam2Config};

type B = NdArray<f32>;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .context("usage: sam2_diag DIR [DATASET] [SPLIT] [IMAGES]")?,
    );
    let dataset = args.get(1).map_or("Synth-Clean", String::as_str);
    let split = args.get(2).map_or("test", String::as_str);
    let limit: usize = args.get(3).map_or(Ok(20), |v| v.parse())?;
    let device = Default::default();
    let cfg_path = dir.join("config.json");
    let cfg: Sam2Config = serde_json::from_str(
        &std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("reading {}", cfg_path.display()))?,
    )
    .with_context(|| format!("parsing {}", cfg_path.display()))?;
    let sam = Sam2::<B>::new(&cfg, &device)?.load_checkpoint(dir.join("sam.safetensors"))?;
    let images =
        uncertsam_train::data::load_split(Path::new("target/synth"), dataset, split, Some(limit))?;

    let mut scores = Vec::new();
    let (mut chosen_sum, mut token_sums) = (0f64, Vec::<f64>::new());
    // Where the chosen mask's foreground lies: the share inside the prompt box, its area over
    // the object's, and its IoU with the union of all objects of the image.
    let (mut inside_sum, mut area_ratio_sum, mut union_iou_sum) = (0f64, 0f64, 0f64);
    for item in &images {
        let emb = sam.embed(&item.image);
        let mut batch = PromptBatch::new();
        for m in &item.masks {
            batch = batch.with_box(tight_box(m).unwrap_or([0.0; 4]).map(f64::from));
        }
        let decoded = sam.decode(&emb, &batch.build_sam2(&sam, &emb)?, false)?;
        scores.extend(
            decoded
                .object_score_logits
                .clone()
                .into_data()
                .to_vec::<f32>()?,
        );
        let chosen = sam.postprocess(decoded.low_res_logits, &emb);
        let [_, _, h, w] = chosen.dims();
        let chosen: Vec<f32> = chosen.into_data().to_vec()?;
        let raw = sam.postprocess(decoded.all.masks, &emb);
        let tokens = raw.dims()[1];
        let raw: Vec<f32> = raw.into_data().to_vec()?;
        token_sums.resize(tokens, 0.0);
        let union: Vec<u8> = (0..h * w)
            .map(|p| u8::from(item.masks.iter().any(|m| m.data()[p] != 0)))
            .collect();
        for (i, m) in item.masks.iter().enumerate() {
            let logits = &chosen[i * h * w..(i + 1) * h * w];
            chosen_sum += logit_iou(logits, m.data());
            union_iou_sum += logit_iou(logits, &union);
            let [x0, y0, x1, y1] = tight_box(m).unwrap_or([0.0; 4]);
            let (mut fg, mut inside) = (0usize, 0usize);
            for (p, &v) in logits.iter().enumerate() {
                if v > 0.0 {
                    fg += 1;
                    let (x, y) = ((p % w) as f32, (p / w) as f32);
                    inside += usize::from(x >= x0 && x <= x1 && y >= y0 && y <= y1);
                }
            }
            inside_sum += inside as f64 / fg.max(1) as f64;
            area_ratio_sum += fg as f64 / m.area().max(1) as f64;
            for (t, sum) in token_sums.iter_mut().enumerate() {
                let at = (i * tokens + t) * h * w;
                *sum += logit_iou(&raw[at..at + h * w], m.data());
            }
        }
    }
    let n = scores.len();
    anyhow::ensure!(n > 0, "no masks in {dataset}/{split}");
    scores.sort_by(f32::total_cmp);
    let no_obj = scores.iter().filter(|&&s| s <= 0.0).count();
    println!(
        "{dataset}/{split}: {} images, {n} masks; object score <= 0 (NO_OBJ): {no_obj}; \
         min / quartiles / max {:?}",
        images.len(),
        [0, n / 4, n / 2, 3 * n / 4, n - 1].map(|i| scores[i])
    );
    let per_token: Vec<String> = token_sums
        .iter()
        .map(|s| format!("{:.3}", s / n as f64))
        .collect();
    println!(
        "mean box IoU: chosen mask {:.3}; raw tokens {}",
        chosen_sum / n as f64,
        per_token.join(" / ")
    );
    println!(
        "chosen mask: share of its foreground inside the box {:.3}; area / object area {:.3}; \
         IoU with the union of the image's objects {:.3}",
        inside_sum / n as f64,
        area_ratio_sum / n as f64,
        union_iou_sum / n as f64
    );
    Ok(())
}
