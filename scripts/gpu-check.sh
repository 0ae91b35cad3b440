#!/usr/bin/env bash
# The CUDA check (docs/performance.md, "CUDA"): run from a fresh checkout on a machine with an
# NVIDIA GPU, the Rust toolchain and the CUDA driver; needs crates.io and PyPI (or a warm cargo
# cache and a Python that already has torch, segment-anything and sam2). Steps:
#   1. build `uncertsam` (release, `--features cuda`) and the `gpu_timing` example;
#   2. `cargo xtask parity --backend cuda` on every committed fixture, at the CPU tolerances;
#   3. the backend-generic tests on CUDA (`--test backend cuda`);
#   4. `bench --quick` on CUDA and on the CPU, and their rows.csv compared column by column;
#   5. the ViT-B / ViT-H / Hiera-L encoders and a 64-box decoder batch timed against the
#      official PyTorch code on the same GPU (f32 and bf16), printed as a table.
# Everything lands in $GPU_CHECK_OUT (default runs/gpu-check); the exit status is 0 only when
# every step passed. About 8 minutes on a warm machine (build cache and Python packages there).
#
# Environment: GPU_CHECK_OUT (output folder), GPU_CHECK_RUNS (timed runs per part, default 5),
# GPU_CHECK_PARTS (default vit_b,vit_h,hiera_l,decoder:vit_b), GPU_CHECK_PYTHON (a python with
# torch; default: python3 if it imports torch with CUDA, else a venv made in GPU_CHECK_VENV),
# GPU_CHECK_SKIP (space separated step names to skip: build parity tests bench timing).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${GPU_CHECK_OUT:-runs/gpu-check}
RUNS=${GPU_CHECK_RUNS:-5}
PARTS=${GPU_CHECK_PARTS:-vit_b,vit_h,hiera_l,decoder:vit_b}
VENV=${GPU_CHECK_VENV:-$HOME/.cache/uncertsam-gpu-check-venv}
SKIP=" ${GPU_CHECK_SKIP:-} "
FIXTURES=(fixtures/sam/tiny_256 fixtures/sam/small_160 fixtures/mobile_sam/tiny_1024
  fixtures/sam2/hiera_t_256 fixtures/sam2/hiera_b_320)
BIN=target/release/uncertsam
TIMING=target/release/examples/gpu_timing
mkdir -p "$OUT"
: >"$OUT/steps.txt"

start_all=$SECONDS
failed=()

# step NAME COMMAND...: runs COMMAND with its output in $OUT/NAME.log (and on the terminal),
# records its wall time and verdict; a failure is remembered and the next step runs. (Under
# `||` bash ignores `set -e` inside COMMAND, so the step functions chain with `|| return`.)
step() {
  local name=$1
  shift
  if [[ $SKIP == *" $name "* ]]; then
    echo "== $name: skipped" | tee -a "$OUT/steps.txt"
    return 0
  fi
  echo "== $name"
  local t0=$SECONDS rc=0
  "$@" 2>&1 | tee "$OUT/$name.log" || rc=$?
  local verdict=ok
  if [[ $rc -ne 0 ]]; then
    verdict="FAILED (exit $rc)"
    failed+=("$name")
  fi
  echo "== $name: $verdict in $((SECONDS - t0)) s" | tee -a "$OUT/steps.txt"
}

device_info() {
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || return
  rustc --version || return
  git rev-parse HEAD || echo "(not a git checkout)"
}

build() {
  cargo build --release -p uncertsam-bench --features cuda --bin uncertsam || return
  cargo build --release -p uncertsam-benches --features cuda --example gpu_timing || return
  cargo build -p xtask
}

# The CPU tolerances unchanged (1e-4 from model_input, 0.5 % of mask pixels through the
# pipeline): burn-cuda 0.21 offers no switch for TF32 (docs/performance.md, "CUDA"), so a
# failure here that the CPU run does not show is TF32 (or a real CUDA bug), not noise.
parity() {
  local rc=0
  cargo xtask parity --backend cuda "${FIXTURES[@]}" || rc=$?
  echo "-- the same fixtures on the CPU, for comparison"
  "$BIN" parity --backend cpu "${FIXTURES[@]}" >"$OUT/parity-cpu.txt" || rc=$?
  echo "(CPU report in $OUT/parity-cpu.txt)"
  return "$rc"
}

tests() {
  cargo test --release -p uncertsam-bench --features cuda --test backend cuda -- --nocapture
}

# Same command on both backends; `--jobs 1` on both so that only the backend differs (the
# result files are the same bytes for any --jobs anyway).
bench() {
  rm -rf "$OUT/bench-cuda" "$OUT/bench-cpu"
  local t0=$SECONDS
  "$BIN" bench --quick --jobs 1 --backend cuda --out "$OUT/bench-cuda" || return
  echo "bench --quick cuda: $((SECONDS - t0)) s"
  t0=$SECONDS
  "$BIN" bench --quick --jobs 1 --backend cpu --out "$OUT/bench-cpu" || return
  echo "bench --quick cpu: $((SECONDS - t0)) s"
  target/debug/xtask compare-rows "$OUT/bench-cpu/rows.csv" "$OUT/bench-cuda/rows.csv" |
    tee "$OUT/rows-diff.txt"
}

python_with_torch() {
  if [[ -n ${GPU_CHECK_PYTHON:-} ]]; then
    echo "$GPU_CHECK_PYTHON"
  elif python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo python3
  else
    if [[ ! -x $VENV/bin/python ]]; then
      python3 -m venv "$VENV" >&2 || return
    fi
    "$VENV/bin/python" -m pip install -q torch==2.15.0 torchvision==0.29.2 >&2 || return
    echo "$VENV/bin/python"
  fi
}

timing() {
  local py rc=0
  py=$(python_with_torch) || return
  # The official packages (SAM 2 without its optional CUDA extension, which only the video
  # post-processing uses), into the chosen Python when missing.
  if ! "$py" -c 'import segment_anything, sam2' 2>/dev/null; then
    SAM2_BUILD_CUDA=0 "$py" -m pip install -q --no-build-isolation \
      segment-anything==1.0 sam2==1.1.0 hydra-core==1.3.8 iopath==0.1.10 || return
  fi
  "$py" -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())' || return
  : >"$OUT/rust.jsonl"
  for dtype in f32 bf16; do
    "$TIMING" --backend cuda --dtype "$dtype" --parts "$PARTS" --runs "$RUNS" \
      >>"$OUT/rust.jsonl" || { echo "uncertsam $dtype timing failed"; rc=1; }
  done
  PYTHONUNBUFFERED=1 "$py" scripts/gpu_timing.py torch --device cuda --dtypes f32,tf32,bf16 \
    --parts "$PARTS" --runs "$RUNS" >"$OUT/torch.jsonl" || { echo "PyTorch timing failed"; rc=1; }
  python3 scripts/gpu_timing.py table "$OUT/rust.jsonl" "$OUT/torch.jsonl" >"$OUT/table.md" || rc=1
  cat "$OUT/table.md"
  return "$rc"
}

step device device_info
step build build
step parity parity
step tests tests
step bench bench
step timing timing

echo
echo "== summary ($((SECONDS - start_all)) s in all; logs in $OUT)"
cat "$OUT/steps.txt"
if [[ -s $OUT/table.md ]]; then
  cat "$OUT/table.md"
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "failed: ${failed[*]}"
  exit 1
fi
echo "all steps passed"
