"""SAM and the uncertainty estimators on numpy images (the CLI's ``predict`` path)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native

PathLike = Union[str, "os.PathLike[str]"]

# What each bench estimator reads of estimate()'s options (besides `seed`, which seeds every
# random draw): the CLI's `--samples` and `--data`.
_OPTIONS: Dict[str, Tuple[str, ...]] = {
    "tta": ("samples",),
    "prompt_perturbation": ("samples",),
    "mc_dropout": ("samples",),
    "laplace_paper": ("samples", "data"),
    "laplace_probit": ("data",),
}
_DESCRIPTIONS: Dict[str, str] = {
    "entropy": "one-pass predictive entropy of sigmoid(logits)",
    "iou_head": "SAM's IoU head as a mask-level confidence (entropy map)",
    "multimask_disagreement": "disagreement of the mask tokens of one pass",
    "tta": "test-time augmentation, hue jitter (samples views)",
    "tta_flip": "test-time augmentation: identity and horizontal flip",
    "prompt_perturbation": "jittered box prompts (samples prompts)",
    "mc_dropout": "MC dropout p=0.1 in the transformer MLPs and hypernetworks (samples passes)",
    "ensemble": "deep ensemble of decoders (the embedded model's members)",
    "laplace_probit": "last-layer Laplace, Kronecker posterior, closed-form probit",
    "laplace_paper": "the paper's last-layer Laplace: diagonal, softmax over pixels, MC",
    "variance_net": "the trained variance network (the embedded model's head)",
}
_DEFAULTS: Dict[str, Any] = {"samples": 10, "seed": 0, "data": "target/uncertsam-synth"}


def load_image(path: PathLike) -> np.ndarray:
    """Reads an image file as an ``(H, W, 3)`` uint8 array, decoded exactly as the CLI
    decodes ``--image`` (so :func:`estimate` on it equals ``uncertsam predict`` on the file)."""
    return _native.load_image(os.fspath(path))


def _image(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"image must be a uint8 array of shape (H, W, 3), got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image must be a uint8 array of shape (H, W, 3), got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _prompt(
    box: Optional[Sequence[float]],
    points: Optional[Sequence[Sequence[float]]],
    labels: Optional[Sequence[int]],
) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if box is not None:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
        if b.shape != (4,):
            raise ValueError(f"box must be 4 numbers x0, y0, x1, y1, got {len(b)}")
        out["bbox"] = [float(v) for v in b]
    if points is not None:
        p = np.asarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"points must be a sequence of (x, y) pairs, got shape {p.shape}")
        out["points"] = [[float(x), float(y)] for x, y in p]
    if labels is not None:
        out["labels"] = [int(v) for v in np.asarray(labels).reshape(-1)]
    if "bbox" not in out and not out.get("points"):
        raise ValueError("give a box or at least one point")
    return out


class Embedding:
    """An image and its embedding: the encoder ran once; every prompt and estimator reuses it
    (test-time augmentation re-encodes its views)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def image_size(self) -> Tuple[int, int]:
        """``(H, W)`` of the image."""
        return tuple(self._inner.image_size)


class Sam:
    """A promptable segmentation model (SAM v1 / MobileSAM / SAM 2) on the CPU backend.

    Build one with :meth:`load`, :meth:`embedded` or :meth:`random`.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @staticmethod
    def load(checkpoint: PathLike, model: str = "vit_b") -> "Sam":
        """Loads an official checkpoint (``.pth``, ``mobile_sam.pt``, SAM 2 ``.pt``, or
        safetensors with the official keys) with the ``model`` geometry: ``vit_b``,
        ``vit_l``, ``vit_h``, ``tiny``, ``mobile_sam``, ``sam2_hiera_t`` / ``_s`` / ``_b+`` /
        ``_l`` or a config.json path (the CLI's ``--checkpoint``, ``--model``). Raises
        RuntimeError naming the key and shapes when the checkpoint does not fit."""
        return Sam(_native.Sam.load(os.fspath(checkpoint), str(model)))

    @staticmethod
    def embedded() -> "Sam":
        """The embedded default model (a tiny SAM trained on the synthetic benchmark, in
        ``fixtures/default`` of the repository the package was built from), with its fitted
        Laplace posteriors, ensemble members and variance network."""
        return Sam(_native.Sam.embedded())

    @staticmethod
    def random(model: str, seed: int = 0) -> "Sam":
        """Random weights of the ``model`` geometry, seeded (the CLI's ``--random-init``)."""
        return Sam(_native.Sam.random(str(model), int(seed)))

    @property
    def description(self) -> str:
        """What was loaded."""
        return self._inner.description

    def __repr__(self) -> str:
        return repr(self._inner)

    def embed(self, image: np.ndarray) -> Embedding:
        """Runs the image encoder on an ``(H, W, 3)`` uint8 RGB image."""
        return Embedding(self._inner.embed(_image(image)))

    def predict(
        self,
        embedding: Embedding,
        box: Optional[Sequence[float]] = None,
        points: Optional[Sequence[Sequence[float]]] = None,
        labels: Optional[Sequence[int]] = None,
        multimask: bool = False,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """One decoder pass for one prompt in image pixels: a box ``(x0, y0, x1, y1)`` and/or
        points ``[(x, y), ...]`` with ``labels`` (1 foreground, 0 background; default all 1).

        Returns ``(logits, iou)``: float32 logits ``(m, H, W)`` at the image size (``> 0`` is
        the mask) and the IoU predictions ``(m,)``, m = 3 with ``multimask`` else 1.
        """
        if not isinstance(embedding, Embedding):
            raise TypeError("embedding must come from Sam.embed")
        return self._inner.predict(embedding._inner, multimask=bool(multimask), **_prompt(box, points, labels))


@dataclass(frozen=True)
class Estimate:
    """One estimator's output for one prompt, at the image size ``(H, W)``, float32.

    ``prob`` is sigmoid(``logits``) as the benchmark scores it; ``logits`` are SAM's for
    single-pass estimators, logit(mean p) for sampling ones; ``uncertainty`` is the map the
    estimator reports (predictive entropy unless it says otherwise); ``std`` the per-pixel std
    of the sampled probabilities (None without samples); ``iou`` the predicted IoU.
    """

    name: str
    prob: np.ndarray
    logits: np.ndarray
    uncertainty: np.ndarray
    std: Optional[np.ndarray]
    iou: float

    @property
    def mask(self) -> np.ndarray:
        """The predicted mask, ``logits > 0``."""
        return self.logits > 0


def estimators() -> Dict[str, Dict[str, Any]]:
    """The registered estimator names (the benchmark's, in its table order), each with a
    description and the options :func:`estimate` passes it, with their defaults. Every
    estimator also takes ``seed``; ``config`` (an ``EstimatorConfig`` dict, e.g. ``{"kind":
    "mc_dropout", "p": 0.2, "samples": 8, "sites": ["transformer_mlp"]}``) builds any
    configured estimator instead; ``estimators()["_configs"]`` lists the paper's defaults."""
    names, configs = _native.estimator_names()
    out: Dict[str, Dict[str, Any]] = {}
    for n in names:
        opts = {"seed": _DEFAULTS["seed"]}
        for o in _OPTIONS.get(n, ()):
            opts[o] = _DEFAULTS[o]
        out[n] = {"description": _DESCRIPTIONS.get(n, n), "options": opts}
    out["_configs"] = {"description": "EstimatorConfig paper defaults", "options": {"configs": [json.loads(c) for c in configs]}}
    return out


def estimate(
    sam: Sam,
    image: Union[np.ndarray, Embedding],
    prompt: Union[Sequence[float], Mapping[str, Any]],
    estimator: Union[str, Mapping[str, Any]] = "laplace_probit",
    **options: Any,
) -> Estimate:
    """Runs one estimator on one prompt, exactly as ``uncertsam predict`` does.

    Args:
        sam: the model.
        image: an ``(H, W, 3)`` uint8 image, or its :class:`Embedding` (to reuse the encoder
            pass).
        prompt: a box ``(x0, y0, x1, y1)`` in image pixels, or a dict with ``box``,
            ``points`` and ``labels`` (as :meth:`Sam.predict`).
        estimator: a name from :func:`estimators`, or an ``EstimatorConfig`` dict.
        **options: ``samples`` (default 10), ``seed`` (0) and ``data`` (the benchmark root
            Laplace fits on when the model has no committed fit; default
            ``target/uncertsam-synth``, generated when absent), as the CLI's options.

    Raises ValueError for a bad image, prompt, option or estimator name, RuntimeError when the
    estimator cannot run on this model (e.g. ``ensemble`` without members).
    """
    if not isinstance(sam, Sam):
        raise TypeError("sam must be a uncertsam.Sam")
    unknown = set(options) - set(_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; estimate takes {sorted(_DEFAULTS)}")
    opts = {**_DEFAULTS, **options}
    samples, seed = int(opts["samples"]), int(opts["seed"])
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    emb = image if isinstance(image, Embedding) else sam.embed(image)
    if isinstance(prompt, Mapping):
        bad = set(prompt) - {"box", "points", "labels"}
        if bad:
            raise ValueError(f"unknown prompt key(s) {sorted(bad)}; use box, points, labels")
        p = _prompt(prompt.get("box"), prompt.get("points"), prompt.get("labels"))
    else:
        p = _prompt(prompt, None, None)
    if isinstance(estimator, Mapping):
        name, config = str(estimator.get("kind", "config")), json.dumps(dict(estimator))
    else:
        name, config = str(estimator), None
    out = sam._inner.estimate(emb._inner, name, samples, seed, os.fspath(opts["data"]), config=config, **p)
    std = out["std"]
    return Estimate(
        name=out["name"],
        prob=out["prob"][0],
        logits=out["logits"][0],
        uncertainty=out["uncertainty"][0],
        std=None if std is None else std[0],
        iou=float(out["iou"][0]),
    )
