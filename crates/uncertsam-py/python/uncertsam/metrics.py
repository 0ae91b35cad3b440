"""The benchmark's metrics on numpy arrays (``uncertsam-metrics``, exact, f64 accumulation).

Per mask, :func:`mask_metrics` gives every metric column of the benchmark's ``rows.csv``
(:data:`COLUMNS`: the paper's segmentation, ROI, Boundary IoU, calibration and
uncertainty-error columns, plus Spearman, NLL and error-detection AUROC / AP). Over a dataset,
:class:`DatasetMetrics` streams masks and reports means with bootstrap intervals, pooled ECE /
Brier / NLL with the reliability bins, risk-coverage with AURC and E-AURC, and mask-level
correlations. The slice-level :func:`auroc`, :func:`average_precision`, :func:`ece`,
:func:`brier`, :func:`pearson` and :func:`spearman` take arrays of any shape (flattened) and
any float dtype: float64 input is ranked and summed as float64, float32 / float16 as float32.

Bad input (mismatched shapes, a non-numeric dtype, NaN or infinity, an empty array, a
probability outside [0, 1]) raises :class:`ValueError` naming the array. Undefined values
(an AUROC without one of the classes, the Pearson of a constant) are NaN.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from . import _native

COLUMNS: Tuple[str, ...] = tuple(_native.COLUMNS)
"""The metric columns of ``rows.csv``, in order (the keys of :func:`mask_metrics`)."""

_EPS = np.float32(1e-7)


def _array(name: str, a: ArrayLike) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _is_f64(arr: np.ndarray) -> bool:
    """Whether ``arr`` takes the f64 path: float64 / longdouble, or integers."""
    return arr.dtype.kind in "iu" or (arr.dtype.kind == "f" and arr.dtype.itemsize >= 8)


def _float(name: str, arr: np.ndarray, dtype: Any) -> np.ndarray:
    out = np.ascontiguousarray(arr, dtype=dtype).reshape(-1)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(np.ravel(arr)))[0])
        raise ValueError(f"{name}[{bad}] is {np.ravel(arr)[bad]}, not a finite number")
    return out


def _same_shape(a_name: str, a: np.ndarray, b_name: str, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{a_name} has shape {a.shape} but {b_name} has shape {b.shape}")


def _binary(name: str, a: np.ndarray) -> np.ndarray:
    """0/1 (or bool) labels as a contiguous flat bool array."""
    if a.dtype.kind == "b":
        return np.ascontiguousarray(a).reshape(-1)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinity")
    ok = (a == 0) | (a == 1)
    if not np.all(ok):
        bad = int(np.flatnonzero(~np.ravel(ok))[0])
        raise ValueError(f"{name}[{bad}] is {np.ravel(a)[bad]}; labels must be 0/1 or bool")
    return np.ascontiguousarray(a != 0).reshape(-1)


def _pair(xn: str, x: ArrayLike, yn: str, y: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    xa, ya = _array(xn, x), _array(yn, y)
    _same_shape(xn, xa, yn, ya)
    return xa, ya


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """AUROC of ``scores`` for detecting ``labels == 1``: P(s+ > s-) + P(s+ = s-) / 2.

    Exactly scikit-learn's ``roc_auc_score``, ties included; NaN when either class is absent
    (as scikit-learn 1.9, which also warns). ``scores`` of any shape and numeric dtype, ``labels`` bool or
    0/1 of the same shape.
    """
    s, lab = _pair("scores", scores, "labels", labels)
    lab = _binary("labels", lab)
    if _is_f64(s):
        return _native.auroc_f64(_float("scores", s, np.float64), lab)
    return _native.auroc_f32(_float("scores", s, np.float32), lab)


def average_precision(scores: ArrayLike, labels: ArrayLike) -> float:
    """Average precision of ``scores`` for ``labels == 1`` (scikit-learn's
    ``average_precision_score``: tied scores form one threshold). NaN without positives
    (scikit-learn returns 0 with a warning).
    """
    s, lab = _pair("scores", scores, "labels", labels)
    lab = _binary("labels", lab)
    if _is_f64(s):
        return _native.average_precision_f64(_float("scores", s, np.float64), lab)
    return _native.average_precision_f32(_float("scores", s, np.float32), lab)


def _gt(name: str, gt: np.ndarray) -> np.ndarray:
    """Ground truth as 0/1 bytes: any nonzero value is foreground (the paper's ``.bool()``)."""
    if gt.dtype.kind == "f" and not np.all(np.isfinite(gt)):
        raise ValueError(f"{name} holds NaN or infinity")
    return np.ascontiguousarray(gt != 0, dtype=np.uint8).reshape(-1)


def ece(prob: ArrayLike, gt: ArrayLike) -> float:
    """Binary expected calibration error of ``prob`` against ``gt`` (nonzero = 1): 10
    equal-width bins plus the point bin {1.0}, L1, as torchmetrics'
    ``BinaryCalibrationError(n_bins=10)``. float32 / float16 input is binned with
    torchmetrics' float32 edges (the benchmark's ``ECE``); float64 with the float64 edges k/10.
    """
    p, g = _pair("prob", prob, "gt", gt)
    g = _gt("gt", g)
    if _is_f64(p):
        return _native.ece_f64(_float("prob", p, np.float64), g)
    return _native.ece_f32(_float("prob", p, np.float32), g)


def brier(prob: ArrayLike, gt: ArrayLike) -> float:
    """Brier score mean((prob - gt)^2) in float64 (scikit-learn's ``brier_score_loss``)."""
    p, g = _pair("prob", prob, "gt", gt)
    return _native.brier(_float("prob", p, np.float64), _gt("gt", g))


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson's r in float64, two-pass, no epsilon (scipy's ``pearsonr``); NaN when either
    input is constant."""
    xa, ya = _pair("x", x, "y", y)
    return _native.pearson(_float("x", xa, np.float64), _float("y", ya, np.float64))


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rho with average ranks for ties (scipy's ``spearmanr``); NaN when either
    input is constant. float32 / float16 pairs are ranked exactly as float32."""
    xa, ya = _pair("x", x, "y", y)
    if _is_f64(xa) or _is_f64(ya):
        return _native.spearman_f64(_float("x", xa, np.float64), _float("y", ya, np.float64))
    return _native.spearman_f32(_float("x", xa, np.float32), _float("y", ya, np.float32))


def binary_entropy(prob: ArrayLike) -> np.ndarray:
    """The default uncertainty of :func:`mask_metrics`: H(p) in nats, float32, with p
    clamped to [1e-7, 1 - 1e-7]."""
    q = np.clip(np.asarray(prob, dtype=np.float32), _EPS, np.float32(1) - _EPS)
    return (-(q * np.log(q)) - (np.float32(1) - q) * np.log(np.float32(1) - q)).astype(np.float32)


class _Mask:
    """One mask's arrays, checked and converted to what ``uncertsam-metrics`` takes."""

    def __init__(self, prob, gt, uncertainty, std, pred, iou_pred):
        p = _array("prob", prob)
        if p.ndim != 2:
            raise ValueError(f"prob must be a 2-D (H, W) array, got shape {p.shape}")
        if p.dtype.kind != "f":
            raise ValueError(f"prob must be a floating-point array, got dtype {p.dtype}")
        g = _array("gt", gt)
        _same_shape("prob", p, "gt", g)
        self.shape = p.shape
        self.prob = _float("prob", p, np.float32).reshape(p.shape)
        self.gt = _gt("gt", g).reshape(p.shape)
        if pred is None:
            self.pred = np.ascontiguousarray(self.prob > 0.5, dtype=np.uint8)
        else:
            pa = _array("pred", pred)
            _same_shape("prob", p, "pred", pa)
            self.pred = _gt("pred", pa).reshape(p.shape)
        if uncertainty is None:
            self.unc = binary_entropy(self.prob)
        else:
            u = _array("uncertainty", uncertainty)
            _same_shape("prob", p, "uncertainty", u)
            self.unc = _float("uncertainty", u, np.float32).reshape(p.shape)
        if std is None:
            self.std = None
        else:
            s = _array("std", std)
            _same_shape("prob", p, "std", s)
            self.std = _float("std", s, np.float32).reshape(p.shape)
        if iou_pred is not None:
            iou_pred = float(iou_pred)
            if not np.isfinite(iou_pred):
                raise ValueError(f"iou_pred is {iou_pred}, not a finite number")
        self.iou_pred = iou_pred

    def args(self):
        return (self.pred, self.gt, self.prob, self.unc, self.std, self.iou_pred)


def mask_metrics(
    prob: ArrayLike,
    gt: ArrayLike,
    uncertainty: Optional[ArrayLike] = None,
    std: Optional[ArrayLike] = None,
    *,
    pred: Optional[ArrayLike] = None,
    iou_pred: Optional[float] = None,
) -> Dict[str, float]:
    """Every metric column of ``rows.csv`` for one ``(H, W)`` mask, as ``{column: value}``.

    Args:
        prob: foreground probability p in [0, 1], any float dtype (computed in float32, as the
            paper's tensors and the benchmark).
        gt: ground truth, any numeric dtype; nonzero is foreground.
        uncertainty: the uncertainty map u (any finite scale); default :func:`binary_entropy`
            of ``prob``.
        std: optional per-pixel sample std (``avg_sample_std`` columns; NaN without it).
        pred: the binary prediction (nonzero = foreground); default ``prob > 0.5``. The
            benchmark uses ``logits > 0``.
        iou_pred: unused per mask (kept for symmetry with :meth:`DatasetMetrics.add`).

    Every pixel counts. NaN marks an undefined value (see :data:`COLUMNS` in the Rust docs:
    e.g. ``auroc`` when no pixel is wrong).
    """
    m = _Mask(prob, gt, uncertainty, std, pred, iou_pred)
    return _native.mask_metrics(*m.args())


class DatasetMetrics:
    """Streams masks of one dataset; :meth:`finish` gives the dataset-level metrics.

    Memory is one row per mask plus fixed-size pooled calibration sums; no pixel is kept.

    >>> d = DatasetMetrics()
    >>> row = d.add(prob, gt, uncertainty)          # doctest: +SKIP
    >>> s = d.finish()                               # doctest: +SKIP
    >>> s["pooled_ece"], s["aurc"], s["eaurc"], s["means"]["IoU"]  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._acc = _native.DatasetAccumulator()

    def add(
        self,
        prob: ArrayLike,
        gt: ArrayLike,
        uncertainty: Optional[ArrayLike] = None,
        std: Optional[ArrayLike] = None,
        *,
        pred: Optional[ArrayLike] = None,
        iou_pred: Optional[float] = None,
    ) -> Dict[str, float]:
        """Adds one mask (arguments as :func:`mask_metrics`; ``iou_pred`` is the model's
        predicted IoU, a mask-level confidence) and returns its row. Nothing is recorded when
        it raises."""
        m = _Mask(prob, gt, uncertainty, std, pred, iou_pred)
        return self._acc.add(*m.args())

    def __len__(self) -> int:
        return len(self._acc)

    def rows(self) -> List[Dict[str, float]]:
        """The per-mask rows, in the order added."""
        return self._acc.rows()

    def finish(self, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> Dict[str, Any]:
        """Dataset-level metrics.

        Returns a dict with ``n_masks``; ``means`` (``{column: {mean, count, ci_low,
        ci_high}}``, NaN-skipping means with seeded percentile-bootstrap intervals);
        ``pooled`` (``ece``, ``brier``, ``nll``, ``n_pixels`` and the 11 reliability
        ``bins``); ``risk_coverage_unc`` (masks ranked by mean uncertainty: ``coverage``,
        ``risk``, ``aurc``, ``aurc_optimal``, ``eaurc``); ``risk_coverage_iou_pred`` and
        ``iou_pred_vs_iou`` when every mask had an ``iou_pred``; ``unc_vs_iou`` (Pearson and
        Spearman of mean uncertainty against IoU); ``bootstrap``; and the shortcuts
        ``pooled_ece``, ``aurc``, ``eaurc``.

        Raises ValueError without masks or for a bad bootstrap (``resamples < 1``, ``level``
        outside (0, 1)).
        """
        if resamples < 1:
            raise ValueError(f"resamples must be at least 1, got {resamples}")
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        out = self._acc.finish(int(resamples), float(level), int(seed))
        out["pooled_ece"] = out["pooled"]["ece"]
        out["aurc"] = out["risk_coverage_unc"]["aurc"]
        out["eaurc"] = out["risk_coverage_unc"]["eaurc"]
        return out


__all__ = [
    "COLUMNS",
    "DatasetMetrics",
    "auroc",
    "average_precision",
    "binary_entropy",
    "brier",
    "ece",
    "mask_metrics",
    "pearson",
    "spearman",
]
