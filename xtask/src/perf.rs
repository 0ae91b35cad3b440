//! `cargo xtask perf`: times the Rust code and the official PyTorch code interleaved in one run
//! (A B A B ..., same inputs, same thread count, warm-up excluded) and writes the tables of
//! docs/performance.md (between its `perf:begin` / `perf:end` markers) and docs/perf.json.
//!
//! Each row runs in two long-lived worker processes, `uncertsam-perf-worker ROW`
//! (benches/perf/worker.rs) and `python benches/perf/worker.py ROW`, which set the row up once
//! and answer `run` with one timed call, so set-up and process start are never timed and the
//! two sides alternate call by call. The PyTorch side lives in a venv under target/ that this
//! task creates from benches/perf/requirements.txt when it is absent (`--no-python` skips it).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::perf_report::{CpuSnapshot, Measured, Report, Row, Side, Target};

const fn row(id: &'static str, label: &'static str, python: bool, target: Target) -> Row {
    Row {
        id,
        label,
        python,
        target,
    }
}

/// Every row, in table order. The estimator rows are divided by S = 10 plain decoder passes
/// (the ensemble by M = 5, Laplace by one), timed in the same worker call by call.
pub const ROWS: &[Row] = &[
    row(
        "encoder:vit_b",
        "SAM ViT-B image encoder, 1024²",
        true,
        Target::VsPython(0.8),
    ),
    row(
        "encoder:vit_h",
        "SAM ViT-H image encoder, 1024²",
        true,
        Target::VsPython(0.8),
    ),
    row(
        "encoder:tiny_vit",
        "MobileSAM TinyViT image encoder, 1024²",
        true,
        Target::VsPython(0.8),
    ),
    row(
        "encoder:hiera_t",
        "SAM 2 Hiera-T image encoder + FPN, 1024²",
        true,
        Target::VsPython(0.8),
    ),
    row(
        "encoder:hiera_l",
        "SAM 2 Hiera-L image encoder + FPN, 1024²",
        true,
        Target::VsPython(0.8),
    ),
    row(
        "decoder:boxes1",
        "prompt encoder + mask decoder (ViT-B geometry), one box, multimask",
        true,
        Target::VsPython(0.8),
    ),
    row(
        "decoder:boxes32",
        "prompt encoder + mask decoder (ViT-B geometry), 32 boxes, multimask",
        true,
        Target::VsPython(0.8),
    ),
    row(
        "estimator:mc_dropout",
        "MC dropout, S = 10, sites mlp+hyper (default) / S plain passes",
        false,
        Target::VsBaseline(0.6),
    ),
    row(
        "estimator:mc_dropout_hyper",
        "MC dropout, S = 10, site hyper / S plain passes",
        false,
        Target::VsBaseline(0.6),
    ),
    row(
        "estimator:mc_dropout_token_attn",
        "MC dropout, S = 10, site token_attn / S plain passes",
        false,
        Target::VsBaseline(0.6),
    ),
    row(
        "estimator:mc_dropout_image_to_token",
        "MC dropout, S = 10, site image_to_token / S plain passes",
        false,
        Target::VsBaseline(0.6),
    ),
    row(
        "estimator:prompt_perturbation",
        "prompt perturbation, S = 10 / S plain passes",
        false,
        Target::VsBaseline(0.6),
    ),
    row(
        "estimator:ensemble",
        "deep ensemble, M = 5 / M plain passes",
        false,
        Target::VsBaseline(0.6),
    ),
    row(
        "estimator:laplace_kron",
        "Laplace probit, Kronecker / one plain pass",
        false,
        Target::VsBaseline(1.05),
    ),
    row(
        "estimator:laplace_diag",
        "Laplace probit, diagonal / one plain pass",
        false,
        Target::VsBaseline(1.05),
    ),
    row(
        "metrics",
        "every per-mask metric, one 1024² mask (Python reference: torch on one thread)",
        true,
        Target::Seconds(0.020),
    ),
];

/// The options of `cargo xtask perf`.
struct Options {
    python: bool,
    runs: usize,
    threads: usize,
    rows: Vec<String>,
    bench: bool,
    write_docs: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let mut o = Options {
        python: true,
        runs: 5,
        threads,
        rows: Vec::new(),
        bench: true,
        write_docs: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--no-python" => o.python = false,
            "--no-bench" => o.bench = false,
            "--no-doc" => o.write_docs = false,
            "--runs" => o.runs = value("--runs")?.parse().context("--runs")?,
            "--threads" => o.threads = value("--threads")?.parse().context("--threads")?,
            "--rows" => o.rows = value("--rows")?.split(',').map(str::to_owned).collect(),
            "-h" | "--help" => {
                println!(
                    "usage: cargo xtask perf [--no-python] [--no-bench] [--no-doc] [--runs N (5)] \
                     [--threads N (all cores)] [--rows PREFIX,...]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown option {other} (cargo xtask perf --help)"),
        }
    }
    anyhow::ensure!(o.runs >= 1, "--runs must be at least 1");
    Ok(o)
}

/// Runs `cargo xtask perf ARGS` from the project root `root`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let python = if o.python {
        Some(ensure_venv(root)?)
    } else {
        println!("perf: --no-python: the PyTorch columns are left empty");
        None
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "uncertsam-benches",
            "--bin",
            "uncertsam-perf-worker",
        ])
        .args(["-p", "uncertsam-bench", "--bin", "uncertsam"])
        .status()
        .context("running cargo build")?;
    anyhow::ensure!(status.success(), "cargo build of the perf worker failed");
    let rust_worker = root.join("target/release/uncertsam-perf-worker");
    let mut report = Report::new(root, o.threads, o.runs);
    for r in ROWS {
        if !o.rows.is_empty() && !o.rows.iter().any(|p| r.id.starts_with(p.as_str())) {
            continue;
        }
        println!("perf: {} ...", r.id);
        let py = python.as_deref().filter(|_| r.python);
        let m =
            measure(root, r, &rust_worker, py, &o).with_context(|| format!("perf row {}", r.id))?;
        println!("perf: {}", report.line(r, &m));
        report.push(*r, m);
    }
    if o.bench && (o.rows.is_empty() || o.rows.iter().any(|p| "bench".starts_with(p.as_str()))) {
        println!("perf: bench (the default `cargo xtask bench`, one run) ...");
        let out = root.join("target/perf/bench-run");
        let _ = std::fs::remove_dir_all(&out);
        let cpu = CpuSnapshot::now();
        let t = Instant::now();
        let status = Command::new(root.join("target/release/uncertsam"))
            .current_dir(root)
            .args(["bench", "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .context("running uncertsam bench")?;
        anyhow::ensure!(status.success(), "uncertsam bench failed");
        report.bench = Some((t.elapsed().as_secs_f64(), cpu.other_cores()));
    }
    report.write(root, o.write_docs)
}

/// One worker process and its pipes.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    name: &'static str,
}

impl Worker {
    fn start(mut cmd: Command, name: &'static str) -> Result<Self> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting the {name} worker"))?;
        let stdin = child.stdin.take().context("worker stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("worker stdout")?);
        let mut w = Self {
            child,
            stdin,
            stdout,
            name,
        };
        let ready = w.read()?;
        anyhow::ensure!(ready.contains("\"ready\""), "{name} worker said {ready:?}");
        Ok(w)
    }

    fn read(&mut self) -> Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.is_empty() {
            let status = self.child.wait()?;
            bail!(
                "the {} worker exited ({status}) without an answer",
                self.name
            );
        }
        Ok(line)
    }

    fn ask(&mut self, cmd: &str) -> Result<String> {
        writeln!(self.stdin, "{cmd}")?;
        self.stdin.flush()?;
        self.read()
    }

    fn run(&mut self) -> Result<(f64, Option<f64>)> {
        let line = self.ask("run")?;
        let s = field(&line, "seconds").with_context(|| format!("{} said {line:?}", self.name))?;
        Ok((s, field(&line, "baseline")))
    }

    fn quit(mut self) -> Result<u64> {
        let line = self.ask("quit")?;
        let _ = self.child.wait();
        Ok(field(&line, "peak_rss_kib").unwrap_or(0.0) as u64)
    }
}

/// The number after `"key": ` in a worker's one-line JSON answer.
fn field(line: &str, key: &str) -> Option<f64> {
    let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = line[at..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn measure(
    root: &Path,
    r: &Row,
    rust_worker: &Path,
    python: Option<&Path>,
    o: &Options,
) -> Result<Measured> {
    let threads = o.threads.to_string();
    let cpu = CpuSnapshot::now();
    let mut cmd = Command::new(rust_worker);
    cmd.current_dir(root)
        .arg(r.id)
        .env("RAYON_NUM_THREADS", &threads);
    let mut rust = Worker::start(cmd, "Rust")?;
    let mut py = match python {
        Some(p) => {
            let mut cmd = Command::new(p);
            cmd.current_dir(root)
                .arg("benches/perf/worker.py")
                .arg(r.id)
                .env("UNCERTSAM_PERF_THREADS", &threads)
                .env("OMP_NUM_THREADS", &threads);
            Some(Worker::start(cmd, "PyTorch")?)
        }
        None => None,
    };
    let mut m = Measured::default();
    // Warm-up, one call each, not recorded.
    rust.run()?;
    if let Some(p) = py.as_mut() {
        p.run()?;
    }
    for _ in 0..o.runs {
        let (s, base) = rust.run()?;
        m.rust.times.push(s);
        if let Some(b) = base {
            m.baseline.times.push(b);
        }
        if let Some(p) = py.as_mut() {
            m.python
                .get_or_insert_with(Side::default)
                .times
                .push(p.run()?.0);
        }
    }
    m.rust.peak_rss_kib = rust.quit()?;
    if let (Some(p), Some(side)) = (py, m.python.as_mut()) {
        side.peak_rss_kib = p.quit()?;
    }
    m.other_load = cpu.other_cores();
    Ok(m)
}

/// The venv's python with the official packages, created when absent.
fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target/perf-venv");
    let python = venv.join("bin/python");
    let check = |p: &Path| {
        Command::new(p)
            .args(["-c", "import segment_anything, sam2, mobile_sam, timm, torch, sklearn, scipy, torchmetrics"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && check(&python) {
        return Ok(python);
    }
    println!(
        "perf: installing the official PyTorch code into {} (about 3 GB)",
        venv.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "-r"])
            .arg(root.join("benches/perf/requirements.txt"))
            .status()
            .is_ok_and(|s| s.success());
    anyhow::ensure!(
        ok && check(&python),
        "could not install benches/perf/requirements.txt into {}; rerun with --no-python to time \
         the Rust side alone",
        venv.display()
    );
    Ok(python)
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn worker_answers_are_read() {
        let line = "{\"seconds\": 1.5e-3, \"baseline\": 0.25}\n";
        assert_eq!(field(line, "seconds"), Some(1.5e-3));
        assert_eq!(field(line, "baseline"), Some(0.25));
        assert_eq!(field(line, "peak_rss_kib"), None);
        assert_eq!(
            field("{\"peak_rss_kib\": 1024}", "peak_rss_kib"),
            Some(1024.0)
        );
    }
}
