"""Bad input raises the documented exceptions, never crashes the interpreter."""

import numpy as np
import pytest

import uncertsam
from uncertsam import metrics as um

P = np.full((8, 8), 0.5, np.float32)
G = np.zeros((8, 8), np.uint8)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: um.mask_metrics(P, G[:4]), "shape"),
        (lambda: um.mask_metrics(P, G, np.zeros((8, 7))), "shape"),
        (lambda: um.mask_metrics(P, G, std=np.zeros(64)), "shape"),
        (lambda: um.mask_metrics(P.ravel(), G.ravel()), "2-D"),
        (lambda: um.mask_metrics(np.where(np.eye(8) > 0, np.nan, P), G), "finite"),
        (lambda: um.mask_metrics(P + 0.6, G), "probability"),
        (lambda: um.mask_metrics(P, G, np.full((8, 8), np.inf)), "finite"),
        (lambda: um.mask_metrics(np.zeros((0, 0)), np.zeros((0, 0))), "empty"),
        (lambda: um.mask_metrics(P.astype(np.uint8), G), "floating"),
        (lambda: um.mask_metrics(np.array([["a"]]), np.array([[1]])), "numeric"),
        (lambda: um.mask_metrics(P, G, iou_pred=float("nan")), "finite"),
        (lambda: um.auroc([0.1, 0.2], [1]), "shape"),
        (lambda: um.auroc([], []), "empty"),
        (lambda: um.auroc([0.1, np.nan], [0, 1]), "finite"),
        (lambda: um.auroc([0.1, 0.2], [0, 2]), "0/1"),
        (lambda: um.average_precision(np.array([0.1, np.inf], np.float32), [0, 1]), "finite"),
        (lambda: um.spearman([1.0, 2.0], [1.0]), "shape"),
        (lambda: um.pearson([1.0, np.nan], [1.0, 2.0]), "finite"),
        (lambda: um.ece([0.5, 1.5], [0, 1]), "probability"),
        (lambda: um.brier([], []), "empty"),
        (lambda: um.auroc(np.array([1 + 1j, 2]), [0, 1]), "numeric"),
        (lambda: um.DatasetMetrics().finish(), "no mask"),
        (lambda: um.DatasetMetrics().finish(level=1.5), "no mask|level"),
    ],
)
def test_bad_metric_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_failed_add_records_nothing():
    d = um.DatasetMetrics()
    d.add(P, G)
    with pytest.raises(ValueError):
        d.add(P + 0.7, G)
    assert len(d) == 1
    with pytest.raises(ValueError, match="level"):
        d.finish(level=1.5)
    with pytest.raises(ValueError, match="resamples"):
        d.finish(resamples=0)


def test_bad_model_input_raises():
    with pytest.raises(RuntimeError):
        uncertsam.Sam.load("/nonexistent/sam.pth", "vit_b")
    with pytest.raises(RuntimeError, match="preset"):
        uncertsam.Sam.random("no_such_model")
    sam = uncertsam.Sam.random("tiny")
    img = np.zeros((16, 16, 3), np.uint8)
    for bad in (np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.float32), np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(ValueError, match="image"):
            sam.embed(bad)
    emb = sam.embed(img)
    with pytest.raises(ValueError, match="box or at least one point"):
        sam.predict(emb)
    with pytest.raises(ValueError, match="4 numbers"):
        sam.predict(emb, box=(1, 2, 3))
    with pytest.raises(ValueError, match="labels"):
        sam.predict(emb, points=[(3, 3)], labels=[1, 0])
    with pytest.raises(ValueError, match="label 2"):
        sam.predict(emb, points=[(3, 3)], labels=[2])
    with pytest.raises(ValueError, match="finite"):
        sam.predict(emb, box=(1, 2, float("nan"), 4))
    with pytest.raises(ValueError, match="unknown estimator"):
        uncertsam.estimate(sam, img, (1, 1, 9, 9), "no_such_estimator")
    with pytest.raises(ValueError, match="unknown option"):
        uncertsam.estimate(sam, img, (1, 1, 9, 9), "entropy", sample=3)
    with pytest.raises(ValueError, match="samples"):
        uncertsam.estimate(sam, img, (1, 1, 9, 9), "entropy", samples=0)
    with pytest.raises(ValueError, match="estimator config"):
        uncertsam.estimate(sam, img, (1, 1, 9, 9), {"kind": "mc_dropout", "p": "x"})
    with pytest.raises(ValueError, match="prompt key"):
        uncertsam.estimate(sam, img, {"bbox": (1, 1, 9, 9)}, "entropy")


def test_bad_bench_options_raise():
    with pytest.raises(ValueError, match="unexpected argument|unknown|invalid"):
        uncertsam.bench(out="/tmp/never", no_such_option=3)
    with pytest.raises(ValueError, match="not supported"):
        uncertsam.bench(out="/tmp/never", shard="0/2")
