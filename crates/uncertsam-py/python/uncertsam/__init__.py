"""uncertsam: uncertainty for Segment Anything under domain shift, from Python.

The Rust workspace (https://github.com/uncertsam/uncertsam) behind numpy arrays:

- :mod:`uncertsam.metrics`: every per-mask metric of the benchmark's ``rows.csv``, the
  streaming dataset summary (pooled ECE, AURC, E-AURC, bootstrap intervals) and AUROC, average
  precision, ECE, Brier, Pearson and Spearman on arrays of any float dtype;
- :class:`Sam`, :func:`estimate`, :func:`estimators`: SAM (v1, MobileSAM, SAM 2) and the
  uncertainty estimators on an ``(H, W, 3)`` uint8 image;
- :func:`bench`: the benchmark with the CLI's options.

Every result equals the ``uncertsam`` CLI's for the same inputs bit for bit (the same Rust
code runs), and the GIL is released while the model or a metric works.

>>> import numpy as np, uncertsam
>>> prob = np.array([[0.1, 0.9], [0.6, 0.2]]); gt = np.array([[0, 1], [0, 0]])
>>> round(uncertsam.metrics.mask_metrics(prob, gt)["IoU"], 6)
0.5
"""

from . import _native, metrics
from ._bench import bench
from ._model import Embedding, Estimate, Sam, estimate, estimators, load_image

__version__: str = _native.__version__

__all__ = [
    "Embedding",
    "Estimate",
    "Sam",
    "__version__",
    "bench",
    "estimate",
    "estimators",
    "load_image",
    "metrics",
]
