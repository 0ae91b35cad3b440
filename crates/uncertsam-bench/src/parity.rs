//! `uncertsam parity DIR...`: one line per reference tensor with its max abs diff.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use burn::prelude::Backend as BurnBackend;
use uncertsam_sam::parity::{ParityReport, Path_, check_fixture};

use crate::args::BackendKind as Backend;

/// Checks every directory and prints the report; fails when any line is out of tolerance.
pub fn run(dirs: &[PathBuf], backend: Backend) -> Result<ExitCode> {
    let mut failed = 0;
    for dir in dirs {
        let report = match backend {
            Backend::Cpu => check::<burn::backend::NdArray<f32>>(dir, &Default::default())?,
            Backend::Cuda => cuda(dir)?,
        };
        println!("{}", report.dir.display());
        for l in &report.lines {
            let path = match l.path {
                Path_::ModelAlone => "model",
                Path_::Pipeline => "pipeline",
            };
            let what = if l.path == Path_::Pipeline && l.key != "resized_image_u8" {
                "mask disagreement"
            } else {
                "max |diff|"
            };
            let verdict = if l.ok() { "ok" } else { "FAIL" };
            println!(
                "  {path:<8} {:<40} {what} {:.3e} (tol {:.0e}) {verdict}",
                l.key, l.max_abs_diff, l.tolerance
            );
        }
        if !report.passed() {
            failed += 1;
        }
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} fixture directories out of tolerance",
            dirs.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn check<B: BurnBackend>(dir: &std::path::Path, device: &B::Device) -> Result<ParityReport> {
    check_fixture::<B>(dir, device).with_context(|| format!("checking {}", dir.display()))
}

#[cfg(feature = "cuda")]
fn cuda(dir: &std::path::Path) -> Result<ParityReport> {
    check::<burn_cuda::Cuda<f32, i32>>(dir, &Default::default())
}

#[cfg(not(feature = "cuda"))]
fn cuda(_dir: &std::path::Path) -> Result<ParityReport> {
    anyhow::bail!("this binary was built without the `cuda` feature; use `--features cuda`")
}
