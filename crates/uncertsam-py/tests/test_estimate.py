"""uncertsam.Sam / estimate against the `uncertsam predict` CLI on the embedded model: the
same float32 maps, bit for bit (the CLI writes them with --npy)."""

import subprocess
import threading
import time

import numpy as np
import pytest
from PIL import Image

import uncertsam
from uncertsam import metrics as um

BOX = (18.0, 14.0, 70.0, 60.0)


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    """A synthetic RGB image with a bright disc on textured ground, as a PNG."""
    rng = np.random.default_rng(0)
    h, w = 72, 96
    y, x = np.mgrid[0:h, 0:w]
    img = (rng.random((h, w, 3)) * 60 + 40).astype(np.uint8)
    disc = (y - 37) ** 2 + (x - 44) ** 2 < 22**2
    img[disc] = [200, 120, 60]
    path = tmp_path_factory.mktemp("img") / "disc.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(scope="module")
def sam():
    return uncertsam.Sam.embedded()


def run_cli(cli, image, out, estimator, samples, extra):
    subprocess.run(
        [str(cli), "predict", "--image", str(image), "--estimator", estimator, "--samples", str(samples),
         "--out", str(out), "--npy", *extra],
        check=True, capture_output=True,
    )
    load = lambda n: np.load(out / f"{n}.npy") if (out / f"{n}.npy").exists() else None
    return {n: load(n) for n in ("logits", "uncertainty", "std", "iou")}


def test_load_image_decodes_as_pillow(image_file):
    assert np.array_equal(uncertsam.load_image(image_file), np.asarray(Image.open(image_file).convert("RGB")))


@pytest.mark.parametrize(
    "estimator,samples",
    [("entropy", 1), ("laplace_probit", 10), ("mc_dropout", 4), ("tta_flip", 2), ("prompt_perturbation", 3),
     ("ensemble", 1), ("variance_net", 1)],
)
def test_estimate_equals_the_cli_bit_for_bit(sam, image_file, uncertsam_cli, tmp_path, estimator, samples):
    box = ",".join(str(v) for v in BOX)
    want = run_cli(uncertsam_cli, image_file, tmp_path, estimator, samples, ["--box", box])
    img = uncertsam.load_image(image_file)
    est = uncertsam.estimate(sam, img, BOX, estimator, samples=samples)
    assert est.logits.dtype == np.float32 and est.logits.shape == img.shape[:2]
    assert np.array_equal(est.logits, want["logits"])
    assert np.array_equal(est.uncertainty, want["uncertainty"])
    if want["std"] is None:
        assert est.std is None
    else:
        assert np.array_equal(est.std, want["std"])
    assert np.float32(est.iou) == want["iou"][0]
    # prob is the bench's f32 sigmoid in Rust (libm's expf); numpy's exp may differ by an ulp.
    assert np.allclose(est.prob, 1 / (1 + np.exp(-est.logits.astype(np.float64))), rtol=1e-6, atol=0)
    mask_png = np.asarray(Image.open(tmp_path / "mask.png"))
    assert np.array_equal(mask_png > 0, est.mask)
    # The CLI's maps score like any other through the metrics.
    row = um.mask_metrics(est.prob, est.mask, est.uncertainty, est.std, pred=est.mask)
    assert row["IoU"] > 0.999


def test_points_prompt_equals_the_cli(sam, image_file, uncertsam_cli, tmp_path):
    want = run_cli(uncertsam_cli, image_file, tmp_path, "mc_dropout", 3,
                   ["--point", "44,37,1", "--point", "5,5,0"])
    est = uncertsam.estimate(sam, uncertsam.load_image(image_file),
                             {"points": [(44, 37), (5, 5)], "labels": [1, 0]}, "mc_dropout", samples=3)
    assert np.array_equal(est.logits, want["logits"])
    assert np.array_equal(est.uncertainty, want["uncertainty"])
    assert np.array_equal(est.std, want["std"])


def test_predict_is_the_entropy_estimators_pass(sam, image_file):
    img = uncertsam.load_image(image_file)
    emb = sam.embed(img)
    assert emb.image_size == img.shape[:2]
    logits, iou = sam.predict(emb, box=BOX)
    est = uncertsam.estimate(sam, emb, BOX, "entropy")
    assert logits.shape == (1,) + img.shape[:2] and iou.shape == (1,)
    assert np.array_equal(logits[0], est.logits)
    assert np.float32(est.iou) == iou[0]
    multi, ious = sam.predict(emb, box=BOX, multimask=True)
    assert multi.shape == (3,) + img.shape[:2] and ious.shape == (3,)


def test_config_estimators_and_the_registry(sam, image_file):
    names = uncertsam.estimators()
    for n in ("entropy", "laplace_probit", "mc_dropout", "tta_flip", "variance_net"):
        assert n in names and "seed" in names[n]["options"]
    assert names["mc_dropout"]["options"]["samples"] == 10
    img = uncertsam.load_image(image_file)
    cfg = {"kind": "mc_dropout", "p": 0.1, "samples": 4, "sites": ["transformer_mlp", "hypernetwork"]}
    by_config = uncertsam.estimate(sam, img, BOX, cfg)
    by_name = uncertsam.estimate(sam, img, BOX, "mc_dropout", samples=4)
    assert np.array_equal(by_config.uncertainty, by_name.uncertainty)
    assert by_config.name == by_name.name


def test_random_models_of_other_families_run():
    img = np.zeros((40, 50, 3), np.uint8)
    img[10:30, 15:35] = 255
    for model in ("tiny", "sam2_hiera_t"):
        sam = uncertsam.Sam.random(model, seed=1)
        est = uncertsam.estimate(sam, img, (14, 9, 36, 31), "entropy")
        assert est.prob.shape == (40, 50) and np.isfinite(est.uncertainty).all()
    with pytest.raises(RuntimeError, match="ensemble"):
        uncertsam.estimate(uncertsam.Sam.random("tiny"), img, (14, 9, 36, 31), "ensemble")


def test_the_gil_is_released_during_metrics():
    rng = np.random.default_rng(0)
    prob = rng.random((1024, 1024)).astype(np.float32)
    gt = rng.random((1024, 1024)) < 0.5
    um.mask_metrics(prob, gt)  # warm
    start = time.perf_counter()
    um.mask_metrics(prob, gt)
    single = time.perf_counter() - start
    ticks = []
    worker = threading.Thread(target=lambda: [um.mask_metrics(prob, gt) for _ in range(3)])
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    gaps = np.diff(ticks)
    # With the GIL held, the main thread could not tick during a whole Rust call.
    assert len(ticks) > 10 and gaps.max() < 0.8 * single, (gaps.max(), single)
