//! The fitted estimators of a run and their data: the clean-training-split `FitSample` stream
//! (`Synth-Clean/train`, tight box prompts), and the resolution of the registry's presets that
//! need files for the run's model: the embedded default's ensemble members, variance network
//! and Laplace fits (`fixtures/default/<name>/`) when the run uses that model, else Laplace
//! fitted once per run (`<out>/fitted/<name>/`, see [`FitCache`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uncertsam_data::{Sample, SampleSource, UncertSamSplit};
use uncertsam_estimate::{
    EncodedImage, EnsembleConfig, EstimatorConfig, Fit, FitSample, LaplaceConfig, LaplaceEstimator,
    LaplaceFiles, Persist, Segmenter, VarianceNetFiles,
};

use crate::args::{BenchArgs, PromptKind};
use crate::fit_cache::FitCache;
use crate::inputs::{embedded_dir, project_root, prompt_rows, uses_embedded_model};

/// Clean training images the benchmark fits Laplace on when no fitted posterior is embedded
/// (`--quick`: [`QUICK_FIT_IMAGES`]).
pub const LAPLACE_FIT_IMAGES: usize = 60;
/// Clean training images of an on-the-fly fit with `--quick`.
pub const QUICK_FIT_IMAGES: usize = 8;

/// The ground-truth masks of `sample` as `[b, h, w]` in {0, 1}.
fn gt_tensor<B: Backend>(sample: &Sample, device: &B::Device) -> Tensor<B, 3> {
    let (h, w) = (
        sample.image.height() as usize,
        sample.image.width() as usize,
    );
    let values: Vec<f32> = sample
        .masks
        .iter()
        .flat_map(|m| m.mask.data().iter().map(|&v| f32::from(u8::from(v != 0))))
        .collect();
    Tensor::from_data(TensorData::new(values, [sample.masks.len(), h, w]), device)
}

/// Streams the first `images` samples of `Synth-Clean/train` under `data` as fitting samples
/// (each image encoded once, one tight box per mask). Unreadable samples are skipped with a
/// message, as `bench` skips them.
pub fn fit_samples<'a, B: Backend>(
    sam: &'a dyn Segmenter<B>,
    data: &Path,
    images: Option<usize>,
    seed: u64,
) -> Result<impl Iterator<Item = FitSample<B>> + 'a> {
    let split = UncertSamSplit::open(data, "Synth-Clean", "train")?;
    let n = images.unwrap_or(usize::MAX).min(split.len());
    Ok((0..n).filter_map(move |i| {
        let sample = match split.get(i) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipping Synth-Clean/train #{i}: {e}");
                return None;
            }
        };
        let prompts = match prompt_rows(&sample, PromptKind::Box, seed) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("skipping Synth-Clean/train #{i}: {e:#}");
                return None;
            }
        };
        let gt = gt_tensor(&sample, &sam.model().device());
        Some(FitSample {
            image: EncodedImage::new(sam, sample.image),
            prompts,
            gt,
        })
    }))
}

/// The fixture directory of a fitted estimator of the run's embedded default model
/// (`fixtures/default/<name>` or `fixtures/default-sam2/<name>`); `None` for another model.
pub fn default_fitted_dir(args: &BenchArgs, name: &str) -> Option<PathBuf> {
    embedded_dir(args).map(|d| d.join(name))
}

/// Whether building `args.estimators` fits a Laplace posterior on `--data` (a `laplace*`
/// estimator without a committed fit of the embedded model), so the data must be there.
pub fn fits_on_data(args: &BenchArgs) -> bool {
    args.estimators.iter().any(|e| {
        e.starts_with("laplace")
            && !default_fitted_dir(args, e)
                .is_some_and(|d| d.join(uncertsam_estimate::LAPLACE_ESTIMATOR_FILE).exists())
    })
}

/// The embedded default's fit of a Laplace configuration: `fixtures/default/laplace_probit` or
/// `laplace_paper` when `config` fits the same posterior as that preset and the run uses the
/// embedded model.
fn embedded_laplace(args: &BenchArgs, config: &LaplaceConfig) -> Option<PathBuf> {
    let name = preset_laplace_name(config)?;
    let dir = default_fitted_dir(args, name)?;
    let fitted = dir
        .join(uncertsam_estimate::LAPLACE_ESTIMATOR_FILE)
        .exists();
    fitted.then_some(dir)
}

/// `laplace_probit` / `laplace_paper` for the posteriors of those presets (any predictive).
fn preset_laplace_name(config: &LaplaceConfig) -> Option<&'static str> {
    if config.same_fit(&LaplaceConfig::probit()) {
        Some("laplace_probit")
    } else if config.same_fit(&LaplaceConfig::paper(1)) {
        Some("laplace_paper")
    } else {
        None
    }
}

/// The name of the run's own fit of `config` (`<out>/fitted/<name>/`): the preset's name, else
/// the configuration's with its predictive left out (it does not change the fit).
fn fit_name(config: &LaplaceConfig) -> String {
    let fit = LaplaceConfig {
        predictive: uncertsam_estimate::LaplacePredictive::Probit,
        ..*config
    };
    preset_laplace_name(config).map_or_else(|| fit.name(), String::from)
}

/// Resolves a configuration whose files depend on the run's model: `Ok(None)` (with a note)
/// for an ensemble or variance network this model has none of; a Laplace fit loads the
/// embedded one or is fitted once per run; everything else is returned as is.
pub fn resolve<B: Backend>(
    sam: &dyn Segmenter<B>,
    args: &BenchArgs,
    config: EstimatorConfig,
) -> Result<Option<EstimatorConfig>> {
    Ok(match config {
        EstimatorConfig::Ensemble(c) if c.members.is_empty() => {
            ensemble_members(args).map(|members| {
                EstimatorConfig::Ensemble(EnsembleConfig {
                    members,
                    include_base: c.include_base,
                })
            })
        }
        EstimatorConfig::VarianceNet(VarianceNetFiles { dir: None }) => variance_net_dir(args)
            .map(|dir| EstimatorConfig::VarianceNet(VarianceNetFiles { dir: Some(dir) })),
        EstimatorConfig::LaplaceFit(c) => {
            let dir = match embedded_laplace(args, &c) {
                Some(dir) => dir,
                None => fit_once(sam, args, &c)?,
            };
            Some(EstimatorConfig::Laplace(LaplaceFiles {
                dir,
                predictive: Some(c.predictive),
            }))
        }
        other => Some(other),
    })
}

/// The embedded default's ensemble members (`<embedded>/ensemble/*.safetensors`), when the run
/// uses an embedded model.
fn ensemble_members(args: &BenchArgs) -> Option<Vec<PathBuf>> {
    let dir = default_fitted_dir(args, "ensemble")
        .unwrap_or_else(|| project_root().join("fixtures/default/ensemble"));
    let mut members: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect()
        })
        .unwrap_or_default();
    members.sort();
    if members.is_empty() || !uses_embedded_model(args) {
        args.note(format_args!(
            "skipping `ensemble`: no members for this model in {}",
            dir.display()
        ));
        return None;
    }
    Some(members)
}

/// `<embedded>/variance_net/` for an embedded model, if it was trained (`uncertsam fit
/// --estimator variance_net`).
fn variance_net_dir(args: &BenchArgs) -> Option<PathBuf> {
    let dir = default_fitted_dir(args, "variance_net")
        .unwrap_or_else(|| project_root().join("fixtures/default/variance_net"));
    if !uses_embedded_model(args) || !dir.join("variance_net.json").exists() {
        args.note(format_args!(
            "skipping `variance_net`: no trained head for this model in {}",
            dir.display()
        ));
        return None;
    }
    Some(dir)
}

/// The run's own fit of `config` on the first [`LAPLACE_FIT_IMAGES`] clean training images
/// (fitted now unless a fresh one is cached); returns its directory.
fn fit_once<B: Backend>(
    sam: &dyn Segmenter<B>,
    args: &BenchArgs,
    config: &LaplaceConfig,
) -> Result<PathBuf> {
    let name = fit_name(config);
    let images = if args.quick {
        QUICK_FIT_IMAGES
    } else {
        LAPLACE_FIT_IMAGES
    };
    let marker = uncertsam_estimate::LAPLACE_ESTIMATOR_FILE;
    let cache = FitCache::for_run(args, &name, images, marker);
    if !cache.is_fresh() {
        crate::args::log_line(format_args!(
            "fitting {name} on {images} clean training images into {}",
            cache.dir().display()
        ));
        let mut data = fit_samples(sam, &args.data, Some(images), args.seed)?;
        let fitted = config
            .fit(sam, &mut data, &mut ChaCha8Rng::seed_from_u64(args.seed))
            .with_context(|| format!("fitting {name} on Synth-Clean/train"))?;
        cache.publish(|dir| Ok(<LaplaceEstimator as Persist<B>>::save(&fitted, dir)?))?;
    }
    Ok(cache.dir().to_path_buf())
}

/// Fits, once, the Laplace configurations among `configs` that this run must fit itself (see
/// [`FitCache`]), so that the workers of `--jobs` load them instead of each fitting its own.
pub fn prefit_laplace<B: Backend>(
    args: &BenchArgs,
    configs: &[EstimatorConfig],
    device: &B::Device,
) -> Result<()> {
    let fits: Vec<&LaplaceConfig> = configs
        .iter()
        .filter_map(|c| match c {
            EstimatorConfig::LaplaceFit(c) if embedded_laplace(args, c).is_none() => Some(c),
            _ => None,
        })
        .collect();
    if fits.is_empty() {
        return Ok(());
    }
    let (sam, _) = crate::inputs::load_model::<B>(args, device)?;
    for config in fits {
        fit_once(&sam, args, config)?;
    }
    Ok(())
}
