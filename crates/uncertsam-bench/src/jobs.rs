//! `--jobs N`: one run split over N worker processes of this binary, each `bench --shard j/N`
//! with its share of the cores, then merged like any sharded run. A small model keeps one core
//! busy far better than two cores share its many small tensor operations (the embedded default:
//! 1.6x on two cores), and results depend on neither the shard nor the thread count, so the
//! files are the same bytes for any N (tested).

use std::ffi::OsString;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::args::{BackendKind, BenchArgs};

/// Most worker processes `--jobs` picks by itself.
pub const MAX_AUTO_JOBS: usize = 4;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The number of worker processes for `args`: `--jobs`, else the cores (at most
/// [`MAX_AUTO_JOBS`]); always 1 for a shard of a larger run or on CUDA.
pub fn effective(args: &BenchArgs) -> usize {
    if args.shard != "0/1" || args.backend == BackendKind::Cuda {
        return 1;
    }
    args.jobs
        .unwrap_or_else(|| cores().min(MAX_AUTO_JOBS))
        .max(1)
}

/// Runs `args` as `jobs` worker processes and waits for them; `bench_args` are the command-line
/// arguments the user gave to `bench` (each worker gets them plus `--shard j/N --jobs 1 --resume
/// --out OUT`); `before` runs after the run directory is prepared and before any worker starts
/// (the caller fits there what every worker would otherwise fit). Returns the images done and
/// skipped as bad, summed over the workers. The caller merges.
pub fn run_workers(
    args: &BenchArgs,
    bench_args: &[OsString],
    jobs: usize,
    before: impl FnOnce() -> Result<()>,
) -> Result<(usize, usize)> {
    crate::run::prepare(args)?;
    before()?;
    let exe = std::env::current_exe().context("locating the uncertsam binary for --jobs")?;
    let threads = (cores() / jobs).max(1);
    let mut children = Vec::with_capacity(jobs);
    for j in 0..jobs {
        let mut cmd = Command::new(&exe);
        cmd.arg("bench")
            .args(bench_args)
            .args([
                "--shard",
                &format!("{j}/{jobs}"),
                "--jobs",
                "1",
                "--resume",
                "--out",
            ])
            .arg(&args.out)
            .env("RAYON_NUM_THREADS", threads.to_string())
            .env(
                crate::parent_death::PARENT_PID_ENV,
                std::process::id().to_string(),
            )
            .stdout(Stdio::piped());
        if j > 0 {
            cmd.arg("--secondary-worker");
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting worker {j}/{jobs} ({})", exe.display()))?;
        children.push(child);
    }
    let (mut done, mut bad, mut failed) = (0, 0, Vec::new());
    for (j, child) in children.into_iter().enumerate() {
        let out = child
            .wait_with_output()
            .with_context(|| format!("waiting for worker {j}/{jobs}"))?;
        if !out.status.success() {
            failed.push(format!("worker {j}/{jobs}: {}", out.status));
            continue;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let (d, b) = counts(&text)
            .with_context(|| format!("worker {j}/{jobs} printed no image counts: {text}"))?;
        done += d;
        bad += b;
    }
    if !failed.is_empty() {
        bail!(
            "{} (its error is printed above); finished images are kept, rerun with --resume to \
             complete {}",
            failed.join("; "),
            args.out.display()
        );
    }
    Ok((done, bad))
}

/// `(done, bad)` from a worker's `"{done} images, {bad} bad samples, ..."` line.
fn counts(stdout: &str) -> Option<(usize, usize)> {
    stdout.lines().find_map(|line| {
        let (done, rest) = line.split_once(" images, ")?;
        let (bad, _) = rest.split_once(" bad samples")?;
        Some((done.trim().parse().ok()?, bad.trim().parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_counts_are_read_from_its_summary_line() {
        assert_eq!(
            counts("7 images, 1 bad samples, 12.1 s\nshard 1/2 done; ...\n"),
            Some((7, 1))
        );
        assert_eq!(counts("nothing here"), None);
    }
}
