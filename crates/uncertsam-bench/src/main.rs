//! The `uncertsam` binary: parity checks, the benchmark and prediction.
//!
//! This is the one place where a concrete burn backend is named: `Backend::Cpu` runs on
//! `NdArray<f32>`, and `Backend::Cuda` (cargo feature `cuda`) on `burn_cuda::Cuda`.
//! `cargo xtask ...` runs this binary in release mode.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

mod parity;

/// Uncertainty for Segment Anything under domain shift.
#[derive(Parser, Debug)]
#[command(name = "uncertsam", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Burn backend to run on.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Backend {
    /// NdArray on the CPU.
    Cpu,
    /// CUDA (needs the `cuda` cargo feature).
    Cuda,
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
        backend: Backend,
    },
    /// Run the benchmark (not built yet).
    Bench,
}

fn main() -> Result<ExitCode> {
    uncertsam_bench::alloc::keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Parity { dirs, backend } => parity::run(&dirs, backend),
        Command::Bench => {
            eprintln!("the benchmark is not built yet (issue: `cargo xtask bench` end to end)");
            Ok(ExitCode::from(2))
        }
    }
}
