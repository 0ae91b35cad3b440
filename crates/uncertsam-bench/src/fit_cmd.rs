//! `uncertsam fit`: fits one estimator (Laplace variant or the variance network) for an
//! embedded default model (SAM v1's, or SAM 2's with `--model sam2`) on `Synth-Clean/train`
//! and saves it with `Persist`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use uncertsam_estimate::{
    Fit, LaplaceConfig, Persist, Segmenter, TrainSample, VarianceNet, VarianceNetConfig,
    VarianceNetEstimator, VarianceTrainConfig, train_variance_net,
};

use crate::data_checks::ensure_data_root;
use crate::fitted::fit_samples;
use crate::inputs::{EMBEDDED_SAM2, embedded_family_dir, load_embedded_dir};

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
    /// The embedded default to fit for: SAM v1's (`fixtures/default`, the default) or
    /// `sam2` (`fixtures/default-sam2`).
    #[arg(long, value_parser = ["sam", EMBEDDED_SAM2])]
    pub model: Option<String>,
    /// Benchmark root (the default is generated there if absent; another path must exist).
    #[arg(long, default_value = crate::data_checks::DEFAULT_SYNTH_ROOT)]
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

/// `uncertsam fit`: fits `args.estimator` for the embedded default model on `Synth-Clean/train`
/// and saves it into `args.out`. The variance network trains on `A` (an autodiff backend).
pub fn run<A: AutodiffBackend>(args: &FitArgs, device: &A::Device) -> Result<()> {
    ensure_data_root(&args.data)?;
    let dir = embedded_family_dir(args.model.as_deref() == Some(EMBEDDED_SAM2));
    let sam = load_embedded_dir::<A::InnerBackend>(&dir, device)?;
    println!("model: embedded default ({})", dir.display());
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
                        embedding: s.image.embedding,
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
            let config = VarianceNetConfig::for_model(sam.model());
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
