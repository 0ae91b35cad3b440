//! Command-line options of `uncertsam bench` and `uncertsam merge`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Burn backend to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// NdArray on the CPU.
    Cpu,
    /// CUDA (needs the `cuda` cargo feature).
    Cuda,
}

/// Which prompt each mask gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PromptKind {
    /// The tight ground-truth box (the paper's setting).
    Box,
    /// The tight box with SAM's jitter (U(-1,1) x min(0.1 side, 20 px) per coordinate).
    JitteredBox,
    /// One positive point drawn uniformly from the mask.
    Point,
}

/// `uncertsam bench`: every estimator on every split.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Benchmark root in the UncertSAM layout; the synthetic benchmark is generated there if
    /// the directory does not exist.
    #[arg(long, default_value = "target/uncertsam-synth")]
    pub data: PathBuf,
    /// Datasets (directory names under `--data`), comma separated; default: every `Synth-*`
    /// dataset (or every dataset directory found).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Vec<String>,
    /// Split to evaluate.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Estimators, comma separated, each a name with optional options
    /// (`mc_dropout:p=0.2,s=20`) or a `.json` / `.toml` file of configs (see `uncertsam bench
    /// --list-estimators`); repeatable; default: all.
    #[arg(long)]
    pub estimators: Vec<String>,
    /// Print the available estimators with their options and exit.
    #[arg(long)]
    pub list_estimators: bool,
    /// Samples per sampling estimator (TTA, prompt perturbation, MC dropout, Laplace MC).
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// Prompt given to every mask.
    #[arg(long, value_enum, default_value = "box")]
    pub prompt: PromptKind,
    /// Seed of every random draw (combined with dataset, image and mask ids).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Official checkpoint of the `--model` family: SAM `.pth`, MobileSAM `mobile_sam.pt`,
    /// SAM 2 `.pt` (state dict under "model"), or safetensors with the official keys;
    /// default: the embedded model.
    #[arg(long, conflicts_with = "random_init")]
    pub checkpoint: Option<PathBuf>,
    /// Model geometry: vit_b, vit_l, vit_h, tiny, mobile_sam, sam2_hiera_t, sam2_hiera_s,
    /// sam2_hiera_b+, sam2_hiera_l, or a config.json path (`"model_type": "sam2"` for SAM 2).
    /// Needs `--checkpoint` or `--random-init`; with `--checkpoint` alone it defaults to vit_b.
    /// `sam2` alone is the embedded SAM 2 default (`fixtures/default-sam2`, with its fitted
    /// files), as no `--model` is the embedded SAM v1.
    #[arg(long)]
    pub model: Option<String>,
    /// Random weights of the `--model` geometry (smoke tests only; seeded by `--seed`).
    #[arg(long)]
    pub random_init: bool,
    /// Backend.
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: BackendKind,
    /// Run shard `i` of `n` (`i/n`, 0-based): images with index % n == i.
    #[arg(long, default_value = "0/1")]
    pub shard: String,
    /// Continue an interrupted run in `--out`: finished images are kept, the rest is run.
    #[arg(long)]
    pub resume: bool,
    /// Worker processes: the run is split as `--shard j/N` over N processes of this binary,
    /// each with its share of the cores, then merged; the result files are the same bytes for
    /// any N. Default: the number of cores, at most 4 (1 with `--shard` or `--backend cuda`).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// A worker process of `--jobs` other than the first: no progress bar and no setup notes
    /// (the first worker prints them once); skipped samples are still reported by every worker.
    #[arg(long, hide = true)]
    pub secondary_worker: bool,
    /// A few images per split (what CI runs).
    #[arg(long)]
    pub quick: bool,
    /// Run directory.
    #[arg(long, default_value = "runs/bench")]
    pub out: PathBuf,
    /// Refinement rows (`--refine`, `--refine-with`, `--clicks`, `--fusion`, ...).
    #[command(flatten)]
    pub refine: crate::refine_args::RefineArgs,
}

/// `uncertsam merge`: tables and plots from the per-image results of all shards.
#[derive(Args, Clone, Debug)]
pub struct MergeArgs {
    /// Run directory the shards wrote into.
    #[arg(long, default_value = "runs/bench")]
    pub out: PathBuf,
    /// Seed of the bootstrap intervals.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Parses `i/n` into `(i, n)` with `i < n`.
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("--shard `{s}` is not of the form i/n"))?;
    let i: usize = i
        .trim()
        .parse()
        .map_err(|_| format!("--shard `{s}`: `{i}` is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("--shard `{s}`: `{n}` is not a number"))?;
    if n == 0 || i >= n {
        return Err(format!("--shard `{s}`: need 0 <= i < n"));
    }
    Ok((i, n))
}

impl BenchArgs {
    /// Prints a setup note (a skipped estimator or variant) once per run: not in secondary
    /// workers. The line goes out in one write, so workers' lines never interleave mid-line.
    pub fn note(&self, message: impl std::fmt::Display) {
        if !self.secondary_worker {
            log_line(format_args!("note: {message}"));
        }
    }
}

/// Prints `message` and a newline to stderr in one write, so the lines of concurrent worker
/// processes never interleave mid-line.
pub fn log_line(message: impl std::fmt::Display) {
    use std::io::Write as _;
    let line = format!("{message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::parse_shard;

    #[test]
    fn shard_specs_parse_and_bad_ones_are_named() {
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        assert!(parse_shard("4/4").unwrap_err().contains("4/4"));
        assert!(parse_shard("x").unwrap_err().contains("i/n"));
    }
}
