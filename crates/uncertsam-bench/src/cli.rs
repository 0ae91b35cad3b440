//! The `uncertsam` command line: the benchmark, its merge step, parity checks, prediction,
//! fitting and training, with the estimators of a registry. [`run_with`] is the whole CLI; the
//! `uncertsam` binary calls it with no external estimators, and a third-party crate calls it
//! from its own small binary with its [`ExternalEstimators`] (see
//! `crates/uncertsam-example-estimator`).
//!
//! The one module that names concrete burn backends: `--backend cpu` runs on `NdArray<f32>`,
//! `--backend cuda` (cargo feature `cuda`) on `burn_cuda::Cuda`; fitting and training on
//! `Autodiff<NdArray<f32>>`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::args::{BackendKind, BenchArgs, MergeArgs};
use crate::registry::{ExternalEstimators, Registry};
use crate::{report, run};

type Cpu = burn::backend::NdArray<f32>;
type CpuAutodiff = burn::backend::Autodiff<Cpu>;

/// Uncertainty for Segment Anything under domain shift.
#[derive(Parser, Debug)]
#[command(name = "uncertsam", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check fixture directories (docs/parity-fixture-format.md) against the model.
    Parity {
        /// Fixture directories; each holds config.json, model.safetensors, image.png, ...
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Backend to run on.
        #[arg(long, value_enum, default_value = "cpu")]
        backend: BackendKind,
    },
    /// Run every estimator on every split and write the run directory.
    #[command(args_override_self = true)]
    Bench(BenchArgs),
    /// Build the tables and plots of a (sharded) run from its per-image results.
    Merge(MergeArgs),
    /// Run the default benchmark (into `--out`, default `runs/results`), and the embedded
    /// SAM 2's (into `<out>-sam2`) when `fixtures/default-sam2` is there, and write
    /// `docs/results.md` from them.
    Results {
        /// The benchmark options (defaults: the embedded model, every estimator and split).
        #[command(flatten)]
        bench: BenchArgs,
        /// The page to write.
        #[arg(long, default_value = "docs/results.md")]
        doc: PathBuf,
    },
    /// One image, box/point prompts, one estimator: mask, uncertainty and overlay PNGs.
    Predict(crate::predict::PredictArgs),
    /// Fit an estimator for the embedded default model on `Synth-Clean/train` and save it
    /// (`--out fixtures/default/<name>` makes `bench` load it).
    Fit(crate::fit_cmd::FitArgs),
    /// Train an embedded default model (SAM v1, or SAM 2 with `--model sam2`) and its ensemble
    /// members, then fit its Laplace posteriors, variance network and fusion weights
    /// (`fixtures/default`, `fixtures/default-sam2`).
    Train {
        /// Training options.
        #[command(flatten)]
        args: uncertsam_train::TrainArgs,
        /// Only the model and its ensemble: skip `fit` (laplace_probit, laplace_paper,
        /// variance_net) and `fit-fusion` (also skipped with `--quick`, and when `--out` is
        /// not the embedded model's `fixtures/default`, which they fit).
        #[arg(long)]
        no_fits: bool,
        /// Keep the trained model; only refit the files above for it (after a change to an
        /// estimator or to fusion training).
        #[arg(long, conflicts_with = "no_fits")]
        fits_only: bool,
    },
    /// The interactive uncertainty viewer and its JSON API (`docs/serve.md`).
    #[cfg(feature = "serve")]
    Serve(crate::serve::ServeArgs),
    /// Train the dense-fusion refinement modules the benchmark picks up (`--fusion` DIR).
    FitFusion(crate::fit_fusion::FitFusionArgs),
    /// Datasets: `data synth --out DIR` generates the procedural domain-shift benchmark.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Generate the procedural domain-shift benchmark in the UncertSAM layout.
    Synth {
        /// Output root.
        #[arg(long)]
        out: PathBuf,
        /// Generator config (JSON, `SynthConfig` fields; missing ones take their defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Seed (overrides the config's).
        #[arg(long)]
        seed: Option<u64>,
    },
}

/// Runs the `uncertsam` command line on `argv` (program name first, as `std::env::args_os`)
/// with the built-in estimators plus `external`'s. The worker processes of `--jobs` are this
/// same executable, so a binary calling this runs its own estimators in every worker.
pub fn run_with<E: ExternalEstimators>(
    external: &E,
    argv: impl IntoIterator<Item = impl Into<OsString>>,
) -> Result<ExitCode> {
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let registry = Registry::new(external);
    let cli = Cli::parse_from(&argv);
    match cli.command {
        Command::Parity { dirs, backend } => crate::parity::run(&dirs, backend),
        Command::Merge(args) => {
            report::merge(&args.out, args.seed)?;
            println!("wrote {}", args.out.join("summary.md").display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => bench(&args, &registry, &bench_argv(&argv, &[])),
        Command::Results { mut bench, doc } => {
            if bench.out == std::path::Path::new("runs/bench") {
                bench.out = PathBuf::from("runs/results");
            }
            let start = std::time::Instant::now();
            let argv = bench_argv(&argv, &["--doc"]);
            let code = self::bench(&bench, &registry, &argv)?;
            let wall_s = start.elapsed().as_secs_f64();
            // The embedded SAM 2 default, on the same options, when it is there and the run
            // is the embedded SAM v1's.
            let sam2 = crate::inputs::embedded_family_dir(true).join("sam.safetensors");
            let sam2_run = (bench.model.is_none()
                && crate::inputs::uses_embedded_model(&bench)
                && sam2.exists())
            .then(|| {
                let mut out = bench.out.clone().into_os_string();
                out.push("-sam2");
                PathBuf::from(out)
            });
            if let Some(out2) = &sam2_run {
                let mut b2 = bench.clone();
                b2.model = Some(crate::inputs::EMBEDDED_SAM2.into());
                b2.out = out2.clone();
                let mut argv2 = argv.clone();
                argv2.extend(["--model".into(), crate::inputs::EMBEDDED_SAM2.into()]);
                argv2.extend(["--out".into(), out2.clone().into_os_string()]);
                self::bench(&b2, &registry, &argv2)?;
            }
            let info = crate::results::RunInfo {
                command: "cargo xtask results",
                wall_s,
                threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            };
            crate::results::write_results_doc(&bench.out, sam2_run.as_deref(), &doc, &info)?;
            println!("wrote {}", doc.display());
            Ok(code)
        }
        Command::Predict(args) => {
            crate::predict::run::<Cpu, E>(&args, &registry, &Default::default())?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "serve")]
        Command::Serve(args) => {
            if args.bench.backend == BackendKind::Cuda {
                anyhow::bail!("serve runs on --backend cpu");
            }
            crate::serve::serve_blocking::<Cpu, E>(&args, &registry, &Default::default(), |a| {
                println!("uncertsam serve: http://{a}/");
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fit(args) => {
            crate::fit_cmd::run::<CpuAutodiff>(&args, &Default::default())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Train {
            args,
            no_fits,
            fits_only,
        } => {
            let sam2 = args.model == crate::inputs::EMBEDDED_SAM2;
            let out = args.out_dir(&args.model);
            if !fits_only {
                if sam2 {
                    uncertsam_train::run_sam2::<CpuAutodiff>(&args, &Default::default())?;
                } else {
                    uncertsam_train::run::<CpuAutodiff>(&args, &Default::default())?;
                }
                println!("wrote {}", out.display());
            }
            let embedded = crate::inputs::embedded_family_dir(sam2);
            let embedded = std::fs::canonicalize(&embedded).unwrap_or(embedded);
            let is_embedded = std::fs::canonicalize(&out).ok() == Some(embedded.clone());
            if no_fits || args.quick {
                return Ok(ExitCode::SUCCESS);
            }
            if !is_embedded {
                println!(
                    "note: not fitting Laplace, the variance network or fusion: they fit the \
                     embedded model in {} (train with --out there to refresh them)",
                    embedded.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            fit_embedded(&embedded, sam2)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::FitFusion(args) => {
            crate::fit_fusion::run::<CpuAutodiff>(&args, &Default::default())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Data {
            command: DataCommand::Synth { out, config, seed },
        } => {
            let mut cfg = match config {
                Some(p) => serde_json::from_str(&std::fs::read_to_string(&p)?)?,
                None => uncertsam_data::synth::SynthConfig::default(),
            };
            if let Some(s) = seed {
                cfg.seed = s;
            }
            let start = std::time::Instant::now();
            uncertsam_data::synth::generate(&cfg, &out)?;
            println!(
                "wrote {} in {:.1} s",
                out.display(),
                start.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `uncertsam fit` for laplace_probit, laplace_paper and variance_net, then `uncertsam
/// fit-fusion`, each with its command-line defaults, into the embedded model's directory.
fn fit_embedded(embedded: &std::path::Path, sam2: bool) -> Result<()> {
    #[derive(Parser)]
    struct Fit {
        #[command(flatten)]
        args: crate::fit_cmd::FitArgs,
    }
    #[derive(Parser)]
    struct Fusion {
        #[command(flatten)]
        args: crate::fit_fusion::FitFusionArgs,
    }
    type Ad = CpuAutodiff;
    let device = Default::default();
    for name in ["laplace_probit", "laplace_paper", "variance_net"] {
        let out = embedded.join(name);
        let mut argv: Vec<&std::ffi::OsStr> = vec![
            "fit".as_ref(),
            "--estimator".as_ref(),
            name.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        if sam2 {
            argv.extend([
                std::ffi::OsStr::new("--model"),
                std::ffi::OsStr::new("sam2"),
            ]);
        }
        let fit = Fit::try_parse_from(argv)?;
        crate::fit_cmd::run::<Ad>(&fit.args, &device)?;
    }
    let fusion_dir = embedded.join("fusion");
    let mut argv: Vec<&std::ffi::OsStr> = vec![
        "fit-fusion".as_ref(),
        "--fusion".as_ref(),
        fusion_dir.as_os_str(),
    ];
    if sam2 {
        argv.extend([
            std::ffi::OsStr::new("--model"),
            std::ffi::OsStr::new("sam2"),
        ]);
    }
    let fusion = Fusion::try_parse_from(argv)?;
    crate::fit_fusion::run::<Ad>(&fusion.args, &device)
}

/// The arguments after the subcommand, without the options named in `drop` (and their values),
/// for the worker processes of `--jobs`.
fn bench_argv(argv: &[OsString], drop: &[&str]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut args = argv.iter().skip(2).cloned();
    while let Some(a) = args.next() {
        let s = a.to_string_lossy();
        if drop.iter().any(|d| s == *d) {
            args.next();
        } else if !drop.iter().any(|d| s.starts_with(&format!("{d}="))) {
            out.push(a);
        }
    }
    out
}

fn bench<E: ExternalEstimators>(
    args: &BenchArgs,
    registry: &Registry<'_, E>,
    argv: &[OsString],
) -> Result<ExitCode> {
    if args.list_estimators {
        print!("{}", registry.describe());
        return Ok(ExitCode::SUCCESS);
    }
    // Held until the tables are written: a second run on this --out is refused meanwhile.
    let _lock = crate::run_lock::acquire(args)?;
    let start = std::time::Instant::now();
    let jobs = crate::jobs::effective(args);
    let (done, bad) = match args.backend {
        // The workers load what the parent fits once (CPU; CUDA workers fit their own).
        BackendKind::Cpu if jobs > 1 => crate::jobs::run_workers(args, argv, jobs, || {
            let selected = registry.select(args)?;
            crate::fitted::prefit_laplace::<Cpu>(args, &selected, &Default::default())
        })?,
        _ if jobs > 1 => crate::jobs::run_workers(args, argv, jobs, || Ok(()))?,
        BackendKind::Cpu => run::run::<Cpu, E>(args, registry, &Default::default())?,
        BackendKind::Cuda => cuda(args, registry)?,
    };
    println!(
        "{done} images, {bad} bad samples, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if args.shard == "0/1" {
        report::merge(&args.out, args.seed)?;
        println!("wrote {}", args.out.join("summary.md").display());
    } else {
        println!(
            "shard {} done; run `cargo xtask merge --out {}` after all shards",
            args.shard,
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "cuda")]
fn cuda<E: ExternalEstimators>(
    args: &BenchArgs,
    registry: &Registry<'_, E>,
) -> Result<(usize, usize)> {
    run::run::<burn_cuda::Cuda<f32, i32>, E>(args, registry, &Default::default())
}

#[cfg(not(feature = "cuda"))]
fn cuda<E: ExternalEstimators>(
    _args: &BenchArgs,
    _registry: &Registry<'_, E>,
) -> Result<(usize, usize)> {
    anyhow::bail!(
        "this binary was built without the `cuda` feature; `cargo xtask bench --backend cuda` enables it"
    )
}
