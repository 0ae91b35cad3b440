"""Speed of `uncertsam.metrics.mask_metrics` on one 1024x1024 mask, from Python.

    python crates/uncertsam-py/benches/mask_metrics.py

Times (best of N, one process) three things on the mask of
`crates/uncertsam-metrics/benches/per_mask.rs` / `fixtures/metrics/time_python.py` (same LCG
noise, float32 maps, with a std map):
- the Python call `mask_metrics(prob, gt, u, std, pred=pred)`, array checks and conversion
  included;
- the Rust call alone, timed inside Rust on the same arrays (`_time_rust_mask_metrics`);
- the paper's Python metrics (`fixtures/metrics/time_python.py`'s `mask_columns`, needs
  torch, torchmetrics, scikit-learn and scipy), in this process and interleaved with the two
  above, when they import; otherwise the figure committed in docs/performance.md.
Targets (issue 19): Python within 1.1x of Rust, at least 20x faster than the reference.
"""

import os
import sys
import time
from pathlib import Path

import numpy as np

from uncertsam import _native, metrics

ROOT = Path(__file__).resolve().parents[3]
REFERENCE_MS_COMMITTED = 2749.0  # docs/performance.md, "Metrics": best of 3 on the 2-core machine


def synthetic(side):
    """The mask of time_python.py, vectorised (the LCG is sequential, so it loops once)."""
    n = side * side
    s = 0x9E3779B97F4A7C15
    mask64 = (1 << 64) - 1
    raw = np.empty(n, np.uint64)
    for k in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & mask64
        raw[k] = s >> 40
    noise = (raw.astype(np.float32) / np.float32(1 << 24) - np.float32(0.5)) * np.float32(0.3)
    noise = noise.reshape(side, side)
    i, j = np.mgrid[0:side, 0:side].astype(np.float32)
    c, r = np.float32(side / 2), np.float32(side / 4)
    dg = np.sqrt((i - c) ** 2 + (j - c) ** 2) - r
    dp = np.sqrt((i - c - 9) ** 2 + (j - c + 5) ** 2) - r
    gt = (dg < 0).astype(np.uint8)
    logit = -dp / np.float32(8) + noise
    p = (1 / (1 + np.exp(-logit))).astype(np.float32)
    pred = (logit > 0).astype(np.uint8)
    q = np.clip(p, np.float32(1e-7), np.float32(1 - 1e-7))
    u = (-q * np.log(q) - (1 - q) * np.log(1 - q)).astype(np.float32)
    return pred, gt, p, u, (np.float32(0.5) * u).astype(np.float32)


def best(f, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def reference_metrics():
    """The paper's metrics of `fixtures/metrics/time_python.py` in this process, or None when
    torch / torchmetrics / scikit-learn / scipy do not import."""
    sys.path.insert(0, str(ROOT / "fixtures/metrics"))
    try:
        import time_python  # sets torch to one thread, as the committed figure was taken
    except ImportError as e:
        print(f"note: the paper's Python metrics do not import here ({e})")
        return None
    return time_python.mask_columns


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    n_ref = min(n, 5)
    pred, gt, p, u, std = synthetic(1024)
    call = lambda: metrics.mask_metrics(p, gt, u, std, pred=pred)
    call()
    reference = reference_metrics()
    # Interleave all three (A B C A B C ...) so that load on the machine hits them alike.
    py, rust, ref = [], [], []
    for k in range(n):
        py.append(best(call, 1))
        rust.append(min(_native._time_rust_mask_metrics(pred, gt, p, u, std, 1)))
        if reference is not None and k < n_ref:
            ref.append(best(lambda: reference(pred, gt, p, u, std), 1))
    py_ms, rust_ms = 1e3 * min(py), 1e3 * min(rust)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} (1 min)")
    print(f"mask_metrics 1024x1024 from Python: {py_ms:.1f} ms (best of {n}); Rust call alone: {rust_ms:.1f} ms; ratio {py_ms / rust_ms:.3f}")
    if ref:
        ref_ms = 1e3 * min(ref)
        where = f"measured now, interleaved (best of {len(ref)})"
    else:
        ref_ms = REFERENCE_MS_COMMITTED
        where = "committed in docs/performance.md (torch is not installed here)"
    print(f"paper's Python metrics: {ref_ms:.0f} ms, {where}; speed-up {ref_ms / py_ms:.1f}x")
    row = call()
    print(f"IoU={row['IoU']:.6f} auroc={row['auroc']:.6f}")


if __name__ == "__main__":
    main()
