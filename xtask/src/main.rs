//! See <https://github.com/matklad/cargo-xtask/>.
//!
//! `cargo xtask <task>` automates the project. Numeric work always runs in the `uncertsam`
//! binary (crate `uncertsam-bench`) built in release mode, which this crate shells out to; it
//! links no product crate, so `cargo xtask --help` stays instant.
//!
//! Tasks:
//! - `bench [ARGS]`: the benchmark (`--backend cuda` builds with the `cuda` feature);
//! - `parity DIR...`: check parity fixture directories;
//! - `data synth --out DIR`: generate the procedural domain-shift benchmark;
//! - `results`: run the default benchmark and write `docs/results.md` from it;
//! - `serve`: the interactive viewer (`docs/serve.md`), passed to the binary;
//! - `fit-fusion`: train the dense-fusion refinement weights (`fixtures/default/fusion`);
//! - `cycles`: list module-level import cycles in every crate (none allowed; also a test);
//! - `perf [--no-python] [--runs N] [--rows P,...]`: Rust against the official PyTorch code,
//!   interleaved in one run; writes docs/performance.md's tables and docs/perf.json (see
//!   [`perf`]);
//! - `compare-rows A B [--fail-above X]`: per-column max |diff| of two `rows.csv` (run here,
//!   see [`compare_rows`]);
//! - any other task is passed to the `uncertsam` binary as is.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

mod compare_rows;
mod cycles;
mod perf;
mod perf_report;

fn main() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "--help" || args[0] == "-h" {
        println!(
            "usage: cargo xtask <bench|results|parity|data|predict|serve|train|fit-fusion|merge|perf|compare-rows> [ARGS]"
        );
        println!("       (runs `uncertsam <task> [ARGS]` built with --release)");
        return Ok(ExitCode::SUCCESS);
    }
    if args[0] == "cycles" {
        let root = args
            .get(1)
            .map_or_else(project_root, std::path::PathBuf::from);
        let found = cycles::workspace_cycles(&root)?;
        for line in &found {
            println!("{line}");
        }
        println!("{} module import cycles", found.len());
        return Ok(if found.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if args[0] == "perf" {
        perf::run(&project_root(), &args[1..])?;
        return Ok(ExitCode::SUCCESS);
    }
    if args[0] == "compare-rows" {
        return compare_rows::run(&args[1..]);
    }
    let cuda = args
        .windows(2)
        .any(|w| w[0] == "--backend" && w[1] == "cuda")
        || args.iter().any(|a| a == "--backend=cuda");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root()).args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "uncertsam-bench",
        "--bin",
        "uncertsam",
    ]);
    if cuda {
        cmd.args(["--features", "cuda"]);
    }
    cmd.arg("--").args(&args);
    let status = cmd.status().context("running cargo")?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}

fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| ".".into())
}
