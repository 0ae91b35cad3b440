//! Procedural domain-shift benchmark, written in the UncertSAM layout so the benchmark reads it
//! through the same loader as the real datasets.
//!
//! `Synth-Clean` has `train`, `val` and `test`; each shifted condition is one more dataset
//! with a `test` split: `Synth-Shadow`, `Synth-Transparency`, `Synth-Camouflage`, `Synth-CT`,
//! `Synth-Flare` and `Synth-Fine`. Every image is drawn from its own random stream, derived
//! by [`crate::SampleSeed`] from `(seed, "<dataset>/<split>", index)`, so the output does not
//! depend on generation order and one seed always gives byte-identical files.
//!
//! ```no_run
//! use uncertsam_data::synth::{SynthConfig, generate};
//! let summary = generate(&SynthConfig::default(), "data/synth")?;
//! println!("{} images, {} masks", summary.images(), summary.masks());
//! # Ok::<(), uncertsam_data::DataError>(())
//! ```

mod canvas;
mod ct;
mod effects;
mod render;
mod rendered;
mod shapes;
pub mod texture;
mod write;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::datasets::SYNTH_DATASETS;
use crate::error::DataError;
use crate::seed::{IMAGE_LEVEL, SampleSeed, streams};

pub use canvas::Canvas;
pub use shapes::{Segment, Shape};

/// The imaging condition of a synthetic dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Textured backgrounds with opaque blobs, polygons and branching objects.
    Clean,
    /// Dark soft shadows next to objects (not part of any mask), sometimes without an object.
    Shadow,
    /// Alpha-blended, refracting objects with a bright rim.
    Transparency,
    /// Objects filled with the background's own texture, offset.
    Camouflage,
    /// Grayscale CT-like slices: low-contrast organs in a body, Gaussian noise.
    Ct,
    /// Glare, streaks and ghosts of a light source over an object.
    Flare,
    /// Objects with thin legs and thin branching structures that the masks keep.
    Fine,
}

impl Condition {
    /// All shifted conditions, in the order they are generated.
    pub const SHIFTS: [Self; 6] = [
        Self::Shadow,
        Self::Transparency,
        Self::Camouflage,
        Self::Ct,
        Self::Flare,
        Self::Fine,
    ];

    /// The dataset directory name, e.g. `Synth-Shadow`.
    pub fn dataset_name(self) -> &'static str {
        let i = match self {
            Self::Clean => 0,
            Self::Shadow => 1,
            Self::Transparency => 2,
            Self::Camouflage => 3,
            Self::Ct => 4,
            Self::Flare => 5,
            Self::Fine => 6,
        };
        SYNTH_DATASETS[i].name
    }
}

/// What to generate. Missing fields take their defaults when deserialised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    /// Global seed.
    pub seed: u64,
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// `Synth-Clean/train` images.
    pub train: usize,
    /// `Synth-Clean/val` images.
    pub val: usize,
    /// `Synth-Clean/test` images.
    pub test: usize,
    /// `test` images of each shifted dataset.
    pub shifted_test: usize,
    /// Which shifted datasets to write.
    pub shifts: Vec<Condition>,
    /// Most objects per image (at least one is always drawn).
    pub max_instances: usize,
    /// JPEG quality, 1 to 100.
    pub jpeg_quality: u8,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            width: 256,
            height: 256,
            train: 200,
            val: 40,
            test: 40,
            shifted_test: 30,
            shifts: Condition::SHIFTS.to_vec(),
            max_instances: 4,
            jpeg_quality: 90,
        }
    }
}

impl SynthConfig {
    /// The `(condition, split, count)` triples this config generates.
    pub fn splits(&self) -> Vec<(Condition, &'static str, usize)> {
        let mut out = vec![
            (Condition::Clean, "train", self.train),
            (Condition::Clean, "val", self.val),
            (Condition::Clean, "test", self.test),
        ];
        out.extend(self.shifts.iter().map(|&c| (c, "test", self.shifted_test)));
        out
    }

    fn validate(&self) -> Result<(), DataError> {
        let reason = if self.width < 16 || self.height < 16 {
            "width and height must be at least 16"
        } else if self.width > 8192 || self.height > 8192 {
            "width and height must be at most 8192"
        } else if self.max_instances == 0 {
            "max_instances must be at least 1"
        } else if !(1..=100).contains(&self.jpeg_quality) {
            "jpeg_quality must be between 1 and 100"
        } else if self.shifts.contains(&Condition::Clean) {
            "shifts must not contain clean"
        } else {
            return Ok(());
        };
        Err(DataError::InvalidConfig {
            reason: reason.to_owned(),
        })
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthSummary {
    /// One entry per written split.
    pub splits: Vec<SplitSummary>,
}

/// One written split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitSummary {
    /// Dataset name, e.g. `Synth-Shadow`.
    pub dataset: String,
    /// `train`, `val` or `test`.
    pub split: String,
    /// The split directory.
    pub dir: PathBuf,
    /// Images written.
    pub images: usize,
    /// Instance masks written.
    pub masks: usize,
}

impl SynthSummary {
    /// Total images.
    pub fn images(&self) -> usize {
        self.splits.iter().map(|s| s.images).sum()
    }

    /// Total instance masks.
    pub fn masks(&self) -> usize {
        self.splits.iter().map(|s| s.masks).sum()
    }
}

/// Generates the benchmark under `out_dir` (created if needed) and writes
/// `out_dir/synth-config.json`. Existing `*.jpg` files in the written `images/` folders that
/// this run does not produce are removed, so a smaller rerun leaves no stale images.
pub fn generate(
    config: &SynthConfig,
    out_dir: impl AsRef<Path>,
) -> Result<SynthSummary, DataError> {
    config.validate()?;
    let out_dir = out_dir.as_ref();
    let mut splits = Vec::new();
    for (condition, split, count) in config.splits() {
        let dataset = condition.dataset_name();
        let dir = out_dir.join(dataset).join(split);
        let mut writer = write::SplitWriter::create(&dir)?;
        let indices: Vec<u64> = (0..count as u64).collect();
        // Images are rendered and encoded in parallel, a bounded chunk at a time, and written
        // in index order; each image has its own stream, so the bytes do not depend on threads.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        for chunk in indices.chunks(threads * 16) {
            let encoded = parallel_map(chunk, threads, |&index| {
                let (image, masks) = render_one(config, condition, split, index);
                write::encode_jpeg(&image, config.jpeg_quality).map(|jpeg| (index, jpeg, masks))
            });
            for item in encoded {
                let (index, jpeg, masks) = item.map_err(|source| DataError::Image {
                    path: dir.join("images"),
                    cause: source,
                })?;
                writer.add(index, &jpeg, &masks)?;
            }
        }
        let (images, masks) = writer.finish()?;
        splits.push(SplitSummary {
            dataset: dataset.to_owned(),
            split: split.to_owned(),
            dir,
            images,
            masks,
        });
    }
    let json = serde_json::to_vec_pretty(config).map_err(|e| DataError::io(out_dir, e.into()))?;
    crate::atomic::write(&out_dir.join("synth-config.json"), &json)?;
    Ok(SynthSummary { splits })
}

/// Renders one synthetic image and its masks in memory (the same pixels [`generate`] encodes
/// for `(config.seed, condition, split, index)`, before JPEG compression).
pub fn render_one(
    config: &SynthConfig,
    condition: Condition,
    split: &str,
    index: u64,
) -> (image::RgbImage, Vec<crate::Mask>) {
    let stream = format!("{}/{split}", condition.dataset_name());
    let mut rng = SampleSeed::new(config.seed, &stream, index, IMAGE_LEVEL).rng(streams::SYNTH);
    let rendered = render::render(
        condition,
        config.height,
        config.width,
        config.max_instances,
        &mut rng,
    );
    (rendered.canvas.to_image(), rendered.masks)
}

/// Maps `f` over `items` on up to `threads` scoped threads, keeping the order.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let per_thread = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per_thread)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}
