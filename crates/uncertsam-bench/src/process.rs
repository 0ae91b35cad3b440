//! One image of a run: the encoder once, every estimator on the image's masks, the per-mask
//! metrics, the gallery strip of the first images, and the refinement rows of the driving
//! estimators.

use anyhow::{Context, Result};
use burn::prelude::*;
use uncertsam_data::{Sample, SampleSeed};
use uncertsam_estimate::{EncodedImage, Segmenter, UncertaintyEstimator};
use uncertsam_metrics::{CalibrationAccumulator, MaskInputs, mask_metrics_with_calibration};
use uncertsam_sam::frame::to_host;

use crate::args::BenchArgs;
use crate::gallery::{GALLERY_IMAGES, StripMaps, write_strip};
use crate::inputs::prompt_rows;
use crate::parts::{EstimatorPart, RefinePart, Row};
use crate::refine_rows::RefinePlan;

/// Runs every estimator on one image, and the refinement rows of the driving estimators.
pub fn process<B: Backend>(
    sam: &dyn Segmenter<B>,
    estimators: &[Box<dyn UncertaintyEstimator<B>>],
    refine: &RefinePlan<B>,
    sample: &Sample,
    index: usize,
    args: &BenchArgs,
) -> Result<(Vec<EstimatorPart>, Vec<RefinePart>)> {
    let encoded = EncodedImage::new(sam, sample.image.clone());
    let emb = &encoded.embedding;
    let prompts = prompt_rows(sample, args.prompt, args.seed)?;
    let (h, w) = (
        sample.image.height() as usize,
        sample.image.width() as usize,
    );
    let mut parts = Vec::with_capacity(estimators.len());
    let mut refined = Vec::new();
    for est in estimators {
        let name = est.name();
        let mut rng = SampleSeed::image(args.seed, &sample.dataset, sample.image_id)
            .rng(&format!("estimator/{name}"));
        let estimate = est
            .estimate(sam, &encoded, &prompts, &mut rng)
            .with_context(|| format!("estimator {name}"))?;
        let uncertainty = estimate.maps.primary_map().clone();
        refined.extend(refine.run(
            sam.model(),
            &encoded,
            &prompts,
            &name,
            &estimate.logits,
            &uncertainty,
            sample,
            args.seed,
        ));
        let host = |t, what| to_host(sam.upsample(t, emb), what);
        let logits = host(estimate.logits, "logits")?;
        let prob: Vec<f32> = logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect();
        let unc = host(uncertainty, "uncertainty")?;
        let std = estimate.maps.std.map(|s| host(s, "std")).transpose()?;
        let iou = to_host(estimate.iou, "iou")?;
        if let (true, Some(m)) = (index < GALLERY_IMAGES, sample.masks.first()) {
            let maps = StripMaps {
                gt: m.mask.data(),
                logits: &logits[..h * w],
                uncertainty: &unc[..h * w],
            };
            write_strip(
                &args.out,
                &sample.dataset,
                index,
                &name,
                &sample.image,
                &maps,
            )?;
        }
        let mut rows = Vec::with_capacity(sample.masks.len());
        let mut calibration = CalibrationAccumulator::new();
        for (i, m) in sample.masks.iter().enumerate() {
            let r = i * h * w..(i + 1) * h * w;
            let pred: Vec<u8> = logits[r.clone()]
                .iter()
                .map(|&l| u8::from(l > 0.0))
                .collect();
            let mut inputs = MaskInputs::new(
                &pred,
                m.mask.data(),
                &prob[r.clone()],
                &unc[r.clone()],
                h,
                w,
            )
            .with_iou_pred(f64::from(iou[i]));
            if let Some(s) = &std {
                inputs = inputs.with_std(&s[r.clone()]);
            }
            let (metrics, cal) = mask_metrics_with_calibration(&inputs).with_context(|| {
                format!(
                    "{}: mask {} under {name}",
                    sample.image_path.display(),
                    m.id
                )
            })?;
            calibration.merge(&cal);
            rows.push(Row::new(m.id, Some(f64::from(iou[i])), &metrics));
        }
        parts.push(EstimatorPart {
            name,
            rows,
            calibration,
        });
    }
    Ok((parts, refined))
}
