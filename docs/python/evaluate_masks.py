"""Evaluate your own predicted masks with the benchmark's metrics, from numpy arrays.

    pip install ./crates/uncertsam-py && python docs/python/evaluate_masks.py

Replace `my_predictions()` with your model: per image, a foreground probability map, an
uncertainty map (any scale: entropy, variance, ...) and the ground-truth mask.
"""

import numpy as np

from uncertsam import metrics


def my_predictions(n=20, size=128, seed=0):
    """Stand-in for a model: noisy discs, wrong where the noise is strong."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    for _ in range(n):
        cy, cx, r = rng.uniform(40, 88), rng.uniform(40, 88), rng.uniform(15, 30)
        gt = (y - cy) ** 2 + (x - cx) ** 2 < r**2
        noise = rng.normal(0, rng.uniform(0.5, 3.0), gt.shape)
        logit = (r - np.hypot(y - cy - 3, x - cx)) / 4 + noise
        prob = 1 / (1 + np.exp(-logit))
        uncertainty = metrics.binary_entropy(prob)  # or your own map
        yield prob, uncertainty, gt


# %% One mask: every column of the benchmark's rows.csv.
prob, unc, gt = next(my_predictions())
row = metrics.mask_metrics(prob, gt, unc)
print({k: round(row[k], 4) for k in ("IoU", "dice", "BIoU_2", "ECE", "brier", "pearson", "spearman", "auroc", "aupr")})

# %% A dataset: stream masks, then pooled calibration, risk-coverage and bootstrap intervals.
dataset = metrics.DatasetMetrics()
for prob, unc, gt in my_predictions():
    dataset.add(prob, gt, unc)
summary = dataset.finish(resamples=1000, seed=0)
iou = summary["means"]["IoU"]
print(f"{summary['n_masks']} masks: IoU {iou['mean']:.3f} [{iou['ci_low']:.3f}, {iou['ci_high']:.3f}]")
print(f"pooled ECE {summary['pooled_ece']:.4f}, AURC {summary['aurc']:.4f}, E-AURC {summary['eaurc']:.4f}")

# %% Plain arrays: error detection and correlations of any float dtype and shape.
errors = (prob > 0.5) != gt
print("pixel error-detection AUROC", metrics.auroc(unc, errors), "AP", metrics.average_precision(unc, errors))
print("Spearman(u, |gt - p|)", metrics.spearman(unc, np.abs(gt - prob)))
