//! The run driver: prepares the run directory, loads the inputs, builds the registry's
//! estimators, and processes every image of this shard into one part file per image (finished
//! parts are skipped, so a killed run resumes).

use anyhow::{Result, bail};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use uncertsam_data::{SampleSource, UncertSamSplit};

use crate::args::{BenchArgs, parse_shard};
use crate::inputs::{datasets, load_model};
use crate::parts::{Part, part_path, write_part};
use crate::process::process;
use crate::refine_rows::RefinePlan;
use crate::registry::{ExternalEstimators, Registry};

/// Images per split with `--quick`.
const QUICK_IMAGES: usize = 3;

/// Before a run: generates the synthetic benchmark into `--data` when it is the default root and
/// absent (any other missing `--data` is an error), and refuses an `--out` that already holds
/// results unless `--resume` is given. A worker of `--jobs` starts following its parent here.
pub fn prepare(args: &BenchArgs) -> Result<()> {
    crate::parent_death::follow_parent();
    crate::data_checks::ensure_data(args)?;
    if !args.resume && args.out.join("parts").exists() {
        bail!(
            "{} already holds results; pass --resume to continue it, or choose another --out",
            args.out.display()
        );
    }
    Ok(())
}

/// Runs this shard; returns the number of images processed and skipped as bad.
pub fn run<B: Backend, E: ExternalEstimators>(
    args: &BenchArgs,
    registry: &Registry<'_, E>,
    device: &B::Device,
) -> Result<(usize, usize)> {
    let (shard, shards) = parse_shard(&args.shard).map_err(anyhow::Error::msg)?;
    prepare(args)?;
    let (sam, model) = load_model::<B>(args, device)?;
    let estimators = registry.build(&sam, args)?;
    let names: Vec<String> = estimators.iter().map(|e| e.name()).collect();
    let refine = RefinePlan::build(sam.model(), args, &names)?;
    let meta = serde_json::json!({ "model": model, "estimators": names, "prompt": format!("{:?}", args.prompt),
        "seed": args.seed, "samples": args.samples, "split": args.split, "quick": args.quick,
        "refinement": refine.describe() });
    crate::parts::write_atomic(
        &args.out.join("run.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    let (mut done, mut bad) = (0, 0);
    let mut unreadable = Vec::new();
    for dataset in datasets(args)? {
        let split = match UncertSamSplit::open(&args.data, &dataset, &args.split) {
            Ok(s) => s,
            Err(e) => {
                crate::args::log_line(format_args!("skipping dataset {dataset}: {e}"));
                unreadable.push(format!("{dataset}: {e}"));
                continue;
            }
        };
        let n = if args.quick {
            split.len().min(QUICK_IMAGES)
        } else {
            split.len()
        };
        let mine: Vec<usize> = (0..n).filter(|i| i % shards == shard).collect();
        let bar = if args.secondary_worker {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(mine.len() as u64)
        };
        let bar = bar.with_style(
            ProgressStyle::with_template("{prefix:>20} {bar:30} {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(dataset.clone());
        for index in mine {
            bar.inc(1);
            if part_path(&args.out, &dataset, index).exists() {
                continue;
            }
            let part = match split.get(index).map_err(anyhow::Error::from).and_then(|s| {
                let parts = process(&sam, &estimators, &refine, &s, index, args)?;
                Ok((s.image_id, parts))
            }) {
                Ok((image_id, (estimators, refinement))) => {
                    done += 1;
                    Part {
                        dataset: dataset.clone(),
                        index,
                        image_id: Some(image_id),
                        estimators,
                        refinement,
                        error: None,
                        masks_requested: split.masks_requested(index),
                    }
                }
                Err(e) => {
                    bad += 1;
                    let msg = format!("{e:#}");
                    bar.suspend(|| {
                        crate::args::log_line(format_args!("skipping {dataset} #{index}: {msg}"))
                    });
                    Part {
                        dataset: dataset.clone(),
                        index,
                        image_id: split.image_id(index),
                        estimators: vec![],
                        refinement: vec![],
                        error: Some(msg),
                        masks_requested: split.masks_requested(index),
                    }
                }
            };
            write_part(&args.out, &part)?;
        }
        bar.finish();
    }
    crate::data_checks::fail_on_unreadable(args, &unreadable)?;
    Ok((done, bad))
}
