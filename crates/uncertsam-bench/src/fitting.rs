//! Fitted estimators on the clean training split (`Synth-Clean/train`, tight box prompts):
//! the `FitSample` stream, the benchmark's Laplace and variance-network entries (loaded from
//! `fixtures/default/<name>/` when fitted there, else Laplace is fitted on the fly), and
//! `uncertsam fit`, which fits one and saves it with `Persist`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use uncertsam_data::{Sample, SampleSource, UncertSamSplit};
use uncertsam_estimate::{
    EncodedImage, EstimatorConfig, Fit, FitSample, LaplaceConfig, LaplaceEstimator, LaplaceFiles,
    Persist, Segmenter, TrainSample, UncertaintyEstimator, VarianceNet, VarianceNetConfig,
    VarianceNetEstimator, VarianceNetFiles, VarianceTrainConfig, train_variance_net,
};

use crate::args::{BenchArgs, PromptKind};
use crate::fit_cache::FitCache;
use crate::run::{load_embedded_model, project_root, prompt_rows};

/// Clean training images the benchmark fits Laplace on when no fitted posterior is embedded
/// (`--quick`: [`QUICK_FIT_IMAGES`]).
pub const LAPLACE_FIT_IMAGES: usize = 60;
/// Clean training images of an on-the-fly fit with `--quick`.
pub const QUICK_FIT_IMAGES: usize = 8;

/// What `uncertsam fit` fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum FitKind {
    /// Bernoulli GGN, Kronecker posterior, marginal-likelihood prior, probit.
    LaplaceProbit,
    /// The paper's Laplace: softmax over pixels, diagonal, prior 1, MC.
    LaplacePaper,
    /// The variance network (AdamW on the Gaussian NLL, SAM frozen).
    VarianceNet,
}

/// `uncertsam fit`: fit an estimator for the embedded default model and save it.
#[derive(Args, Clone, Debug)]
pub struct FitArgs {
    /// The estimator.
    #[arg(long, value_enum)]
    pub estimator: FitKind,
    /// Output directory (e.g. `fixtures/default/laplace_probit`, which `bench` then loads).
    #[arg(long)]
    pub out: PathBuf,
    /// Benchmark root; the synthetic benchmark is generated there if absent.
    #[arg(long, default_value = "target/uncertsam-synth")]
    pub data: PathBuf,
    /// Seed (prompt draws, the variance network's initialisation and sample order).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training images to use (default: all of `Synth-Clean/train`).
    #[arg(long)]
    pub images: Option<usize>,
    /// Saved MC samples of `laplace_paper` (the bench overrides them with `--samples`).
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Variance network: epochs over the training images.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Variance network: AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
}

/// Generates the synthetic benchmark into `root` if the directory does not exist.
pub fn ensure_data(root: &Path) -> Result<()> {
    if !root.exists() {
        eprintln!("generating the synthetic benchmark into {}", root.display());
        uncertsam_data::synth::generate(&uncertsam_data::synth::SynthConfig::default(), root)?;
    }
    Ok(())
}

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

/// The fixture directory of a fitted estimator of the embedded default model.
pub fn default_fitted_dir(name: &str) -> PathBuf {
    project_root().join("fixtures/default").join(name)
}

/// The committed fit of Laplace variant `name` for the embedded model, if the run uses that
/// model and the fit is there.
fn embedded_laplace(args: &BenchArgs, name: &str) -> Option<PathBuf> {
    let dir = default_fitted_dir(name);
    let fitted = dir
        .join(uncertsam_estimate::LAPLACE_ESTIMATOR_FILE)
        .exists();
    (crate::run::uses_embedded_model(args) && fitted).then_some(dir)
}

/// The benchmark's `laplace_probit` / `laplace_paper`: loaded from
/// `fixtures/default/<name>/` for the embedded model when present, else fitted on the first
/// [`LAPLACE_FIT_IMAGES`] clean training images once per run (`<out>/fitted/<name>/`, see
/// [`FitCache`]) and loaded from there.
pub fn bench_laplace<B: Backend>(
    sam: &dyn Segmenter<B>,
    args: &BenchArgs,
    name: &str,
) -> Result<Box<dyn UncertaintyEstimator<B>>> {
    let samples = args.samples.max(1);
    let config = match name {
        "laplace_probit" => LaplaceConfig::probit(),
        "laplace_paper" => LaplaceConfig::paper(samples),
        other => bail!("`{other}` is not a Laplace variant"),
    };
    let dir = match embedded_laplace(args, name) {
        Some(dir) => dir,
        None => fit_once(sam, args, name, &config)?,
    };
    let files = LaplaceFiles {
        dir: dir.clone(),
        predictive: Some(config.predictive),
    };
    EstimatorConfig::Laplace(files)
        .build(sam)
        .with_context(|| format!("loading {}", dir.display()))
}

/// The run's own fit of Laplace variant `name` (fitted now unless a fresh one is cached).
fn fit_once<B: Backend>(
    sam: &dyn Segmenter<B>,
    args: &BenchArgs,
    name: &str,
    config: &LaplaceConfig,
) -> Result<PathBuf> {
    let images = if args.quick {
        QUICK_FIT_IMAGES
    } else {
        LAPLACE_FIT_IMAGES
    };
    let marker = uncertsam_estimate::LAPLACE_ESTIMATOR_FILE;
    let cache = FitCache::for_run(args, name, images, marker);
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

/// Fits, once, the Laplace variants this run selects and must fit itself (see [`FitCache`]),
/// so that the workers of `--jobs` load them instead of each fitting its own.
pub fn prefit_laplace<B: Backend>(args: &BenchArgs, device: &B::Device) -> Result<()> {
    let names: Vec<&str> = crate::run::selected_estimators(args)?
        .into_iter()
        .filter(|n| n.starts_with("laplace"))
        .filter(|n| embedded_laplace(args, n).is_none())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let (sam, _) = crate::run::load_model::<B>(args, device)?;
    for name in names {
        bench_laplace(&sam, args, name)?;
    }
    Ok(())
}

/// The benchmark's `variance_net`: `fixtures/default/variance_net/` for the embedded model,
/// if it was trained (`uncertsam fit --estimator variance_net`).
pub fn bench_variance_net(args: &BenchArgs) -> Option<EstimatorConfig> {
    let dir = default_fitted_dir("variance_net");
    if !crate::run::uses_embedded_model(args) || !dir.join("variance_net.json").exists() {
        args.note(format_args!(
            "skipping `variance_net`: no trained head for this model in {}",
            dir.display()
        ));
        return None;
    }
    Some(EstimatorConfig::VarianceNet(VarianceNetFiles { dir }))
}

/// `uncertsam fit`: fits `args.estimator` for the embedded default model on `Synth-Clean/train`
/// and saves it into `args.out`. The variance network trains on `A` (an autodiff backend).
pub fn run<A: AutodiffBackend>(args: &FitArgs, device: &A::Device) -> Result<()> {
    ensure_data(&args.data)?;
    let (sam, model) = load_embedded_model::<A::InnerBackend>(device)?;
    println!("model: {model}");
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut data = fit_samples(&sam, &args.data, args.images, args.seed)?;
    match args.estimator {
        FitKind::LaplaceProbit | FitKind::LaplacePaper => {
            let config = match args.estimator {
                FitKind::LaplaceProbit => LaplaceConfig::probit(),
                _ => LaplaceConfig::paper(args.samples.max(1)),
            };
            let fitted = config.fit(&sam, &mut data, &mut rng)?;
            Persist::<A::InnerBackend>::save(&fitted, &args.out)?;
            println!(
                "{}: {} masks, prior precision {:?}, {:.1} s",
                config.name(),
                fitted.n_examples(),
                fitted.prior(),
                start.elapsed().as_secs_f64()
            );
        }
        FitKind::VarianceNet => {
            let samples = data
                .map(|s| {
                    Ok(TrainSample {
                        prompts: sam.prompts(&s.prompts, &s.image.embedding)?,
                        embedding: s.image.embedding.image,
                        gt: s.gt,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            if samples.is_empty() {
                bail!("no training images under {}", args.data.display());
            }
            println!(
                "{} images encoded in {:.1} s",
                samples.len(),
                start.elapsed().as_secs_f64()
            );
            let mut order = Vec::new();
            for _ in 0..args.epochs {
                let mut epoch: Vec<usize> = (0..samples.len()).collect();
                epoch.shuffle(&mut rng);
                order.extend(epoch);
            }
            let config = VarianceNetConfig::for_sam(&sam);
            A::seed(device, args.seed);
            let net = VarianceNet::<A>::new(&config, device);
            let train = VarianceTrainConfig {
                lr: args.lr,
                ..VarianceTrainConfig::default()
            };
            let trained = train_variance_net(
                &sam,
                net,
                order.into_iter().map(|i| samples[i].clone()),
                &train,
            )?;
            for (epoch, losses) in trained.losses.chunks(samples.len()).enumerate() {
                let mean = losses.iter().sum::<f32>() / losses.len() as f32;
                println!("epoch {}: mean loss {mean:.4}", epoch + 1);
            }
            let label = args
                .out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "variance_net".into());
            let est = VarianceNetEstimator {
                net: trained.net,
                config,
                label,
            };
            est.save(&args.out)?;
            println!(
                "variance_net: {} steps, {:.1} s",
                trained.losses.len(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
