"""uncertsam.metrics against scikit-learn, scipy and the committed reference values of
fixtures/metrics (made by the paper's formulas, torchmetrics, scikit-learn and scipy)."""

import json
import math
import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

import uncertsam
from uncertsam import metrics as um

from conftest import ROOT

TOL = 1e-9  # the Rust fixture tests' tolerance (relative above 1)


def close(got, want, tol=TOL):
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return math.isnan(got)
    return abs(got - want) <= tol * max(1.0, abs(want))


def fixture_masks():
    data = json.loads((ROOT / "fixtures/metrics/masks.json").read_text())

    def f32(hexs, h, w):
        return np.frombuffer(bytes.fromhex(hexs), dtype="<f4").reshape(h, w)

    def bits(s, h, w):
        return (np.frombuffer(s.encode(), dtype=np.uint8) - ord("0")).reshape(h, w)

    for m in data["masks"]:
        h, w = m["height"], m["width"]
        yield m, dict(
            pred=bits(m["pred"], h, w),
            gt=bits(m["gt"], h, w),
            prob=f32(m["prob"], h, w),
            unc=f32(m["unc"], h, w),
            std=None if m["std"] is None else f32(m["std"], h, w),
            iou_pred=m["iou_pred"],
        )


def test_version_is_the_crate_version():
    assert uncertsam.__version__ == "0.1.0"
    assert len(um.COLUMNS) == 32 and um.COLUMNS[0] == "IoU" and um.COLUMNS[-1] == "aupr"


@pytest.mark.parametrize("case", [m["name"] for m, _ in fixture_masks()])
def test_every_column_matches_the_python_reference(case):
    m, a = next((m, a) for m, a in fixture_masks() if m["name"] == case)
    got = um.mask_metrics(a["prob"], a["gt"], a["unc"], a["std"], pred=a["pred"])
    assert list(got) == list(um.COLUMNS)
    for c in um.COLUMNS:
        assert close(got[c], m["expected"][c]), (case, c, got[c], m["expected"][c])


def test_dataset_metrics_match_the_python_reference():
    want = json.loads((ROOT / "fixtures/metrics/dataset.json").read_text())
    d = um.DatasetMetrics()
    for _, a in fixture_masks():
        d.add(a["prob"], a["gt"], a["unc"], a["std"], pred=a["pred"], iou_pred=a["iou_pred"])
    assert len(d) == len(want["masks"])
    got = d.finish()
    for c in um.COLUMNS:
        assert close(got["means"][c]["mean"], want["means"][c]["mean"]), c
        assert got["means"][c]["count"] == want["means"][c]["count"], c
    for key in ("unc_vs_iou", "iou_pred_vs_iou"):
        for k in ("pearson", "spearman"):
            assert close(got[key][k], want[key][k]), (key, k)
    for key in ("risk_coverage_unc", "risk_coverage_iou_pred"):
        for k in ("aurc", "aurc_optimal", "eaurc"):
            assert close(got[key][k], want[key][k]), (key, k)
        assert np.allclose(got[key]["coverage"], want[key]["coverage"], rtol=0, atol=TOL)
        assert np.allclose(got[key]["risk"], want[key]["risk"], rtol=0, atol=TOL)
    p = want["pooled"]
    assert got["pooled"]["n_pixels"] == p["n_pixels"]
    for k in ("ece", "brier", "nll"):
        assert close(got["pooled"][k], p[k]), k
    assert [b["count"] for b in got["pooled"]["bins"]] == [b["count"] for b in p["bins"]]
    assert got["pooled_ece"] == got["pooled"]["ece"]
    assert got["aurc"] == got["risk_coverage_unc"]["aurc"]
    assert got["eaurc"] == got["risk_coverage_unc"]["eaurc"]
    # Bootstrap intervals: seeded, bracket the mean of a column that varies.
    iou = got["means"]["IoU"]
    assert iou["ci_low"] <= iou["mean"] <= iou["ci_high"] and iou["ci_low"] < iou["ci_high"]
    assert d.finish()["means"]["IoU"] == iou
    assert d.finish(seed=1)["means"]["IoU"] != iou


def test_rows_equal_single_mask_calls():
    d = um.DatasetMetrics()
    for _, a in fixture_masks():
        row = d.add(a["prob"], a["gt"], a["unc"], a["std"], pred=a["pred"])
        single = um.mask_metrics(a["prob"], a["gt"], a["unc"], a["std"], pred=a["pred"])
        assert np.array_equal(list(row.values()), list(single.values()), equal_nan=True)
    assert len(d.rows()) == len(d)


def rng_cases():
    """(scores, labels) pairs: continuous, heavy ties, all positive, near-ties."""
    rng = np.random.default_rng(7)
    n = 5000
    labels = rng.random(n) < 0.3
    yield "continuous", rng.normal(size=n) + labels, labels
    yield "ties", np.round(rng.random(n) * 4) / 4 + 0.1 * labels, labels
    yield "constant_scores", np.full(n, 0.25), labels
    yield "single_positive", rng.random(n), np.arange(n) == 17
    # Distinct in float64, equal once rounded to float32.
    base = np.repeat(rng.random(50), 40)
    yield "f32_near_ties", base + rng.integers(0, 3, base.size) * 1e-12, rng.random(base.size) < 0.4


@pytest.mark.parametrize("name,scores,labels", list(rng_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_auroc_and_ap_equal_scikit_learn(name, scores, labels):
    assert close(um.auroc(scores, labels), roc_auc_score(labels, scores), 1e-12)
    assert close(um.average_precision(scores, labels), average_precision_score(labels, scores), 1e-12)
    s32 = scores.astype(np.float32)
    assert close(um.auroc(s32, labels), roc_auc_score(labels, s32.astype(np.float64)), 1e-12)
    assert close(um.average_precision(s32, labels), average_precision_score(labels, s32.astype(np.float64)), 1e-12)


def test_f64_scores_are_not_rounded_to_f32():
    _, scores, labels = [c for c in rng_cases() if c[0] == "f32_near_ties"][0]
    f64 = um.average_precision(scores, labels)
    via_f32 = um.average_precision(scores.astype(np.float32), labels)
    want = average_precision_score(labels, scores)
    assert close(f64, want, 1e-12)
    assert abs(via_f32 - want) > 1e-6  # what ranking as f32 would have cost


def test_all_positive_and_all_negative_labels():
    s = np.linspace(0, 1, 11)
    ones = np.ones(11, bool)
    assert average_precision_score(ones, s) == 1.0
    assert close(um.average_precision(s, ones), 1.0, 1e-12)  # 11 terms of 1/11 sum to 1 + 2e-16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn 1.9: "Only one class is present", NaN
        assert math.isnan(roc_auc_score(ones, s))
    assert math.isnan(um.auroc(s, ones))
    assert math.isnan(um.average_precision(s, ~ones))
    assert math.isnan(um.auroc(s, ~ones))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_any_dtype_and_shape(dtype):
    rng = np.random.default_rng(3)
    x = (rng.random((7, 9, 3)) * 100).astype(dtype)
    y = (rng.random((7, 9, 3)) * 100).astype(dtype)
    labels = (rng.random((7, 9, 3)) < 0.5).astype(np.int32)
    xf, yf = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    assert close(um.auroc(x, labels), roc_auc_score(labels.ravel(), xf), 1e-12)
    assert close(um.average_precision(x, labels), average_precision_score(labels.ravel(), xf), 1e-12)
    assert close(um.spearman(x, y), spearmanr(xf, yf).statistic, 1e-12)
    assert close(um.pearson(x, y), pearsonr(xf, yf).statistic, 1e-12)


def test_spearman_and_pearson_equal_scipy_with_ties_and_constants():
    rng = np.random.default_rng(11)
    x = np.round(rng.random(3000) * 6)
    y = x * 0.5 + np.round(rng.random(3000) * 3)
    for a, b in [(x, y), (x.astype(np.float32), y.astype(np.float32)), (rng.normal(size=300), rng.normal(size=300))]:
        a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert close(um.spearman(a, b), spearmanr(a64, b64).statistic, 1e-12)
        assert close(um.pearson(a, b), pearsonr(a64, b64).statistic, 1e-12)
    const = np.full(100, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(spearmanr(const, y[:100]).statistic)
        assert math.isnan(pearsonr(const, y[:100]).statistic)
    assert math.isnan(um.spearman(const, y[:100]))
    assert math.isnan(um.pearson(const, y[:100]))


def ece_reference(p, g, edges):
    """torchmetrics' binary L1 ECE (bucketize right=True, the point bin {1.0} of its own):
    an independent numpy version of fixtures/metrics/generate.py's `ece64`."""
    p, g = np.asarray(p, np.float64).ravel(), np.asarray(g, np.float64).ravel()
    k = np.searchsorted(np.asarray(edges, np.float64), p, side="right") - 1
    total = 0.0
    for b in np.unique(k):
        sel = k == b
        total += abs(g[sel].mean() - p[sel].mean()) * sel.sum() / p.size
    return total


def test_ece_and_brier():
    rng = np.random.default_rng(5)
    edges32 = np.linspace(0, 1, 11, dtype=np.float32)  # torch.linspace(0, 1, 11, float32)
    assert np.array_equal(edges32, np.arange(11, dtype=np.float32) / np.float32(10))
    p = rng.random((64, 48)) ** 2
    p.flat[:30] = np.arange(30) % 11 / 10  # on the bin edges, and 1.0
    g = (rng.random((64, 48)) < p).astype(np.uint8)
    assert close(um.ece(p, g), ece_reference(p, g, np.arange(11) / 10), 1e-12)
    p32 = p.astype(np.float32)
    assert close(um.ece(p32, g), ece_reference(p32, g, edges32), 1e-12)
    assert close(um.brier(p, g), brier_score_loss(g.ravel(), p.ravel()), 1e-12)
    assert close(um.brier(p32, g), brier_score_loss(g.ravel(), p32.astype(np.float64).ravel()), 1e-12)
    for m, a in fixture_masks():
        assert close(um.ece(a["prob"], a["gt"]), m["expected"]["ECE"]), m["name"]
        assert close(um.brier(a["prob"], a["gt"]), m["expected"]["brier"]), m["name"]


def test_mask_metrics_defaults():
    _, a = next(iter(fixture_masks()))
    got = um.mask_metrics(a["prob"], a["gt"])
    explicit = um.mask_metrics(a["prob"], a["gt"], um.binary_entropy(a["prob"]), pred=a["prob"] > 0.5)
    assert np.array_equal(list(got.values()), list(explicit.values()), equal_nan=True)
    assert math.isnan(got["avg_sample_std"])
    # gt given as 0/255 bytes or bool is the same mask.
    as255 = um.mask_metrics(a["prob"], a["gt"] * 255)
    asbool = um.mask_metrics(a["prob"].astype(np.float64), a["gt"].astype(bool))
    assert np.array_equal(list(as255.values()), list(got.values()), equal_nan=True)
    assert np.array_equal(list(asbool.values()), list(got.values()), equal_nan=True)
